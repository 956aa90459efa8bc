// npm run bench:up — what each kind of `pulumi up` costs, measured side by side
// in one run on a throwaway stack (own file backend, fresh 127.0.0.1 ports)
// under constant load on the live listener: wall time, resources changed,
// requests served and failed during the update, and the time as a multiple of
// two things measured in the same run: the floor (a no-op up of bench/floor,
// a bare program with the same three plugins and a handful of resources, so
// what any such Pulumi program pays) and Switchyard's own no-op update.
// Needs the provider plugins (npm run setup).
// Prints one line per update with elapsed seconds, then JSON and a Markdown
// table, and writes bench/results/up.json and bench/results/up.md.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO } from "../test/scripts/fixture";
import { docker } from "../test/scripts/fixture";
import { median, writeBenchResults } from "./results";
import { stepTimes } from "./steps";
import { report, startLoadProcess } from "../test/scripts/load";
import { baseConfig, changed, E2EStack, freePort, missingParts, say, sleep } from "../test/e2e/harness";

const RATE = Number(process.env.BENCH_RATE ?? 100);

interface Row {
    update: string;
    seconds: number;
    changes: string;
    changed: number;
    requests: number;
    failed: number;
    p99: number;
    vsNoop?: number;
    vsFloor?: number;
    /** The goal for this kind of update (issue 30), beside the figure. */
    target?: string;
    /** A part of the update above it (a step, or the rest), not an update of its own. */
    step?: boolean;
}

/** Issue 30's targets, as ratios to the floor measured in the same run (the instant rollback in seconds). */
function targetOf(update: string): string {
    if (update.includes("first request served")) return "≤ 1 s";
    if (update.startsWith("no-op")) return "≤ 1.3× floor";
    if (update.startsWith("one-step")) return "≤ 3× floor";
    if (/^(switch|rollback)/.test(update) && update.includes("keep")) return "≤ 1.8× floor";
    if (update.startsWith("rollback --now")) return "≤ 1.8× floor";
    return "";
}

const FLOOR_RUNS = 3;

/** The floor's stack: bench/floor in a throwaway copy (this repository's node_modules, so the same SDK and plugins). */
async function floorStack(): Promise<E2EStack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-floor-"));
    for (const f of ["Pulumi.yaml", "index.js"]) fs.copyFileSync(path.join(REPO, "bench", "floor", f), path.join(dir, f));
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
    const floor = await E2EStack.create("f", {}, { dir, name: "floor" });
    await floor.up("floor: first");
    return floor;
}

/** `count` no-op ups of the floor's stack, measured now (under the same load as the rows), in seconds. */
async function floorRuns(floor: E2EStack, when: string, count = FLOOR_RUNS): Promise<number[]> {
    const runs: number[] = [];
    for (let i = 1; i <= count; i++) {
        const r = await floor.up(`floor ${when}: no-op ${i}/${count}`, { expectNoChanges: true });
        runs.push(Math.round(r.seconds * 100) / 100);
    }
    return runs;
}

/** The one-step release and the rollback that re-creates a colour, each this many times: single runs of them moved by 0.5 s. */
const RELEASE_RUNS = 3;

