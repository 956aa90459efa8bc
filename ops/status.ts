// npm run status -- --stack NAME [--stack-file PATH]
//
// What runs right now, read from the Docker host and the running nginx — not
// from Pulumi state: per colour its image, healthy/total replicas and whether
// it is live, idle (staged or standby) or retired; the data services and the
// proxy; and, loudly, any drift between the proxy's route and `liveColor` in
// the stack's config (for example after a manual edit or an interrupted update),
// and a colour that runs fewer replicas than it has (with why each one stopped).
// With several hosts, each host's proxy too: its route and a canary's weight.
// Exit: 0 consistent, 2 drift, 3 a colour below its replica count, 1 the host
// could not be read or the live colour has no healthy replica.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Colour, COLOURS } from "../lib/config";
import { stopReason } from "../lib/heal";
import { dockerHostProbe, readHostStates, StoppedReplica } from "../lib/host";
import { readStackFile } from "../lib/stackfile";
import { dataHost, everyHost, followStack, hostEnv, parseStackArgs, runCli } from "./cli";

export interface ContainerRow {
    name: string;
    role: string;
    colour: string;
    image: string;
    state: string;
    status: string;
    /** With several hosts, the host it runs on when that is not the canary (the data services on data.host). */
    host?: string;
    /** A process type's name (role "process"). */
    process?: string;
}

export interface StackConfigView {
    liveColor?: string;
    standby?: string;
    file: string;
    /** Data services given as URLs (postgresUrl, redisUrl): no container of them is expected. */
    managed?: string[];
}

export function readStackConfigView(file: string): StackConfigView | undefined {
    if (!fs.existsSync(file)) return undefined;
    const { raw } = readStackFile(file);
    const managed = (["postgres", "redis"] as const).filter((svc) => raw[`switchyard:${svc}Url`] !== undefined);
    return { file, liveColor: raw["switchyard:liveColor"], standby: raw["switchyard:standby"] ?? "retire", managed };
}

export function containers(stackLabel: string, env: NodeJS.ProcessEnv = process.env): ContainerRow[] {
    const out = execFileSync(
        "docker",
        ["ps", "-a", "--filter", `label=switchyard.stack=${stackLabel}`, "--format",
            '{{.Names}}\t{{.Label "switchyard.role"}}\t{{.Label "switchyard.colour"}}\t{{.Label "switchyard.image"}}\t{{.State}}\t{{.Status}}\t{{.Label "switchyard.process"}}'],
        { encoding: "utf8", env },
    );
    return out.split("\n").filter(Boolean).map((line) => {
        const [name, role, colour, image, state, status, proc] = line.split("\t");
        return { name, role, colour, image, state, status, ...(proc ? { process: proc } : {}) };
    });
}

const healthy = (c: ContainerRow) => c.state === "running" && !/\((unhealthy|health: starting)\)/.test(c.status);
/**
 * Running, its Docker health check not run yet: the first run comes one
 * interval after the start, and a release the gate passed can end sooner.
 * Not healthy yet, and not unhealthy either.
 */
const starting = (c: ContainerRow) => c.state === "running" && /\(health: starting\)/.test(c.status);

/** What one host's proxy says, for a stack of several hosts. */
export interface HostLine {
    name: string;
    route?: Colour;
    canary?: { colour: Colour; weight: number };
}

/** What the host read says besides the route: stopped replicas, a restore running, the canary; with several hosts, each host's proxy. */
export interface StatusFacts {
    stopped?: StoppedReplica[];
    restoring?: string;
    canary?: { colour: Colour; weight: number };
    canaryFigures?: string[];
    hosts?: HostLine[];
}

