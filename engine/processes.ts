// processes: the colour going live's workers and schedulers ride the release.
//
//   PROCESSES_PHASE=start (before the re-point, after the expand migration):
//     the target colour's workers start and are gated (running, no restart,
//     healthy when they have a check, for SETTLE seconds) beside the old
//     colour's, which keep taking jobs; then each scheduler is handed over:
//     the old one is stopped (SIGTERM and its grace) before the new one
//     starts, so two never run, and the gap is printed. A worker or scheduler
//     that fails its gate is stopped again (the old scheduler started again)
//     and the step fails: nothing was switched.
//   PROCESSES_PHASE=settle (after verify and the bake, before retire): every
//     process container of the other colour gets SIGTERM and its stop grace
//     to finish the job in hand, all at once; under standby keep they stay
//     stopped (old code takes no new job), under retire Pulumi removes them.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR (the target),
//      PROCESSES_PHASE, PROCESS_SPECS (components/processes.ts), and
//      TARGET_PROCESS_IDS (only its change matters: re-created containers run the step again);
//      PROCESS_HEAL (start only, optional): the live colour's process containers the
//      program found stopped, which runs the step again to start them (lib/heal.ts)
import { Proxy, trimmed } from "./docker";
import { follow, handover, observationsOf, parseRows, parseSpecs, processGate, ProcessRow, ProcessSpecLine } from "./process-rules";
import { sleep, Step } from "./step";

/** How long a started process must run without a restart before it counts as up. */
const SETTLE_MS = 3000;
/** The longest a process's health check may take to pass. */
const GATE_LIMIT_MS = 60000;

async function rows(step: Step, stack: string): Promise<ProcessRow[]> {
    const r = await step.docker.run([
        "ps", "-a", "--filter", `label=switchyard.stack=${stack}`, "--filter", "label=switchyard.role=process",
        "--format", '{{.Names}}\t{{.Label "switchyard.process"}}\t{{.Label "switchyard.colour"}}\t{{.State}}\t{{.Label "switchyard.process-kind"}}',
    ]);
    if (r.status !== 0) step.fail(`could not list the process containers: ${trimmed(r.stderr)}`);
    return parseRows(r.stdout);
}

async function lastLines(step: Step, container: string): Promise<string> {
    const logs = await step.docker.run(["logs", "--tail", "15", container]);
    return `${logs.stdout}${logs.stderr}`.replace(/\n+$/, "").split("\n").map((l) => `  | ${l}`).join("\n");
}

/** Starts `names` and waits until each has settled; the failure names the container and shows its last lines. */
async function startAndGate(step: Step, names: string[], label: string): Promise<{ ok: true } | { ok: false; report: string }> {
    // A read that failed sees nothing this time (the gate waits, and fails at its deadline).
    const inspect = async () => observationsOf((await step.docker.inspect(names).catch(() => undefined))?.found ?? []);
    const restartsAtStart = Object.fromEntries((await inspect()).map((o) => [o.name, o.restarts]));
    const r = await step.docker.run(["start", ...names]);
    if (r.status !== 0) return { ok: false, report: `${label}: docker start failed: ${trimmed(r.stderr)}` };
    const runningSince: Record<string, number> = {};
    const deadline = Date.now() + GATE_LIMIT_MS;
    let said = "";
    for (;;) {
        const seen = await inspect();
        const now = Date.now();
        for (const o of seen) if (o.status === "running") runningSince[o.name] ??= now;
        const verdict = processGate(seen, names, restartsAtStart, runningSince, now, SETTLE_MS, deadline);
        if (verdict.kind === "pass") return { ok: true };
        if (verdict.kind === "fail") return { ok: false, report: `${label}: ${verdict.container} ${verdict.why}; its last lines:\n${await lastLines(step, verdict.container)}` };
        if (verdict.why.split(" ")[0] !== said) step.say(`${label}: waiting, ${verdict.why}`);
        said = verdict.why.split(" ")[0];
        await sleep(500);
    }
}

