// The decisions of the processes step (engine/processes.ts), pure so each is
// unit-tested in milliseconds: what the step's input says, what each process
// container is doing, and whether the colour's processes passed their gate.
import { PROCESS_NAME_RE } from "../lib/defaults";
import type { ContainerInfo } from "./docker-reads";

export interface ProcessSpecLine {
    name: string;
    kind: "worker" | "scheduler";
    replicas: number;
    graceSeconds: number;
    /** Whether Docker runs a health check in it: the gate then waits for healthy. */
    health: boolean;
}

/** PROCESS_SPECS (components/processes.ts processSpecLines): one `name kind replicas grace health` per line; a bad line throws, naming it. */
export function parseSpecs(text: string): ProcessSpecLine[] {
    return text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((line) => {
            const [name, kind, replicas, grace, health, extra] = line.trim().split(/\s+/);
            const ok =
                PROCESS_NAME_RE.test(name ?? "") &&
                (kind === "worker" || kind === "scheduler") &&
                /^[1-9][0-9]?$/.test(replicas ?? "") &&
                /^[1-9][0-9]{0,3}$/.test(grace ?? "") &&
                (health === "0" || health === "1") &&
                extra === undefined &&
                !(kind === "scheduler" && replicas !== "1");
            if (!ok) throw new Error(`PROCESS_SPECS line '${line}' must be "name worker|scheduler replicas graceSeconds 0|1" (a scheduler has 1 replica)`);
            return { name, kind: kind as "worker" | "scheduler", replicas: Number(replicas), graceSeconds: Number(grace), health: health === "1" };
        });
}

/** One process container as `docker ps -a` shows it. */
export interface ProcessRow {
    name: string;
    process: string;
    colour: string;
    state: string;
    /** Its kind (label switchyard.process-kind): worker, scheduler; "" when unknown. */
    kind: string;
}

/** `docker ps -a --format '{{.Names}}\t{{.Label "switchyard.process"}}\t{{.Label "switchyard.colour"}}\t{{.State}}\t{{.Label "switchyard.process-kind"}}'` lines. */
export function parseRows(out: string): ProcessRow[] {
    return out
        .split("\n")
        .filter(Boolean)
        .map((line) => {
            const [name, process, colour, state, kind] = line.split("\t");
            return { name, process, colour, state, kind: kind ?? "" };
        });
}

/** What `docker inspect` says of one container at one moment. */
export interface Observation {
    name: string;
    status: string;
    restarts: number;
    /** Health status when the container has a check: starting, healthy, unhealthy; "" without one. */
    health: string;
}

/** What `docker inspect` says of each container, as the gate reads it. */
export function observationsOf(found: Pick<ContainerInfo, "Name" | "State" | "RestartCount">[]): Observation[] {
    return found.map((c) => ({ name: c.Name.replace(/^\//, ""), status: c.State.Status, restarts: c.RestartCount, health: c.State.Health?.Status ?? "" }));
}

export type GateVerdict = { kind: "pass" } | { kind: "wait"; why: string } | { kind: "fail"; container: string; why: string };

/**
 * The gate of a colour's process containers: each must be running, with no
 * restart since it was started (`restartsAtStart`), and healthy when it has a
 * check, continuously for `settleMs` (`runningSince`: when each was first seen
 * so). A container that exited or restarts fails at once: a worker whose
 * command cannot start never gets better by waiting. Past `deadline`, what is
 * still waiting fails.
 */
export function processGate(
    seen: Observation[],
    expected: string[],
    restartsAtStart: Record<string, number>,
    runningSince: Record<string, number>,
    now: number,
    settleMs: number,
    deadline: number,
): GateVerdict {
    let waiting: { container: string; why: string } | undefined;
    for (const name of expected) {
        const o = seen.find((x) => x.name === name);
        if (!o) return { kind: "fail", container: name, why: "is gone" };
        if (o.status === "exited" || o.status === "dead") return { kind: "fail", container: name, why: `exited (state ${o.status})` };
        if (o.status === "restarting" || o.restarts > (restartsAtStart[name] ?? 0)) return { kind: "fail", container: name, why: `restarts (${o.restarts - (restartsAtStart[name] ?? 0)} since it was started)` };
        if (o.health === "unhealthy") return { kind: "fail", container: name, why: "is unhealthy (its health command fails)" };
        const since = runningSince[name];
        const why =
            o.status !== "running" || since === undefined
                ? `${name} is ${o.status}`
                : o.health === "starting"
                  ? `${name}'s health check has not passed yet`
                  : now - since < settleMs
                    ? `${name} has run ${((now - since) / 1000).toFixed(1)}s of ${settleMs / 1000}s`
                    : undefined;
        if (why) waiting ??= { container: name, why };
    }
    if (waiting === undefined) return { kind: "pass" };
    if (now >= deadline) return { kind: "fail", container: waiting.container, why: `not settled by the deadline: ${waiting.why}` };
    return { kind: "wait", why: waiting.why };
}

/**
 * A scheduler's hand-over: which containers to stop before the target's one
 * starts. Every running container of that process type but the target's —
 * normally the other colour's one; two would be a fault this ends.
 */
export function handover(rows: ProcessRow[], process: string, target: string): { stop: string[]; start?: string } {
    const mine = rows.filter((r) => r.process === process);
    const targetRow = mine.find((r) => r.colour === target);
    const stop = mine.filter((r) => r.colour !== target && (r.state === "running" || r.state === "restarting")).map((r) => r.name);
    const start = targetRow && targetRow.state !== "running" ? targetRow.name : undefined;
    return { stop, start };
}

const up = (r: ProcessRow) => r.state === "running" || r.state === "restarting";

/**
 * What makes the processes follow the live route to `colour` when a step
 * moved it outside the regular order (a failed verify or bake switching back,
 * a bake applying a switch again): the other colour's schedulers stop before
 * `colour`'s start, so two never run; `colour`'s workers start before the
 * other's stop, so jobs never wait for a worker. Nothing is gated: each
 * container to start passed its gate when its colour last went live.
 */
export function follow(rows: ProcessRow[], colour: string): { stopSchedulers: string[]; startSchedulers: string[]; startWorkers: string[]; stopWorkers: string[] } {
    const scheduler = (r: ProcessRow) => r.kind === "scheduler";
    const mine = rows.filter((r) => r.colour === colour && !up(r));
    const others = rows.filter((r) => r.colour !== colour && up(r));
    return {
        stopSchedulers: others.filter(scheduler).map((r) => r.name),
        startSchedulers: mine.filter(scheduler).map((r) => r.name),
        startWorkers: mine.filter((r) => !scheduler(r)).map((r) => r.name),
        stopWorkers: others.filter((r) => !scheduler(r)).map((r) => r.name),
    };
}
