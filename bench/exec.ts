// npm run bench:exec — what one Docker call of a release step costs, the
// docker CLI's way (a process that dials the engine and negotiates the API
// version, then execs or renders its template) and the Engine API's way
// (engine/dockerapi.ts execOnce, engine/docker-reads.ts), side by side in one
// run: the calls a step makes in the proxy (several state files read in one
// exec, a state file written from stdin) and the reads around them (a slot's
// replicas inspected, a colour's running containers listed: each CLI call as
// the steps made it before they went over the API), alternating which goes
// first in each round. The containers are the Debian base image the proxy's is
// built from, sleeping: an exec's cost is the engine's and runc's, not the
// image's. BENCH_ROUNDS rounds (default 40).
// Prints one line per kind with elapsed seconds, then JSON and a Markdown
// table, and writes bench/results/exec.json and bench/results/exec.md.
import { spawnSync } from "child_process";
import { Docker, dockerCli, dockerEngine, labelFilters, Proxy, slotLabels } from "../engine/docker";
import { ROUTE_MARKER } from "../lib/routemarker";
import { dockerAvailable } from "../test/scripts/fixture";
import { median, progress, writeBenchResults } from "./results";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const NAME = "switchyard-bench-exec";
/** Two replicas of one colour of a made-up stack, for the reads. */
const REPLICAS = [`${NAME}-app-1`, `${NAME}-app-2`];
const STACK = "switchyard-bench/exec";
const say = progress();
const sh = (...args: string[]) => spawnSync("docker", args, { encoding: "utf8" });

interface Row {
    call: string;
    via: "docker CLI" | "Engine API";
    medianMs: number;
    p90Ms: number;
}

const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)] ?? 0;

async function timed(f: () => Promise<unknown>): Promise<number> {
    const t = process.hrtime.bigint();
    await f();
    return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main() {
    const missing = dockerAvailable();
    if (missing) throw new Error(`this benchmark needs a Docker engine and the local images: ${missing}`);
    const containers = [NAME, ...REPLICAS];
    sh("rm", "-f", ...containers);
    for (const name of containers) {
        const labels = name === NAME ? [] : slotLabels(STACK, { colour: "blue" }).flatMap((l) => ["--label", l]);
        const started = sh("run", "-d", "--name", name, ...labels, "switchyard/debian-base:bookworm", "sleep", "infinity");
        if (started.status !== 0) throw new Error(`could not start the bench container ${name}: ${started.stderr}`);
    }
    try {
        const ways: [Row["via"], Docker][] = [
            ["docker CLI", dockerCli(process.env)],
            ["Engine API", dockerEngine(process.env)],
        ];
        // The reads: the CLI's as the steps made them before (one call, a template), the API's as they make them now.
        const read = (cli: () => Promise<unknown>, api: () => Promise<unknown>) => (p: Proxy) => (p.docker === ways[0][1] ? cli() : api());
        const [cli, api] = [ways[0][1], ways[1][1]];
        const calls: [string, (p: Proxy) => Promise<unknown>][] = [
            ["read 3 state files (one exec)", (p) => p.readStates([ROUTE_MARKER, "gated-blue", "went-live"])],
            ["write a state file from stdin (exec -i)", (p) => p.writeState("bench-record", "a b c\n".repeat(50))],
            ["inspect a slot's 2 replicas (id, start)", read(() => cli.run(["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", ...REPLICAS]), () => api.inspect(REPLICAS))],
            ["list a colour's running containers (ps)", read(() => cli.run(["ps", ...labelFilters(STACK, { colour: "blue" }), "--format", "{{.Names}}"]), () => api.list(slotLabels(STACK, { colour: "blue" })))],
        ];
        const times = new Map<string, number[]>();
        // The first call of each way warms what it caches (the image, the socket's path); it is not counted.
        for (const [, d] of ways) await new Proxy(d, NAME).readStates([ROUTE_MARKER]);
        for (let round = 0; round < ROUNDS; round++) {
            const order = round % 2 === 0 ? ways : [...ways].reverse();
            for (const [call, f] of calls)
                for (const [via, d] of order) {
                    const key = `${call}\t${via}`;
                    times.set(key, [...(times.get(key) ?? []), await timed(() => f(new Proxy(d, NAME)))]);
                }
        }
        const rows: Row[] = [...times].map(([key, xs]) => {
            const [call, via] = key.split("\t") as [string, Row["via"]];
            return { call, via, medianMs: Math.round(median(xs) * 10) / 10, p90Ms: Math.round(p90(xs) * 10) / 10 };
        });
        for (const r of rows) say(`${r.call} via ${r.via}: median ${r.medianMs} ms, p90 ${r.p90Ms} ms (${ROUNDS} calls)`);
        const ratio = (call: string) => {
            const [cli, api] = ["docker CLI", "Engine API"].map((v) => rows.find((r) => r.call === call && r.via === v)!.medianMs);
            return Math.round((cli / api) * 100) / 100;
        };
        const md = [
            `A step's Docker calls, the docker CLI against the Engine API — ${ROUNDS} rounds, alternating which goes first; one run.`,
            "",
            "| call | via | median (ms) | p90 (ms) | CLI ÷ API (medians) |",
            "|---|---|---|---|---|",
            ...rows.map((r) => `| ${r.call} | ${r.via} | ${r.medianMs} | ${r.p90Ms} | ${r.via === "Engine API" ? ratio(r.call) : ""} |`),
            "",
        ].join("\n");
        const files = writeBenchResults("exec", { rounds: ROUNDS, rows }, rows, md);
        say(`wrote ${files.join(", ")}`);
    } finally {
        sh("rm", "-f", ...containers);
    }
}

main().catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
});