/** docker stop -t grace for each, all at once; one line per container with how long it took. */
async function stopAll(step: Step, names: string[], graceOf: (name: string) => number): Promise<void> {
    await Promise.all(
        names.map(async (name) => {
            const t0 = Date.now();
            const r = await step.docker.run(["stop", "-t", String(graceOf(name)), name]);
            if (r.status !== 0) step.fail(`could not stop ${name}: ${trimmed(r.stderr)}`);
            step.say(`stopped ${name} in ${((Date.now() - t0) / 1000).toFixed(1)}s (SIGTERM, then up to ${graceOf(name)}s to finish its job)`);
        }),
    );
}

async function start(step: Step, stack: string, target: string, specs: ProcessSpecLine[]): Promise<void> {
    const all = await rows(step, stack);
    const mine = (s: ProcessSpecLine) => all.filter((r) => r.process === s.name && r.colour === target);
    for (const s of specs) {
        if (mine(s).length !== s.replicas) step.fail(`${s.name}: ${s.replicas} container(s) of ${target} expected, found ${mine(s).length}; run pulumi up again`);
    }
    const workers = specs.filter((s) => s.kind === "worker").flatMap((s) => mine(s).filter((r) => r.state !== "running").map((r) => r.name));
    if (workers.length > 0) {
        step.say(`starting ${workers.length} worker container(s) of ${target}: ${workers.join(" ")}`);
        const gate = await startAndGate(step, workers, `workers of ${target}`);
        if (!gate.ok) {
            process.stderr.write(`${gate.report}\n`);
            await step.docker.run(["stop", "-t", "5", ...workers]);
            step.fail(`the workers of ${target} did not start (above); they were stopped again and live traffic was not switched`);
        }
        step.say(`workers of ${target} up: ${workers.join(" ")}`);
    } else if (specs.some((s) => s.kind === "worker")) {
        step.say(`the workers of ${target} already run`);
    }
    for (const s of specs.filter((x) => x.kind === "scheduler")) {
        const plan = handover(all, s.name, target);
        if (!plan.start && plan.stop.length === 0) {
            step.say(`scheduler ${s.name}: ${target}'s already runs, alone`);
            continue;
        }
        const t0 = Date.now();
        if (plan.stop.length > 0) await stopAll(step, plan.stop, () => s.graceSeconds);
        const stopped = Date.now();
        if (!plan.start) {
            step.say(`scheduler ${s.name}: ${target}'s runs; stopped the other (${plan.stop.join(" ")})`);
            continue;
        }
        const r = await step.docker.run(["start", plan.start]);
        const started = Date.now();
        if (r.status === 0) {
            step.say(`scheduler ${s.name}: handed over to ${plan.start}; none ran for ${((started - t0) / 1000).toFixed(1)}s (old one stopped in ${((stopped - t0) / 1000).toFixed(1)}s)`);
        }
        const gate = r.status === 0 ? await startAndGate(step, [plan.start], `scheduler ${s.name} of ${target}`) : { ok: false as const, report: `scheduler ${s.name}: docker start failed: ${trimmed(r.stderr)}` };
        if (!gate.ok) {
            process.stderr.write(`${gate.report}\n`);
            await step.docker.run(["stop", "-t", "5", plan.start]);
            // The one that ran before takes over again: a failed release leaves the schedule as it was.
            if (plan.stop.length > 0) await step.docker.run(["start", plan.stop[0]]);
            step.fail(`scheduler ${s.name} of ${target} did not start (above); ${plan.stop[0] ?? "no scheduler"} runs again and live traffic was not switched`);
        }
    }
}

