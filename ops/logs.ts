// npm run logs -- --stack NAME [--stack-file PATH] [--colour C] [--process web] [--host H] [--since 10m] [-f]
//
// The app's logs, merged across its replicas, one prefix per container
// ("host/container | line" with several hosts), for one host or all. Without
// -f: every line since --since (default 10m), ordered by docker's timestamps;
// with -f the lines as they come, until interrupted. --process names the web
// process (the default) or one of the stack's `processes` (a worker, a scheduler).
import { spawn, spawnSync } from "child_process";
import { labelFilters } from "../engine/docker";
import { COLOURS, PROCESS_NAME_RE } from "../lib/config";
import { stackNames } from "../lib/naming";
import { everyHost, followStack, parseStackArgs, runCli } from "./cli";

/** docker logs --since: a duration (30s, 10m, 2h) or an RFC 3339 time. */
export function sinceProblem(v: string): string | undefined {
    if (/^[1-9][0-9]{0,5}[smh]$/.test(v) || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v)) return undefined;
    return `--since ${v}: must be a duration such as 30s, 10m or 2h, or a time such as 2026-12-03T10:00:00Z`;
}

/** One line of `docker logs --timestamps`: its time (sortable text) and the rest. */
export function splitTimestamp(line: string): { at: string; text: string } {
    const m = /^(\d{4}-\d{2}-\d{2}T[\d:.]+Z) (.*)$/.exec(line);
    return m ? { at: m[1], text: m[2] } : { at: "", text: line };
}

/** Lines of several containers in time order (stable for equal times), each with its prefix. */
export function mergeLogs(sources: { prefix: string; lines: string[] }[]): string[] {
    const all = sources.flatMap((s, si) => s.lines.filter(Boolean).map((l, li) => ({ ...splitTimestamp(l), prefix: s.prefix, si, li })));
    // Docker's RFC 3339 times have a varying number of fraction digits: compare them as numbers of ns.
    const ns = (at: string) => {
        const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(at);
        return m ? BigInt(Date.parse(`${m[1]}Z`)) * 1000000n + BigInt((m[2] ?? "").padEnd(9, "0").slice(0, 9)) : 0n;
    };
    all.sort((a, b) => (ns(a.at) < ns(b.at) ? -1 : ns(a.at) > ns(b.at) ? 1 : a.si - b.si || a.li - b.li));
    return all.map((x) => `${x.prefix} | ${x.text}`);
}

export async function main(given = process.argv.slice(2)): Promise<void> {
    const argv = given.map((a) => (a === "-f" ? "--follow" : a));
    const args = parseStackArgs(argv, { values: ["colour", "process", "host", "since"], flags: ["follow"] });
    const { file, project } = followStack(args.stack, args.stackFile);
    const names = stackNames(project, args.stack);
    const { colour, host: wanted } = args.values;
    if (colour !== undefined && !(COLOURS as readonly string[]).includes(colour)) throw new Error(`--colour ${colour} is not a colour (allowed: ${COLOURS.join(", ")})`);
    const proc = args.values.process ?? "web";
    if (proc !== "web" && !PROCESS_NAME_RE.test(proc)) throw new Error(`--process ${proc}: must be web or a process name of the stack's processes (a-z, 0-9)`);
    const since = args.values.since ?? "10m";
    const problem = sinceProblem(since);
    if (problem) throw new Error(problem);
    const all = everyHost(args.stack, file, names.namePrefix);
    const hosts = wanted === undefined ? all : all.filter((h) => h.name === wanted);
    if (hosts.length === 0) throw new Error(`--host ${wanted}: the stack has no such host (hosts: ${all.map((h) => h.name ?? "(one host)").join(", ")})`);

    const containers = hosts.flatMap((h) => {
        const filters = labelFilters(names.stackLabel, { colour, process: proc === "web" ? undefined : proc });
        const r = spawnSync("docker", ["ps", "-a", ...filters, "--format", "{{.Names}}"], { env: h.env, encoding: "utf8" });
        if (r.status !== 0) throw new Error(`could not list the containers${h.name ? ` of host ${h.name}` : ""}: ${(r.stderr || "").trim()}`);
        return r.stdout.split("\n").filter(Boolean).sort().map((c) => ({ host: h, name: c, prefix: hosts.length > 1 || all.length > 1 ? `${h.name}/${c}` : c }));
    });
    if (containers.length === 0) throw new Error(`no ${colour ? `${colour} ` : ""}${proc} container of stack ${args.stack}${wanted ? ` on host ${wanted}` : ""}${proc === "web" ? "" : ` (is ${proc} one of its processes?)`}`);
    const logArgs = (c: string) => ["logs", "--timestamps", "--since", since, ...(args.flags.has("follow") ? ["--follow"] : []), c];

    if (!args.flags.has("follow")) {
        const sources = containers.map((c) => {
            const r = spawnSync("docker", logArgs(c.name), { env: c.host.env, encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
            return { prefix: c.prefix, lines: `${r.stdout}\n${r.stderr}`.split("\n") };
        });
        for (const line of mergeLogs(sources)) process.stdout.write(`${line}\n`);
        return;
    }
    // -f: each container's lines as they come, prefixed; ends when every stream ends or on Ctrl-C.
    await Promise.all(
        containers.map(
            (c) =>
                new Promise<void>((resolve) => {
                    const child = spawn("docker", logArgs(c.name), { env: c.host.env, stdio: ["ignore", "pipe", "pipe"] });
                    let rest = "";
                    const onData = (d: Buffer) => {
                        const lines = (rest + d.toString()).split("\n");
                        rest = lines.pop() ?? "";
                        for (const l of lines) process.stdout.write(`${c.prefix} | ${splitTimestamp(l).text}\n`);
                    };
                    child.stdout.on("data", onData);
                    child.stderr.on("data", onData);
                    child.on("close", () => resolve());
                }),
        ),
    );
}

if (require.main === module) runCli("logs", main);
