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
import { writeBenchResults } from "./results";
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
}

const FLOOR_RUNS = 3;

/** The floor's stack: bench/floor in a throwaway copy (this repository's node_modules, so the same SDK and plugins). */
async function floorStack(): Promise<E2EStack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-floor-"));
    for (const f of ["Pulumi.yaml", "index.ts"]) fs.copyFileSync(path.join(REPO, "bench", "floor", f), path.join(dir, f));
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
    const floor = await E2EStack.create("f", {}, { dir, name: "floor" });
    await floor.up("floor: first");
    return floor;
}

/** The floor: the median of FLOOR_RUNS no-op ups of the floor's stack, measured now (under the same load as the rows). */
async function floorSeconds(floor: E2EStack): Promise<{ median: number; runs: number[] }> {
    const runs: number[] = [];
    for (let i = 1; i <= FLOOR_RUNS; i++) {
        const r = await floor.up(`floor: no-op ${i}/${FLOOR_RUNS}`, { expectNoChanges: true });
        runs.push(Math.round(r.seconds * 100) / 100);
    }
    return { median: [...runs].sort((x, y) => x - y)[Math.floor(FLOOR_RUNS / 2)], runs };
}

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
    let floor = { median: 0, runs: [] as number[] };
    try {
        await stack.up("fresh");
        const floorOf = await floorStackReady;
        const load = startLoadProcess({ port: live, rate: RATE, durationMs: 30 * 60 * 1000 });
        await sleep(2000);
        // Side by side: the floor under the same load, just before the rows.
        floor = await floorSeconds(floorOf);
        const windows: { update: string; from: number; to: number; r: Awaited<ReturnType<E2EStack["up"]>> }[] = [];
        const step = async (update: string, change: () => Promise<void> | void) => {
            await change();
            const from = Date.now();
            const r = await stack.up(update);
            windows.push({ update, from, to: Date.now(), r });
            await sleep(1000);
        };
        const set = (patch: Record<string, unknown>) => stack.writeConfig({ ...stack.readConfig(), ...patch });
        const slots = () => stack.readConfig().slots as Record<string, { image: string }>;
        await step("no-op", () => {});
        await step("stage green (idle slot created and gated)", () => set({ slots: { ...slots(), green: { image: "switchyard/app:1.1.0" } }, standby: "keep" }));
        await step("switch to green, standby keep", () => set({ liveColor: "green" }));
        await step("rollback to blue, standby keep (instant)", () => set({ liveColor: "blue" }));
        await step("switch to green, standby retire", () => set({ liveColor: "green", standby: "retire" }));
        await step("one-step release: new image on blue + switch", () => set({ slots: { ...slots(), blue: { image: "switchyard/app:1.1.0" } }, liveColor: "blue" }));
        await step("rollback to green (re-created) + retire blue", () => set({ liveColor: "green" }));
        await step("no-op after the releases", () => {});
        const rep = await load.stop();
        for (const w of windows) {
            const during = report(rep.samples.filter((x) => rep.startedAt + x.at >= w.from && rep.startedAt + x.at < w.to));
            const c = w.r.changes;
            rows.push({
                update: w.update,
                seconds: Math.round(w.r.seconds * 10) / 10,
                changes: `+${c.create} ~${c.update} -${c.delete} ±${c.replace}`,
                changed: changed(c),
                requests: during.requests,
                failed: during.failed,
                p99: during.p99,
            });
        }
        const noop = rows[0].seconds;
        for (const r of rows) r.vsNoop = Math.round((r.seconds / noop) * 10) / 10;
        for (const r of rows) r.vsFloor = Math.round((r.seconds / floor.median) * 100) / 100;
    } finally {
        await stack.destroy();
        await (await floorStackReady.catch(() => undefined))?.destroy();
    }
    const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Docker ${docker("version", "--format", "{{.Server.Version}}")}`;
    const md = [
        `pulumi up benchmark — ${machine}; ${RATE} req/s on the live listener throughout (GET /version, GET and POST /visits; half keep-alive, half Connection: close), 2 replicas, drain 15 s, one run.`,
        "",
        `Floor: a no-op \`pulumi up\` of bench/floor (the same three plugins, 5 resources, no Switchyard) under the same load, just before the rows, median of ${FLOOR_RUNS}: ${floor.median} s (runs: ${floor.runs.join(", ")} s).`,
        "",
        "| update | wall time (s) | × floor | × no-op | resources (+ created ~ updated - deleted ± replaced) | requests during | failed | p99 (ms) |",
        "|---|---|---|---|---|---|---|---|",
        ...rows.map((r) => `| ${r.update} | ${r.seconds} | ${r.vsFloor} | ${r.vsNoop} | ${r.changes} | ${r.requests} | ${r.failed} | ${r.p99} |`),
        "",
    ].join("\n");
    say(`wrote ${writeBenchResults("up", { machine, rate: RATE, floor, rows }, rows, md).join(" and ")}`);
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