/** The status report and its exit code; pure, so tests can check the wording. */
export function render(
    stack: string,
    rows: ContainerRow[],
    route: Colour | undefined,
    retired: Partial<Record<Colour, string>>,
    cfg: StackConfigView | undefined,
    facts: StatusFacts = {},
): { text: string; code: number } {
    const { stopped = [], restoring, canary, canaryFigures = [] } = facts;
    const lines: string[] = [`Switchyard status: stack ${stack}`];
    let code = 0;
    if (route === undefined) {
        lines.push("  proxy: not running — nothing routes traffic; run pulumi up");
        code = 1;
    } else {
        lines.push(`  proxy routes live traffic to: ${route} (read from the running nginx's route marker${facts.hosts ? ` on ${facts.hosts[0].name}, the first host` : ""})`);
        if (canary) lines.push(`  canary: ${canary.colour} gets ${canary.weight} % of new traffic (clients keep the colour they got); the release's canary step judges it`);
        if (canaryFigures.length) lines.push(`  last canary: ${canaryFigures[0]}`, ...canaryFigures.slice(1).map((l) => `    ${l}`));
    }
    if (facts.hosts) lines.push(...hostLines(facts.hosts));
    if (restoring) lines.push(`  RESTORE RUNNING: ${restoring}; updates are refused until it ends (after a restore that died: npm run restore -- --stack ${stack} --unlock)`);
    lines.push("", "  colour  state      replicas healthy  image");
    for (const colour of COLOURS) {
        const slot = rows.filter((r) => r.role === "app" && r.colour === colour);
        const running = slot.filter((r) => r.state === "running");
        const image = [...new Set(slot.map((r) => r.image))].join(", ") || retired[colour] || "-";
        const state =
            route === colour ? "live" : running.length > 0 ? (cfg?.standby === "keep" ? "standby" : "staged") : retired[colour] ? "retired" : "empty";
        const startingNow = slot.filter(starting).length;
        lines.push(`  ${colour.padEnd(6)}  ${state.padEnd(9)}  ${`${slot.filter(healthy).length}/${slot.length}${startingNow ? ` (${startingNow} starting)` : ""}`.padEnd(16)}  ${image}`);
        if (route === colour && slot.filter(healthy).length === 0 && startingNow > 0 && startingNow === running.length) {
            lines.push(`  .. ${colour} is live; Docker has not run its replicas' health checks yet (the first runs one interval after the start; Switchyard's gate probed them before they went live)`);
        } else if (route === colour && slot.filter(healthy).length === 0) {
            lines.push(`  !! ${colour} is live but no replica is healthy`);
            code = Math.max(code, 1);
        }
        // A colour that serves (live, staged, standby) with replicas that do not run: capacity lost until the next up heals it.
        const down = slot.filter((r) => r.state !== "running");
        if ((state === "live" || state === "staged" || state === "standby") && down.length > 0) {
            lines.push(`  !! ${colour} runs ${running.length} of ${slot.length} replicas; the next pulumi up starts the others again (gated):`);
            for (const r of down) {
                const why = stopped.find((x) => x.name === r.name);
                lines.push(`       ${r.name}: ${why ? stopReason(why) : r.status}`);
            }
            if (code === 0) code = 3;
        }
    }
    const procLines = processLines(rows, route);
    lines.push(...procLines);
    // A live colour's worker or scheduler that does not run: jobs wait (or do not fire) until the next release step starts it.
    if (procLines.some((l) => l.startsWith("  !! ")) && code === 0) code = 3;
    lines.push("");
    for (const role of ["postgres", "redis", "proxy"]) {
        const c = rows.find((r) => r.role === role);
        const managed = cfg?.managed?.includes(role);
        lines.push(`  ${role.padEnd(8)}  ${c ? `${c.state}, ${c.status}${c.host ? ` (on host ${c.host})` : ""}` : managed ? `managed elsewhere (${role}Url)` : "missing"}`);
    }
    if (!cfg) {
        lines.push("", `  (no stack config found: liveColor not compared)`);
    } else if (route !== undefined && cfg.liveColor !== route) {
        lines.push(
            "",
            `  DRIFT: ${path.basename(cfg.file)} says liveColor=${cfg.liveColor}, but the proxy routes to ${route}.`,
            `  Either an update was interrupted or someone edited the proxy by hand. Run \`pulumi up\` to bring`,
            `  traffic to ${cfg.liveColor} through the gate, or \`pulumi config set liveColor ${route}\` to accept what runs.`,
        );
        code = 2;
    }
    return { text: lines.join("\n"), code };
}

