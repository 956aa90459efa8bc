// gate: every replica of a colour must answer its health path with 2xx
// HEALTHY_THRESHOLD times in a row, GATE_INTERVAL seconds apart (a replica
// that answered but not healthy yet is retried sooner: engine/gate-rules.ts
// nextProbeAt), probed from inside the proxy's network,
// within GATE_TIMEOUT seconds of the newest replica's start
// (engine/gate-rules.ts says when it gives up). A replica not listening yet is
// watched inside the proxy, probed every 0.1 s, so its streak starts with its
// first answer. Nothing switches without it.
// Replicas that passed it before and have run since (same container, same
// start: engine/history-rules.ts isWarm) are re-gated with one answer each.
// The first round runs in the exec that reads that record: a warm re-gate,
// on every release's path just before the switch, is one exec.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_COLOR, SWITCHYARD_TARGETS (space-separated
//      container names), HEALTH_PATH, HEALTH_PORT, HEALTHY_THRESHOLD,
//      GATE_INTERVAL, GATE_TIMEOUT; optional SWITCHYARD_TARGET_ADDRESSES (the
//      replicas' fixed addresses, same order: probed without DNS), HEALTH_HOST
//      and HEALTH_PROTO (the Host and X-Forwarded-Proto every probe sends)
import { randomBytes } from "crypto";
import { GATED_PREFIX, MEASURED_START_PREFIX } from "../lib/routemarker";
import { Proxy } from "./docker";
import { historyLines, isWarm, Replica, withLine } from "./history-rules";
import { healthRequest } from "./inputs";
import { afterRound, applyProbe, gateDeadline, newestStart, PROBE_ROUND, readProbeRound, Standing, watchWindow } from "./gate-rules";
import { sleep, Step } from "./step";

/** The step's input, checked: each bad value named with what is allowed. */
export function gateInput(step: Step) {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_COLOR", "SWITCHYARD_TARGETS", "HEALTH_PORT", "HEALTHY_THRESHOLD", "GATE_INTERVAL", "GATE_TIMEOUT");
    const whole = (name: keyof typeof env, min: number, max = Infinity) => {
        const v = env[name];
        if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) step.fail(`${name} '${v}' must be a whole number from ${min}${max === Infinity ? "" : ` to ${max}`}`);
        return Number(v);
    };
    if (!/^[0-9]+(\.[0-9]+)?$/.test(env.GATE_INTERVAL) || Number(env.GATE_INTERVAL) <= 0) step.fail(`GATE_INTERVAL '${env.GATE_INTERVAL}' must be a number of seconds above 0`);
    const { path, host, proto } = healthRequest(step);
    const targets = env.SWITCHYARD_TARGETS.split(/\s+/).filter(Boolean);
    const addresses = (step.env.SWITCHYARD_TARGET_ADDRESSES ?? "").split(/\s+/).filter(Boolean);
    return {
        proxy: env.SWITCHYARD_PROXY,
        colour: env.SWITCHYARD_COLOR,
        targets: targets.map((name, i) => ({ name, address: addresses[i] ?? name })),
        path,
        port: whole("HEALTH_PORT", 1, 65535),
        threshold: whole("HEALTHY_THRESHOLD", 1),
        intervalS: Number(env.GATE_INTERVAL),
        timeoutS: whole("GATE_TIMEOUT", 1),
        // The request a real client would send: the app's host name, and HTTPS as seen from its load balancer.
        host,
        proto,
        sent: host ? ` with Host: ${host}` : "",
    };
}

export type GateInput = ReturnType<typeof gateInput>;

/** One probe round's arguments (PROBE_ROUND): a fresh boundary, the replicas probed once first, then the ones watched. */
function probeRound(input: GateInput, probed: GateInput["targets"], once: number, window: { tries: number; secs: number }): { boundary: string; args: string[] } {
    const boundary = randomBytes(8).toString("hex");
    const urls = probed.map((t) => `http://${t.address}:${input.port}${input.path}`);
    return { boundary, args: [boundary, input.host, input.proto, String(once), String(window.tries), String(window.secs), ...urls] };
}

/** A probe round that ran: its output, its boundary, and when it started and ended. */
interface Round {
    out: string;
    boundary: string;
    startMs: number;
    endMs: number;
}