async function settle(step: Step, stack: string, proxyName: string, target: string, specs: ProcessSpecLine[]): Promise<void> {
    const route = await new Proxy(step.docker, proxyName).route().catch((e: Error) => step.fail(`refusing to stop the processes of the other colour: which colour is live is unknown (${e.message})`));
    if (route !== target) step.fail(`refusing to stop the processes of the other colour: the live listener routes to ${route}, not ${target}`);
    const others = (await rows(step, stack)).filter((r) => r.colour !== target && (r.state === "running" || r.state === "restarting"));
    if (others.length === 0) {
        step.say(`no process of the other colour runs`);
        return;
    }
    const grace = (name: string) => specs.find((s) => s.name === others.find((o) => o.name === name)?.process)?.graceSeconds ?? 30;
    step.say(`stopping ${others.length} process container(s) of the old colour: ${others.map((o) => o.name).join(" ")}`);
    await stopAll(step, others.map((o) => o.name), grace);
    step.say(`only ${target}'s processes run`);
}

/**
 * The processes follow the live route to `colour` (engine/process-rules.ts
 * follow): called by verify and bake when they switch back after a failure,
 * and when they apply a switch again. Each container stops with its own
 * grace (the stop timeout it was created with). Nothing is said or done when
 * the stack has no process type. Never fails the step: what could not be
 * done is said, and the caller's own verdict stands.
 */
export async function processesFollow(step: Step, stack: string, colour: string): Promise<void> {
    let all: ProcessRow[];
    try {
        all = await rows(step, stack);
    } catch (e) {
        step.say(`could not list the process containers to follow ${colour}: ${(e as Error).message}`);
        return;
    }
    if (all.length === 0) return;
    const plan = follow(all, colour);
    const t0 = Date.now();
    const run = async (verb: "stop" | "start", names: string[]) => {
        if (names.length === 0) return;
        const r = await step.docker.run([verb, ...names]);
        if (r.status !== 0) step.say(`could not ${verb} ${names.join(" ")}: ${trimmed(r.stderr)}`);
    };
    await Promise.all([
        (async () => {
            await run("stop", plan.stopSchedulers);
            await run("start", plan.startSchedulers);
            if (plan.stopSchedulers.length + plan.startSchedulers.length > 0) {
                step.say(`processes follow ${colour}: scheduler ${plan.startSchedulers.join(" ") || "(none to start)"} runs, ${plan.stopSchedulers.join(" ") || "none"} stopped; none ran for ${((Date.now() - t0) / 1000).toFixed(1)}s`);
            }
        })(),
        (async () => {
            await run("start", plan.startWorkers);
            await run("stop", plan.stopWorkers);
            if (plan.startWorkers.length + plan.stopWorkers.length > 0) {
                step.say(`processes follow ${colour}: started ${plan.startWorkers.join(" ") || "none"}, stopped ${plan.stopWorkers.join(" ") || "none"} (SIGTERM, then each one's stop grace)`);
            }
        })(),
    ]);
}

async function processes(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_STACK", "SWITCHYARD_COLOR", "PROCESSES_PHASE", "PROCESS_SPECS");
    const target = env.SWITCHYARD_COLOR;
    if (target !== "blue" && target !== "green") step.fail(`SWITCHYARD_COLOR '${target}' is not a colour (allowed: blue, green)`);
    let specs: ProcessSpecLine[] = [];
    try {
        specs = parseSpecs(env.PROCESS_SPECS);
    } catch (e) {
        step.fail((e as Error).message);
    }
    await step.refuseDuringRestore(new Proxy(step.docker, env.SWITCHYARD_PROXY));
    for (const stopped of (step.env.PROCESS_HEAL ?? "").split(" ").filter(Boolean)) step.say(`found stopped: ${stopped.replace("@", " (since ")})`);
    if (env.PROCESSES_PHASE === "start") await start(step, env.SWITCHYARD_STACK, target, specs);
    else if (env.PROCESSES_PHASE === "settle") await settle(step, env.SWITCHYARD_STACK, env.SWITCHYARD_PROXY, target, specs);
    else step.fail(`PROCESSES_PHASE '${env.PROCESSES_PHASE}' is not a phase (allowed: start, settle)`);
}

if (require.main === module) void Step.run("processes", processes);
