// npm run bench:switch — what a switch costs under constant load, three ways
// side by side in one run on one machine, with the same load:
//   marker   Switchyard: flip the route marker nginx reads per request (no reload)
//   reload   rewrite the colour into nginx.conf, nginx -t, rename, nginx -s reload
//   proxy-config  the same new config through Switchyard's proxy-config step,
//            which asks clients to close keep-alive connections before it reloads
//   recreate stop the old containers and start the new ones behind the same name
// Prints one line per step with elapsed seconds, then a Markdown table, and
// writes bench/results/switch.json and bench/results/switch.md.
import { execFile } from "child_process";
import * as os from "os";
import { docker, dockerAsync, dockerAvailable, runStepAsync, TestStack } from "../test/scripts/fixture";
import { CONF_DIR } from "../lib/routemarker";
import { progress, writeBenchResults } from "./results";
import { LoadReport, report, Sample, startLoad } from "../test/scripts/load";

type Method = "marker" | "reload" | "proxy-config" | "recreate";
const RATE = Number(process.env.BENCH_RATE ?? 250);
const SWITCHES = Number(process.env.BENCH_SWITCHES ?? 8);
const GAP_MS = 2000;
const say = progress();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SwitchTiming {
    to: string;
    begin: number;
    end: number;
}

interface MethodResult {
    method: Method;
    requests: number;
    failed: number;
    errors: Record<string, number>;
    before: { p50: number; p99: number };
    during: { requests: number; failed: number; p50: number; p99: number };
    after: { p50: number; p99: number };
    cutoverFirstMs: number;
    cutoverAllMs: number;
    switches: number;
}

function phase(samples: Sample[], from: number, to: number): LoadReport {
    return report(samples.filter((s) => s.at >= from && s.at < to));
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** From a switch's start: first answer from the new colour, and the last answer from the old one. */
function cutover(samples: Sample[], sw: SwitchTiming, next: number): { first: number; all: number } {
    const window = samples.filter((s) => s.at >= sw.begin && s.at < next && s.colour);
    const firstNew = window.find((s) => s.colour === sw.to);
    const lastOld = [...window].reverse().find((s) => s.colour !== sw.to);
    return {
        first: firstNew ? firstNew.at + firstNew.latencyMs - sw.begin : NaN,
        all: lastOld ? lastOld.at + lastOld.latencyMs - sw.begin : 0,
    };
}

async function run(method: Method): Promise<MethodResult> {
    const stack = new TestStack(`bench-${method}`);
    stack.up(5);
    const colours = ["blue", "green"] as const;
    if (method === "recreate") {
        stack.startSlot("blue", 2);
    } else {
        for (const c of colours) stack.startSlot(c, 2);
    }
    // Let every replica answer before the load starts.
    for (const c of method === "recreate" ? ["blue" as const] : colours) {
        const gate = await runStepAsync("gate", stack.gateEnv(c, stack.running(c)));
        if (gate.status !== 0) throw new Error(`gate ${c}: ${gate.stderr}`);
    }
    say(`${method}: stack up, load ${RATE} req/s, ${SWITCHES} switches ${GAP_MS} ms apart`);
    // Bounded: stopped 4 s after the last switch, and never later than 10 minutes.
    const load = startLoad({ port: stack.livePort, rate: RATE, durationMs: 600000 });
    const t0 = Date.now();
    await sleep(3000);
    const timings: SwitchTiming[] = [];
    let live: "blue" | "green" = "blue";
    for (let i = 0; i < SWITCHES; i++) {
        const to: "blue" | "green" = live === "blue" ? "green" : "blue";
        const begin = Date.now() - t0;
        await switchTo(method, stack, to, live);
        timings.push({ to, begin, end: Date.now() - t0 });
        live = to;
        await sleep(Math.max(0, GAP_MS - (Date.now() - t0 - begin)));
    }
    await sleep(4000);
    const rep = await load.stop();
    stack.down();
    const firstSwitch = timings[0].begin;
    const lastSwitch = timings[timings.length - 1].end + 1000;
    const during = phase(rep.samples, firstSwitch, lastSwitch);
    const cut = timings.map((t, i) => cutover(rep.samples, t, i + 1 < timings.length ? timings[i + 1].begin : Infinity)).filter((c) => !Number.isNaN(c.first));
    const result: MethodResult = {
        method,
        requests: rep.requests,
        failed: rep.failed,
        errors: rep.errors,
        before: pick(phase(rep.samples, 0, firstSwitch)),
        during: { requests: during.requests, failed: during.failed, ...pick(during) },
        after: pick(phase(rep.samples, lastSwitch, Infinity)),
        cutoverFirstMs: median(cut.map((c) => c.first)),
        cutoverAllMs: median(cut.map((c) => c.all)),
        switches: timings.length,
    };
    say(`${method}: ${result.requests} requests, ${result.failed} failed ${JSON.stringify(result.errors)}, cut-over ${result.cutoverFirstMs}/${result.cutoverAllMs} ms`);
    return result;
}

function pick(r: LoadReport): { p50: number; p99: number } {
    return { p50: r.p50, p99: r.p99 };
}

/** docker with `input` on its stdin, without blocking the event loop (the load runs in it). */
function dockerWithInput(input: string, ...args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
        const child = execFile("docker", args, (err, _out, stderr) => (err ? reject(new Error(`docker ${args[0]}: ${stderr || err.message}`)) : resolve()));
        child.stdin?.end(input);
    });
}