async function runRound(proxy: Proxy, round: { boundary: string; args: string[] }, startMs: number): Promise<Round> {
    const out = (await proxy.exec("sh", "-c", PROBE_ROUND, "sh", ...round.args)).stdout;
    return { out, boundary: round.boundary, startMs, endMs: Date.now() };
}

/** Gates the colour's replicas (heal gates the ones it started the same way). */
export async function runGate(step: Step, input: GateInput): Promise<void> {
    const { colour } = input;
    const proxy = new Proxy(step.docker, input.proxy);
    await step.waitRunning(input.proxy, 30);
    const standing = new Map<string, Standing>(input.targets.map((t) => [t.name, { streak: 0, misses: 0, status: "no answer yet", body: "" }]));

    const nowMs = Date.now();
    const gated = `${GATED_PREFIX}${colour}`;
    // The first round probes every replica, watched (a new slot's app may still be starting):
    // its shape depends on nothing read, so it runs in the exec that reads the record. Its
    // watch window is the one the loop would give it: the deadline is at least an interval
    // (or the timeout, when shorter) away, so its upper bound, the timeout, gives the same.
    const first = probeRound(input, input.targets, 0, watchWindow(nowMs, [], nowMs + input.timeoutS * 1000, input.intervalS));
    // Side by side: the replicas' starts, and the record of those that passed before (with the first round).
    // A record that cannot be read is no record: the colour earns the whole streak (the stricter gate).
    const [inspected, read] = await Promise.all([
        step.docker.inspect(input.targets.map((t) => t.name)).catch((e: Error) => (step.say(`${e.message}; gating as a colour with no warm replica`), undefined)),
        proxy.readStatesThen([gated], "", PROBE_ROUND, ...first.args).catch((e: Error) => (step.say(`${e.message}; gating as a colour with no warm replica`), undefined)),
    ]);
    const gatedBefore = read?.states.get(gated) ?? "";
    let firstRound: Round | undefined = read && { out: read.then.stdout, boundary: first.boundary, startMs: nowMs, endMs: Date.now() };
    const replicas: Replica[] = (inspected?.found ?? []).map((c) => ({ id: c.Id, startedAt: c.State.StartedAt }));
    const startedMs = newestStart(replicas.map((r) => r.startedAt)) ?? nowMs;
    // Replicas that passed the gate and have run since need one answer each, not a new streak (a rollback to a warm colour).
    const warm = inspected?.missing.length === 0 && replicas.length === input.targets.length && isWarm(gatedBefore, replicas);
    const threshold = warm ? 1 : input.threshold;
    const readRecord = (): Promise<string | Error> => proxy.readState(gated).catch((e: Error) => e);
    const deadline = gateDeadline({ nowMs, startedMs, timeoutS: input.timeoutS, threshold, intervalS: input.intervalS });
    step.say(
        warm
            ? `gating ${colour}: ${input.targets.length} replica(s) that passed the gate and have run since: one healthy answer each on :${input.port}${input.path}${input.sent} (${Math.round((deadline - nowMs) / 1000)}s left)`
            : `gating ${colour}: ${input.targets.length} replica(s), ${threshold} consecutive healthy answers each on :${input.port}${input.path}${input.sent}, ` +
                  `timeout ${input.timeoutS}s from start (${Math.round((deadline - nowMs) / 1000)}s left)`,
    );
    // When each replica is due for its next probe, and whether it is watched
    // (not listening yet: engine/gate-rules.ts afterRound). Every replica is
    // watched at first: a new slot's app is still starting.
    const due = new Map<string, number>(input.targets.map((t) => [t.name, 0]));
    const watched = new Set<string>(input.targets.map((t) => t.name));
    // The record of warm replicas, read again for the one write after a cold gate passes: read
    // while the gate waits for its last round, so the write is the only exec after it. Read
    // afresh if a streak is lost after it (heal may add to the record meanwhile).
    let recordBefore: Promise<string | Error> | undefined;
    for (;;) {
        // Every replica short of its streak and due, in one exec (engine/gate-rules.ts PROBE_ROUND):
        // the ones with an answer probed once, then the ones not listening yet watched.
        // The first round ran with the record's read: every replica due and watched, as here.
        const roundStart = firstRound?.startMs ?? Date.now();
        const short = input.targets.filter((t) => standing.get(t.name)!.streak < threshold);
        const pending = short.filter((t) => due.get(t.name)! <= roundStart);
        const once = pending.filter((t) => !watched.has(t.name));
        const watch = pending.filter((t) => watched.has(t.name));
        // In PROBE_ROUND's order: the ones probed once first.
        const probed = [...once, ...watch];
        const window = watchWindow(roundStart, short.filter((t) => !pending.includes(t)).map((t) => due.get(t.name)!), deadline, input.intervalS);
        let passed = input.targets.length - short.length;
        const round = firstRound ?? (pending.length === 0 ? undefined : await runRound(proxy, probeRound(input, probed, once.length, window), roundStart));
        firstRound = undefined;
        const probes = round ? readProbeRound(round.out, round.boundary, probed.length) : [];
        const roundEnd = round?.endMs ?? Date.now();
        probed.forEach((t, i) => {
            const s = standing.get(t.name)!;
            const { standing: next, event } = applyProbe(s, probes[i], threshold);
            standing.set(t.name, next);
            const after = afterRound({ roundStartMs: roundStart, roundEndMs: roundEnd, standing: next, code: probes[i].code, watched: watched.has(t.name), intervalS: input.intervalS });
            due.set(t.name, after.dueMs);
            if (after.watch) watched.add(t.name);
            else watched.delete(t.name);
            if (event === "healthy") {
                step.say(`${t.name} healthy (${threshold}/${threshold})`);
                passed++;
            } else if (event === "reset") {
                step.say(`${t.name} answered ${probes[i].code || "no response"} after ${s.streak} healthy; streak reset`);
                recordBefore = undefined;
            }
        });
        if (passed === input.targets.length) {
            step.say(`gate passed: ${colour} is healthy on all ${input.targets.length} replica(s)`);
            // A warm re-gate measures nothing (its replicas started before the
            // gate that measured them) and adds nobody to the record.
            if (warm) return;
            // How long the colour took from its start to healthy, for the policy
            // that compares it with health.timeoutSeconds (npm run plan reads it).
            // A cold gate of a colour that has run a while measures nothing either.
            const took = Math.floor((Date.now() - startedMs) / 1000);
            const measured = took <= input.timeoutS ? ["w", `${MEASURED_START_PREFIX}${colour}`, String(took)] : [];
            // The record read again since the start (heal may have added to it), most often while the last round was awaited.
            const before = await (recordBefore ?? readRecord());
            // Not read, not written: a record of these replicas alone would drop the ones heal added. Their next gate is a cold one.
            if (before instanceof Error) {
                if (measured.length) await proxy.applyState(measured);
                return step.say(`${before.message}; these replicas are not recorded as warm, so their next gate is a full streak`);
            }
            // These replicas are warm from now on, added to the ones that passed before (heal gates only those it started).
            // One exec for both writes: the re-point waits for this step, and over ssh:// each docker call costs a connection.
            const record = replicas.reduce((content, r) => withLine(content, `${r.id} ${r.startedAt}`), before);
            const ops = [...measured, ...(historyLines(record).length > 0 ? ["w", gated, record] : [])];
            if (ops.length) await proxy.applyState(ops);
            return;
        }
        if (Date.now() >= deadline) {
            const lines = [`gate failed: colour ${colour} did not pass its health gate${input.sent} within ${input.timeoutS}s of its start; live traffic was not moved.`];
            for (const t of input.targets) {
                const s = standing.get(t.name)!;
                if (s.streak >= threshold) continue;
                lines.push(`  ${t.name}: last status ${s.status}; last body: ${s.body || "(empty)"}`, `  last log lines of ${t.name}:`);
                const logs = await step.docker.run(["logs", "--tail", "15", t.name]);
                const text = `${logs.stdout}${logs.stderr}`.replace(/\n+$/, "");
                if (text) lines.push(...text.split("\n").map((l) => `    | ${l}`));
            }
            step.failReport(lines.join("\n"));
        }
        // Every replica one answer short of its streak: the next round may pass the gate.
        if (!warm && input.targets.every((t) => standing.get(t.name)!.streak >= threshold - 1)) recordBefore ??= readRecord();
        // Until the next replica is due (probes run on their own cadence, not after the round's time).
        const next = Math.min(...input.targets.filter((t) => standing.get(t.name)!.streak < threshold).map((t) => due.get(t.name)!));
        await sleep(Math.max(0, Math.min(next, deadline) - Date.now()));
    }
}

if (require.main === module) void Step.run("gate", (step) => runGate(step, gateInput(step)));