export function main(argv = process.argv.slice(2)) {
    const { stack, stackFile } = parseStackArgs(argv);
    const { names, file } = followStack(stack, stackFile);
    // With several hosts every proxy is read (at once): each one's route and canary weight.
    const configured = everyHost(stack, file, names.namePrefix);
    const states = configured.length > 1 ? readHostStates(names.stackLabel, names.proxyContainer, configured.map((h) => h.env)) : undefined;
    const host = states?.[0] ?? dockerHostProbe(names.stackLabel, names.proxyContainer);
    const hosts = states?.map((st, i) => ({ name: configured[i].name ?? `host ${i + 1}`, route: st.route, canary: st.canary }));
    const cfg = readStackConfigView(file);
    let rows = containers(names.stackLabel);
    // With several hosts this reads the canary; Postgres and Redis are read where they run.
    const raw = fs.existsSync(file) ? readStackFile(file).raw : {};
    const data = dataHost(raw);
    if (data && data.dockerHost !== process.env.DOCKER_HOST) {
        const isData = (r: ContainerRow) => r.role === "postgres" || r.role === "redis";
        const there = containers(names.stackLabel, hostEnv(stack, file, names.namePrefix, data)).filter(isData);
        rows = [...rows.filter((r) => !isData(r)), ...there.map((r) => ({ ...r, host: data.name }))];
    }
    const { text, code } = render(stack, rows, host.route, host.retired, cfg, { ...host, hosts });
    console.log(text);
    process.exit(code);
}

if (require.main === module) runCli("status", main);

/** One line per process type: how many of each colour's containers run; the live colour's should, the other's not. */
export function processLines(rows: ContainerRow[], route: Colour | undefined): string[] {
    const procs = [...new Set(rows.filter((r) => r.role === "process" && r.process).map((r) => r.process!))].sort();
    if (procs.length === 0) return [];
    const lines = ["", "  process  " + COLOURS.map((c) => `${c} running`.padEnd(16)).join("")];
    for (const p of procs) {
        const cells = COLOURS.map((c) => {
            const mine = rows.filter((r) => r.process === p && r.colour === c);
            return (mine.length ? `${mine.filter((r) => r.state === "running").length}/${mine.length}` : "-").padEnd(16);
        });
        lines.push(`  ${p.padEnd(7)}  ${cells.join("")}`.trimEnd());
        const live = rows.filter((r) => r.process === p && r.colour === route);
        if (route && live.some((r) => r.state !== "running")) lines.push(`  !! ${p} of ${route} (live) does not all run: ${live.filter((r) => r.state !== "running").map((r) => `${r.name} ${r.status}`).join(", ")}`);
    }
    return lines;
}

/**
 * Each host's proxy, in release order: its route and canary weight. Hosts that
 * route differently are a release stopped between hosts (recover, then up).
 */
export function hostLines(hosts: HostLine[]): string[] {
    const lines = ["  each host's proxy:"];
    for (const h of hosts) {
        const canary = h.canary ? `; canary: ${h.canary.colour} gets ${h.canary.weight} % of new traffic` : "";
        lines.push(`    ${h.name.padEnd(10)} ${h.route ? `routes to ${h.route}` : "proxy not running"}${canary}`);
    }
    const routes = new Set(hosts.map((h) => h.route ?? "none"));
    if (routes.size > 1) lines.push("  !! the hosts route to different colours: a release stopped between hosts; npm run recover, then pulumi up, finishes it");
    return lines;
}
