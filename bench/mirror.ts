// npm run bench:mirror — what the proxy's record files and the metrics' start
// records cost a request, measured side by side in one run on one proxy:
//   off      no record files (a stack with no bake, no canary, no metrics);
//   files    the record files (a stack with a bake or a canary: one more
//            access_log write per request);
//   metrics  the files and a start record per request (a mirror subrequest,
//            nginx/render.ts renderInFlight).
// The same live colour under BENCH_RATE req/s (default 400) for BENCH_PHASE
// seconds (default 20) per phase, BENCH_ROUNDS rounds (default 3) of the three
// in turn (a reload between phases, not measured). Per phase: the proxy's CPU
// (its cgroup's usage) per request, and the clients' p50 and p99.
// Prints one line per phase with elapsed seconds, then a Markdown table of
// each variant's medians over the rounds and its ratio to off, and writes
// bench/results/mirror.json and bench/results/mirror.md.
import { docker, runStep, TestStack } from "../test/scripts/fixture";
import { startLoadProcess } from "../test/scripts/load";
import { liveBlueStack, median, progress, writeBenchResults } from "./results";

const RATE = Number(process.env.BENCH_RATE ?? 400);
const PHASE_SECONDS = Number(process.env.BENCH_PHASE ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Seconds of load before a phase is measured: the load process starts, keep-alive connections open. */
const WARM_SECONDS = 3;
const say = progress();

const VARIANTS = {
    off: { metrics: false, records: false },
    files: { metrics: false, records: true },
    metrics: { metrics: true, records: true },
} as const;
type Variant = keyof typeof VARIANTS;

interface Phase {
    variant: Variant;
    round: number;
    requests: number;
    failed: number;
    cpuUsPerRequest: number;
    p50: number;
    p99: number;
}

/** The proxy container's CPU time so far (µs), from its own cgroup: v2's cpu.stat, else v1's cpuacct.usage (ns). */
function proxyCpuUs(stack: TestStack): number {
    const out = docker("exec", stack.proxy, "sh", "-c", "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || echo v1 $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage)");
    const v2 = /^usage_usec (\d+)$/m.exec(out);
    if (v2) return Number(v2[1]);
    const v1 = /^v1 (\d+)$/m.exec(out);
    if (v1) return Number(v1[1]) / 1000;
    throw new Error(`the proxy's cgroup has no CPU usage to read (cpu.stat, cpuacct.usage): ${out}`);
}

async function measure(stack: TestStack, variant: Variant, round: number): Promise<Phase> {
    const r = runStep("proxy-config", stack.env(), stack.nginxConfig(5, false, false, { ...VARIANTS[variant] }));
    if (r.status !== 0) throw new Error(`proxy-config (${variant}) failed: ${r.stderr}`);
    const load = startLoadProcess({ port: stack.livePort, rate: RATE, durationMs: (WARM_SECONDS + PHASE_SECONDS + 2) * 1000, postShare: 0, readShare: 0 });
    await new Promise((res) => setTimeout(res, WARM_SECONDS * 1000));
    const cpu0 = proxyCpuUs(stack);
    const from = Date.now();
    await new Promise((res) => setTimeout(res, PHASE_SECONDS * 1000));
    const cpu1 = proxyCpuUs(stack);
    const to = Date.now();
    const rep = await load.stop();
    const inPhase = rep.samples.filter((s) => rep.startedAt + s.at >= from && rep.startedAt + s.at < to);
    const lat = inPhase.filter((s) => !s.error).map((s) => s.latencyMs).sort((a, b) => a - b);
    const pct = (q: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : 0);
    const phase: Phase = {
        variant,
        round,
        requests: inPhase.length,
        failed: inPhase.filter((s) => s.error || s.status >= 500).length,
        cpuUsPerRequest: Math.round((cpu1 - cpu0) / Math.max(1, inPhase.length)),
        p50: pct(0.5),
        p99: pct(0.99),
    };
    say(`round ${round} ${variant}: ${phase.requests} requests, ${phase.failed} failed; proxy CPU ${phase.cpuUsPerRequest} µs a request; p50 ${phase.p50} ms, p99 ${phase.p99} ms`);
    return phase;
}

async function main() {
    // The metrics sidecar runs throughout: it makes the records' directory, and reads (and removes) the files.
    const stack = liveBlueStack("bench-mirror");
    const phases: Phase[] = [];
    try {
        say(`stack up: blue live; ${ROUNDS} rounds of off, files, metrics at ${RATE} req/s, ${PHASE_SECONDS}s each`);
        const order = Object.keys(VARIANTS) as Variant[];
        for (let round = 1; round <= ROUNDS; round++) {
            // Each round starts with another variant: none always meets the machine's first or last moments.
            for (let i = 0; i < order.length; i++) phases.push(await measure(stack, order[(i + round - 1) % order.length], round));
        }
        const rows = order.map((variant) => {
            const ps = phases.filter((p) => p.variant === variant);
            return { variant, requests: ps.reduce((n, p) => n + p.requests, 0), failed: ps.reduce((n, p) => n + p.failed, 0), cpuUsPerRequest: median(ps.map((p) => p.cpuUsPerRequest)), p50: median(ps.map((p) => p.p50)), p99: median(ps.map((p) => p.p99)) };
        });
        const off = rows[0];
        const ratio = (a: number, b: number) => Number((a / Math.max(1, b)).toFixed(2));
        const summary = Object.fromEntries(rows.map((r) => [r.variant, { ...r, cpuOverOff: ratio(r.cpuUsPerRequest, off.cpuUsPerRequest), p99OverOff: ratio(r.p99, off.p99) }]));
        const md = [
            `What the record files and the start records cost the proxy, side by side — ${RATE} req/s, ${PHASE_SECONDS} s a phase, ${ROUNDS} rounds, one run (${new Date().toISOString().slice(0, 10)}); medians over the rounds.`,
            "",
            "| variant | requests | failed | proxy CPU per request (µs) | × off | p50 (ms) | p99 (ms) | p99 × off |",
            "|---|---|---|---|---|---|---|---|",
            ...rows.map((r) => `| ${r.variant} | ${r.requests} | ${r.failed} | ${r.cpuUsPerRequest} | ${ratio(r.cpuUsPerRequest, off.cpuUsPerRequest)} | ${r.p50} | ${r.p99} | ${ratio(r.p99, off.p99)} |`),
            "",
            "off: no record files; files: a stack with a bake or a canary; metrics: the files and a start record per request (the mirror).",
            "",
        ].join("\n");
        const files = writeBenchResults("mirror", { summary, phases }, summary, md);
        say(`wrote ${files.join(" and ")}`);
    } finally {
        stack.down();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