async function main() {
    const missing = missingParts();
    if (missing.length) {
        console.error(`bench:up needs the provider plugins and a Docker engine; missing: ${missing.join(", ")}`);
        process.exit(1);
    }
    const live = await freePort();
    const stack = await E2EStack.create("b", baseConfig(live, await freePort()));
    const floorStackReady = floorStack();
    const rows: Row[] = [];
    const outputs: { update: string; output: string }[] = [];
    let floor = { median: 0, runs: [] as number[], before: [] as number[], between: [] as number[], after: [] as number[] };
    let instant = { startedAt: 0, endedAt: 0 };
    try {
        await stack.up("fresh");
        const floorOf = await floorStackReady;
        const load = startLoadProcess({ port: live, rate: RATE, durationMs: 30 * 60 * 1000 });
        await sleep(2000);
        // Side by side: the floor under the same load, just before the rows, between the re-creating
        // releases and just after the rows (the machine drifts over the run's three minutes: one side
        // alone moved the ratios by a fifth, and a release's minute can be slower than both ends).
        const before = await floorRuns(floorOf, "before");
        const windows: { update: string; from: number; to: number; r: Awaited<ReturnType<E2EStack["up"]>> }[] = [];
        const step = async (update: string, change: () => Promise<void> | void) => {
            await change();
            const from = Date.now();
            const r = await stack.up(update);
            windows.push({ update, from, to: Date.now(), r });
            outputs.push({ update, output: r.output });
            await sleep(1000);
        };
        const set = (patch: Record<string, unknown>) => stack.writeConfig({ ...stack.readConfig(), ...patch });
        const slots = () => stack.readConfig().slots as Record<string, { image: string }>;
        await step("no-op", () => {});
        await step("stage green (idle slot created and gated)", () => set({ slots: { ...slots(), green: { image: "switchyard/app:1.1.0" } }, standby: "keep" }));
        await step("switch to green, standby keep", () => set({ liveColor: "green" }));
        await step("rollback to blue, standby keep", () => set({ liveColor: "blue" }));
        await step("switch to green again, standby keep", () => set({ liveColor: "green" }));
        // The instant rollback: traffic first (no Pulumi), then the reconciling up, as npm run rollback -- --now runs them.
        const now = await stack.rollbackNow();
        if (now.status !== 0) throw new Error(`rollback --now failed:\n${now.out}`);
        instant = now;
        await step("rollback --now to blue: the reconciling up", () => set({ liveColor: "blue" }));
        await step("switch to green, standby retire", () => set({ liveColor: "green", standby: "retire" }));
        // Each time a colour is created anew, gated, switched to, and the other retired;
        // a floor run beside each pair, so the releases' minutes have their own floor too.
        const between: number[] = [];
        for (let i = 0; i < RELEASE_RUNS; i++) {
            await step("one-step release: new image on blue + switch", () => set({ slots: { ...slots(), blue: { image: "switchyard/app:1.1.0" } }, liveColor: "blue" }));
            await step("rollback to green (re-created) + retire blue", () => set({ liveColor: "green" }));
            between.push(...(await floorRuns(floorOf, `between the releases (${i + 1}/${RELEASE_RUNS})`, 1)));
        }
        await step("no-op after the releases", () => {});
        const after = await floorRuns(floorOf, "after");
        const runs = [...before, ...between, ...after];
        floor = { median: Math.round(median(runs) * 100) / 100, runs, before, between, after };
        const rep = await load.stop();
        // From the command's start to the end of the first request the old colour served.
        const firstBlue = Math.min(...rep.samples.filter((x) => rep.startedAt + x.at >= instant.startedAt && x.colour === "blue").map((x) => rep.startedAt + x.at + x.latencyMs));
        const during = report(rep.samples.filter((x) => rep.startedAt + x.at >= instant.startedAt && rep.startedAt + x.at < instant.endedAt));
        const instantRow: Row = { update: "rollback --now to blue: first request served by blue", seconds: Math.round((firstBlue - instant.startedAt) / 10) / 100, changes: "none (the route marker)", changed: 0, requests: during.requests, failed: during.failed, p99: during.p99 };
        const samplesOf = (w: (typeof windows)[number]) => rep.samples.filter((x) => rep.startedAt + x.at >= w.from && rep.startedAt + x.at < w.to);
        for (const update of [...new Set(windows.map((w) => w.update))]) {
            // An update run several times: its median run, with every run's time, and the requests and failures of all of them.
            const all = windows.filter((w) => w.update === update);
            const w = [...all].sort((x, y) => x.r.seconds - y.r.seconds)[Math.floor(all.length / 2)];
            // The instant move's own row, just before its reconciling up's.
            if (update.startsWith("rollback --now")) rows.push(instantRow);
            const during = report(all.flatMap(samplesOf));
            const c = w.r.changes;
            rows.push({
                update: all.length > 1 ? `${update} (median of ${all.length}: ${all.map((x) => Math.round(x.r.seconds * 10) / 10).join(", ")} s)` : update,
                seconds: Math.round(w.r.seconds * 10) / 10,
                changes: `+${c.create} ~${c.update} -${c.delete} ±${c.replace}`,
                changed: changed(c),
                requests: during.requests,
                failed: during.failed,
                p99: during.p99,
            });
            // Where a rollback's (and the one-step release's) time goes: one row per step, and what the steps leave (Pulumi and the program).
            if (update.startsWith("rollback") || update.startsWith("one-step")) {
                const steps = stepTimes(w.r.output);
                for (const t of steps) rows.push({ update: `· ${t.step}${t.runs > 1 ? ` (${t.runs} runs)` : ""}`, seconds: t.seconds, changes: "", changed: 0, requests: 0, failed: 0, p99: 0, step: true });
                const rest = w.r.seconds - steps.reduce((a, t) => a + t.seconds, 0);
                rows.push({ update: "· Pulumi and the program (the rest)", seconds: Math.round(rest * 10) / 10, changes: "", changed: 0, requests: 0, failed: 0, p99: 0, step: true });
            }
        }
        const noop = rows.find((r) => r.update === "no-op")!.seconds;
        for (const r of rows.filter((x) => !x.step)) {
            r.vsNoop = Math.round((r.seconds / noop) * 10) / 10;
            r.vsFloor = Math.round((r.seconds / floor.median) * 100) / 100;
            r.target = targetOf(r.update);
        }
    } finally {
        await stack.destroy();
        await (await floorStackReady.catch(() => undefined))?.destroy();
    }
    const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Docker ${docker("version", "--format", "{{.Server.Version}}")}`;
    const md = [
        `pulumi up benchmark — ${machine}; ${RATE} req/s on the live listener throughout (GET /version, GET and POST /visits; half keep-alive, half Connection: close), 2 replicas, drain 15 s, one run (the one-step release and the re-creating rollback ${RELEASE_RUNS} times each).`,
        "",
        `Floor: a no-op \`pulumi up\` of bench/floor (the same three plugins, 5 resources, no Switchyard) under the same load, ${FLOOR_RUNS} times just before the rows, once after each pair of re-creating releases and ${FLOOR_RUNS} times just after the rows, median of the ${floor.runs.length}: ${floor.median} s (before: ${floor.before.join(", ")} s; between: ${floor.between.join(", ")} s; after: ${floor.after.join(", ")} s).`,
        "",
        "Rows starting with · are the parts of the rollback or release above them (its median run): each release step from its start to its last line (its own output), and the rest, which is Pulumi's and the program's time.",
        "",
        "| update | wall time (s) | × floor | target | × no-op | resources (+ created ~ updated - deleted ± replaced) | requests during | failed | p99 (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
        ...rows.map((r) =>
            r.step ? `| ${r.update} | ${r.seconds} | | | | | | | |` : `| ${r.update} | ${r.seconds} | ${r.vsFloor} | ${r.target || "—"} | ${r.vsNoop} | ${r.changes} | ${r.requests} | ${r.failed} | ${r.p99} |`,
        ),
        "",
    ].join("\n");
    // Each up's own output, stamped with seconds since it began: where a row's time went, line by line.
    const log = path.join(REPO, "bench/results/up-outputs.log");
    const written = writeBenchResults("up", { machine, rate: RATE, floor, rows }, rows, md);
    fs.writeFileSync(log, outputs.map((o) => `===== ${o.update}\n${o.output}`).join("\n"));
    say(`wrote ${[...written, path.relative(REPO, log)].join(", ")}`);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