/** The proxy's config with the colour written in, instead of read from the route marker. */
function colourConfig(stack: TestStack, to: "blue" | "green"): string {
    return stack.nginxConfig(5).replace(/set \$switchyard_colour blue;\n(\s+)if \(-f [^)]+\) \{\n\s+set \$switchyard_colour green;\n\s+\}/, `set $switchyard_colour ${to};`);
}

async function switchTo(method: Method, stack: TestStack, to: "blue" | "green", from: "blue" | "green"): Promise<void> {
    if (method === "marker") {
        const r = await runStepAsync("repoint", stack.env({ SWITCHYARD_COLOR: to, STANDBY: "keep" }));
        if (r.status !== 0) throw new Error(r.stderr);
    } else if (method === "reload") {
        // The common alternative: the colour written into the config, then a reload.
        await dockerWithInput(colourConfig(stack, to), "exec", "-i", stack.proxy, "sh", "-c", 'cat > "$1" && nginx -t -q -c "$1" && mv -f "$1" "$2" && nginx -s reload -c "$2"', "sh", `${CONF_DIR}/.bench.conf`, `${CONF_DIR}/nginx.conf`);
    } else if (method === "proxy-config") {
        // The same config change through the step every proxy config change takes.
        const r = await runStepAsync("proxy-config", stack.env(), colourConfig(stack, to));
        if (r.status !== 0) throw new Error(r.stderr);
    } else {
        // Naive recreate: the same name keeps the traffic; the old containers
        // stop (gracefully) and go, then the new ones start under that name.
        for (const name of stack.running(from)) await dockerAsync("stop", "-t", "10", name);
        for (const name of stack.running(from)) await dockerAsync("rm", "-f", name);
        const stopped = await dockerAsync("ps", "-aq", "--filter", `label=switchyard.colour=${from}`, "--filter", `label=switchyard.stack=${stack.stackLabel}`);
        for (const id of stopped.split("\n").filter(Boolean)) await dockerAsync("rm", "-f", id);
        await stack.startSlotAsync(to, 2, { alias: "blue" });
    }
}

const LABELS: Record<Method, string> = {
    marker: "Switchyard (marker, no reload)",
    reload: "rewrite + nginx reload",
    "proxy-config": "rewrite + Switchyard's proxy-config (close window, reload)",
    recreate: "naive recreate",
};

function markdown(results: MethodResult[], machine: string): string {
    const row = (label: string, f: (r: MethodResult) => string | number) => `| ${label} | ${results.map(f).join(" | ")} |`;
    return [
        `Switch benchmark — ${machine}; ${RATE} req/s (half keep-alive, half Connection: close, 30% POST), ${SWITCHES} switches per method, one run.`,
        "",
        `| | ${results.map((r) => LABELS[r.method]).join(" | ")} |`,
        `|---|${results.map(() => "---").join("|")}|`,
        row("requests", (r) => r.requests),
        row("failed (socket errors + non-2xx)", (r) => r.failed),
        row("failures by kind", (r) => (Object.keys(r.errors).length ? Object.entries(r.errors).map(([k, v]) => `${k}: ${v}`).join(", ") : "none")),
        row("p50 / p99 before (ms)", (r) => `${r.before.p50} / ${r.before.p99}`),
        row("p50 / p99 during switches (ms)", (r) => `${r.during.p50} / ${r.during.p99}`),
        row("p50 / p99 after (ms)", (r) => `${r.after.p50} / ${r.after.p99}`),
        row("cut-over to first answer from new colour (median ms)", (r) => (Number.isNaN(r.cutoverFirstMs) ? "never, within the switch" : r.cutoverFirstMs)),
        row("cut-over to 100% new colour (median ms)", (r) => r.cutoverAllMs),
        "",
    ].join("\n");
}

async function main() {
    const missing = dockerAvailable();
    if (missing) {
        console.error(`bench: needs a Docker engine and the local images: ${missing}`);
        process.exit(1);
    }
    const methods = (process.env.BENCH_METHODS ?? "marker,reload,proxy-config,recreate").split(",") as Method[];
    const results: MethodResult[] = [];
    for (const m of methods) results.push(await run(m));
    const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Docker ${docker("version", "--format", "{{.Server.Version}}")}, ${docker("run", "--rm", "switchyard/nginx:local", "sh", "-c", "nginx -v 2>&1")}`;
    const md = markdown(results, machine);
    say(`wrote ${writeBenchResults("switch", { machine, rate: RATE, switches: SWITCHES, results }, results, md).join(" and ")}`);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
