// Workers and schedulers (issue 29): the config key, the pure decisions of the
// processes step (engine/process-rules.ts), and what the program declares
// for them under Pulumi's mocks.
import * as assert from "assert";
import { processSpecLines } from "../../components/processes";
import { follow, handover, observationsOf, parseRows, parseSpecs, processGate } from "../../engine/process-rules";
import { parseConfig } from "../../lib/config";
import { processHealToken } from "../../lib/heal";
import { describeProcesses } from "../../lib/release";
import { render } from "../../ops/status";
import { BOTH_RUNNING, get, labelsOf, runProgram, unwrapSecrets } from "./mocks";

const PROCS = {
    worker: { kind: "worker", command: ["node", "worker.js"], replicas: 2, stopGraceSeconds: 10 },
    clock: { kind: "scheduler", command: ["node", "clock.js"] },
};
const base = { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } }, postgres: { maxConnections: 200 } };
const raw = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
const parse = (c: Record<string, unknown>) => parseConfig(raw(c), new Set(), "test");
const problems = (c: Record<string, unknown>): string => {
    try {
        parse(c);
    } catch (e) {
        return (e as Error).message;
    }
    return "";
};

describe("process types: config", () => {
    it("takes workers and schedulers with their defaults", () => {
        const cfg = parse({ ...base, processes: PROCS });
        assert.deepStrictEqual(cfg.processes.worker, { kind: "worker", command: ["node", "worker.js"], replicas: 2, stopGraceSeconds: 10 });
        assert.deepStrictEqual(cfg.processes.clock, { kind: "scheduler", command: ["node", "clock.js"], stopGraceSeconds: 30 });
        assert.deepStrictEqual(parse(base).processes, {});
    });

    it("refuses a scheduler of two, a reserved or bad name, a shell command and an unknown kind, naming each", () => {
        assert.match(problems({ ...base, processes: { clock: { kind: "scheduler", command: ["node", "clock.js"], replicas: 2 } } }), /processes\.clock\.replicas.*must be 1 for a scheduler/);
        const msg = problems({
            ...base,
            processes: {
                app: { kind: "worker", command: ["x"] },
                "Bad-Name": { kind: "worker", command: ["x"] },
                sh: { kind: "worker", command: "node worker.js && rm -rf /" },
                cron: { kind: "cron", command: ["x"] },
            },
        });
        assert.match(msg, /processes.*app.*is a name of the stack's own containers/);
        assert.match(msg, /Bad-Name.*must be a process name/);
        assert.match(msg, /processes\.sh\.command.*exec form/);
        assert.match(msg, /processes\.cron\.kind = "cron": must be one of worker \| scheduler/);
    });

    it("counts the process containers in Postgres's connection budget", () => {
        assert.match(problems({ ...base, postgres: {}, processes: PROCS }), /\(1 host × 2 replicas \+ 3 process containers\) × 2 colours × 10 connections .* = 105/);
        assert.strictEqual(problems({ ...base, processes: PROCS, postgres: { maxConnections: 105 } }), "");
    });
});

describe("process types: the step's decisions", () => {
    it("reads its specs, and refuses a line it cannot trust, naming it", () => {
        const lines = processSpecLines({ worker: { kind: "worker", command: ["w"], replicas: 2, stopGraceSeconds: 10 }, clock: { kind: "scheduler", command: ["c"], healthCommand: ["h"] } });
        assert.strictEqual(lines, "clock scheduler 1 30 1\nworker worker 2 10 0");
        assert.deepStrictEqual(parseSpecs(lines)[1], { name: "worker", kind: "worker", replicas: 2, graceSeconds: 10, health: false });
        assert.throws(() => parseSpecs("clock scheduler 2 30 0"), /a scheduler has 1 replica/);
        assert.throws(() => parseSpecs("w; rm worker 1 30 0"), /PROCESS_SPECS line 'w; rm worker 1 30 0'/);
    });

    const o = (name: string, status: string, restarts = 0, health = "") => ({ name, status, restarts, health });
    it("gates: passes once every container ran the settle time without a restart, healthy when it has a check", () => {
        const names = ["w1", "w2"];
        const since = { w1: 1000, w2: 1500 };
        assert.deepStrictEqual(processGate([o("w1", "running"), o("w2", "running")], names, { w1: 0, w2: 0 }, since, 4000, 3000, 60000), { kind: "wait", why: "w2 has run 2.5s of 3s" });
        assert.deepStrictEqual(processGate([o("w1", "running"), o("w2", "running")], names, { w1: 0, w2: 0 }, since, 4500, 3000, 60000), { kind: "pass" });
        assert.deepStrictEqual(processGate([o("w1", "running", 0, "starting"), o("w2", "running")], names, {}, since, 9000, 3000, 60000).kind, "wait");
        assert.deepStrictEqual(processGate([o("w1", "running", 0, "healthy"), o("w2", "running")], names, {}, since, 9000, 3000, 60000).kind, "pass");
    });

    it("gates: fails at once on an exit, a restart or an unhealthy check; past the deadline, what still waits fails", () => {
        assert.deepStrictEqual(processGate([o("w1", "exited")], ["w1"], {}, {}, 0, 3000, 60000), { kind: "fail", container: "w1", why: "exited (state exited)" });
        assert.deepStrictEqual(processGate([o("w1", "running", 2)], ["w1"], { w1: 1 }, { w1: 0 }, 10, 3000, 60000), { kind: "fail", container: "w1", why: "restarts (1 since it was started)" });
        assert.strictEqual(processGate([o("w1", "restarting", 1)], ["w1"], { w1: 1 }, {}, 10, 3000, 60000).kind, "fail");
        assert.strictEqual(processGate([o("w1", "running", 0, "unhealthy")], ["w1"], {}, { w1: 0 }, 10, 3000, 60000).kind, "fail");
        assert.deepStrictEqual(processGate([o("w1", "running", 0, "starting")], ["w1"], {}, { w1: 0 }, 60000, 3000, 60000), { kind: "fail", container: "w1", why: "not settled by the deadline: w1's health check has not passed yet" });
        assert.deepStrictEqual(processGate([], ["w1"], {}, {}, 0, 3000, 60000), { kind: "fail", container: "w1", why: "is gone" });
    });

    it("hands a scheduler over: every other running one stops before the target's starts", () => {
        const rows = parseRows("p-clock-blue-1\tclock\tblue\trunning\np-clock-green-1\tclock\tgreen\texited\np-worker-blue-1\tworker\tblue\trunning\n");
        assert.deepStrictEqual(handover(rows, "clock", "green"), { stop: ["p-clock-blue-1"], start: "p-clock-green-1" });
        assert.deepStrictEqual(handover(rows, "clock", "blue"), { stop: [], start: undefined });
        // Two running (a fault): the target keeps running, the other stops.
        const two = parseRows("p-clock-blue-1\tclock\tblue\trunning\np-clock-green-1\tclock\tgreen\trunning\n");
        assert.deepStrictEqual(handover(two, "clock", "green"), { stop: ["p-clock-blue-1"], start: undefined });
    });

    it("after a failed bake or verify the processes follow the route back: the failed colour's scheduler stops before the old one starts, its workers stop", () => {
        // Mid-bake of green: green's workers and scheduler run, blue's workers still run, blue's scheduler was handed over.
        const rows = parseRows(
            ["p-clock-blue-1\tclock\tblue\texited\tscheduler", "p-clock-green-1\tclock\tgreen\trunning\tscheduler", "p-worker-blue-1\tworker\tblue\trunning\tworker", "p-worker-green-1\tworker\tgreen\trunning\tworker", "p-worker-green-2\tworker\tgreen\trestarting\tworker"].join("\n"),
        );
        assert.deepStrictEqual(follow(rows, "blue"), { stopSchedulers: ["p-clock-green-1"], startSchedulers: ["p-clock-blue-1"], startWorkers: [], stopWorkers: ["p-worker-green-1", "p-worker-green-2"] });
        // Applying the switch to green again (a retried bake): the reverse.
        const back = rows.map((r) => ({ ...r, state: r.colour === "green" ? "exited" : "running" }));
        assert.deepStrictEqual(follow(back, "green"), { stopSchedulers: ["p-clock-blue-1"], startSchedulers: ["p-clock-green-1"], startWorkers: ["p-worker-green-1", "p-worker-green-2"], stopWorkers: ["p-worker-blue-1"] });
        // Already following: nothing to do.
        assert.deepStrictEqual(follow(back, "blue"), { stopSchedulers: [], startSchedulers: [], startWorkers: [], stopWorkers: [] });
        assert.strictEqual(parseRows("a\tb\tblue\trunning\n")[0].kind, "", "a row without the kind label");
    });

    it("reads docker inspect's lines", () => {
        assert.deepStrictEqual(
            observationsOf([
                { Name: "/p-w-1", State: { Status: "running", StartedAt: "", Health: { Status: "healthy" } }, RestartCount: 0 },
                { Name: "/p-w-2", State: { Status: "exited", StartedAt: "" }, RestartCount: 3 },
            ]),
            [o("p-w-1", "running", 0, "healthy"), o("p-w-2", "exited", 3, "")],
        );
    });

    it("the heal token names the live colour's stopped process containers, only while it stays live", () => {
        const stopped = [
            { name: "p-worker-blue-2", colour: "blue" as const, finishedAt: "T2" },
            { name: "p-clock-blue-1", colour: "blue" as const, finishedAt: "T1" },
            { name: "p-worker-green-1", colour: "green" as const, finishedAt: "T0" },
        ];
        assert.strictEqual(processHealToken("blue", "blue", stopped), "p-clock-blue-1@T1 p-worker-blue-2@T2");
        assert.strictEqual(processHealToken("green", "blue", stopped), "", "a switch runs the step anyway");
        assert.strictEqual(processHealToken("blue", "blue", []), "");
    });

    it("names every process type and replica count per colour for plan and preview", () => {
        assert.strictEqual(describeProcesses(PROCS, ["blue", "green"]), "processes per colour (blue, green): clock scheduler ×1, worker worker ×2; the live colour's run, the other's are stopped");
    });
});

describe("process types: what the program declares (Pulumi mocks)", function () {
    this.timeout(30000);
    const host = BOTH_RUNNING;
    const config = {
        liveColor: "green",
        standby: "keep",
        slots: { blue: { image: "app:1.0.0" }, green: { image: "app:2.0.0", env: { FEATURE: "on" } } },
        postgres: { maxConnections: 200 },
        processes: PROCS,
    };

    it("each colour's process containers: its image and variables, their own command, created and not started, on the backend network only", async () => {
        const run = await runProgram({ config, host });
        const w = get(run, "release-processes-green-worker-2");
        assert.strictEqual(w.inputs.name, "switchyard-staging-worker-green-2");
        assert.deepStrictEqual(w.inputs.command, ["node", "worker.js"]);
        assert.strictEqual(w.inputs.start, false);
        assert.strictEqual(w.inputs.mustRun, false);
        assert.strictEqual(w.inputs.stopTimeout, 10);
        assert.strictEqual(w.inputs.networksAdvanced.length, 1, "no frontend network: nothing routes to a worker");
        const env = unwrapSecrets(w.inputs.envs) as string[];
        for (const want of ["FEATURE=on", "SWITCHYARD_COLOR=green", "SWITCHYARD_PROCESS=worker"]) assert.ok(env.includes(want), `${want} in ${env.join(" ")}`);
        assert.ok(env.some((e) => e.startsWith("DATABASE_URL=")));
        assert.deepStrictEqual(w.inputs.image, get(run, "release-app-green-1").inputs.image, "the same image id as the colour's web replicas");
        const labels = labelsOf(w);
        assert.deepStrictEqual([labels["switchyard.role"], labels["switchyard.process"], labels["switchyard.colour"], labels["switchyard.process-kind"]], ["process", "worker", "green", "worker"]);
        assert.strictEqual(get(run, "release-processes-blue-clock-1").inputs.name, "switchyard-staging-clock-blue-1");
        assert.ok(!run.resources.has("release-processes-blue-clock-2"), "a scheduler is one container");
    });

    it("the processes step runs before the re-point, after the gate and the dump; the settle step after verify, before retire", async () => {
        const run = await runProgram({ config, host });
        const start = get(run, "release-processes");
        const settle = get(run, "release-processes-settle");
        assert.strictEqual(start.inputs.environment.PROCESSES_PHASE, "start");
        assert.strictEqual(start.inputs.environment.PROCESS_SPECS, "clock scheduler 1 30 0\nworker worker 2 10 0");
        assert.strictEqual(settle.inputs.environment.PROCESSES_PHASE, "settle");
        assert.ok(start.deps.includes("release-backup-dump"), start.deps.join(" "));
        assert.ok(get(run, "release-repoint").deps.includes("release-processes"));
        assert.ok(settle.deps.includes("release-verify"));
        assert.ok(get(run, "release-retire").deps.includes("release-processes-settle"));
    });

    it("the live colour's process containers found stopped run the processes step again to start them; with none, a quiet up is a no-op", async () => {
        const down = { ...host, stoppedProcesses: [{ name: "switchyard-staging-worker-blue-2", colour: "blue" as const, finishedAt: "T2" }, { name: "switchyard-staging-worker-green-1", colour: "green" as const, finishedAt: "T1" }] };
        const stays = { ...config, liveColor: "blue" };
        const healed = get(await runProgram({ config: stays, host: down }), "release-processes");
        assert.strictEqual(healed.inputs.environment.PROCESS_HEAL, "switchyard-staging-worker-blue-2@T2", "only the live colour's: the standby's are stopped on purpose");
        assert.deepStrictEqual(healed.ignoreChanges, []);
        const quiet = get(await runProgram({ config: stays, host }), "release-processes");
        assert.strictEqual(quiet.inputs.environment.PROCESS_HEAL, undefined);
        assert.deepStrictEqual(quiet.ignoreChanges, ["environment.PROCESS_HEAL"]);
    });

    it("a stack without process types declares none of it", async () => {
        const run = await runProgram({ config: { ...config, processes: undefined }, host });
        assert.deepStrictEqual([...run.resources.keys()].filter((n) => n.includes("processes")), []);
        assert.deepStrictEqual(get(run, "release-repoint").deps.filter((d) => d.includes("processes")), []);
    });
});

describe("process types: npm run status", () => {
    it("shows each process type's running containers per colour, and exits 3 when the live colour's do not all run", () => {
        const row = (name: string, role: string, colour: string, state: string, proc?: string) => ({ name, role, colour, image: "app:1", state, status: state === "running" ? "Up 1 minute" : "Exited (137) 5 seconds ago", ...(proc ? { process: proc } : {}) });
        const rows = [
            row("p-app-blue-1", "app", "blue", "running"),
            row("p-worker-blue-1", "process", "blue", "running", "worker"),
            row("p-worker-blue-2", "process", "blue", "exited", "worker"),
            row("p-worker-green-1", "process", "green", "exited", "worker"),
            row("p-clock-blue-1", "process", "blue", "running", "clock"),
        ];
        const r = render("prod", rows, "blue", {}, undefined);
        assert.match(r.text, /  clock    1\/1 +-/);
        assert.match(r.text, /  worker   1\/2 +0\/1/);
        assert.match(r.text, /!! worker of blue \(live\) does not all run: p-worker-blue-2 Exited \(137\)/);
        assert.strictEqual(r.code, 3);
        rows[2] = row("p-worker-blue-2", "process", "blue", "running", "worker");
        assert.strictEqual(render("prod", rows, "blue", {}, undefined).code, 0);
    });
});
