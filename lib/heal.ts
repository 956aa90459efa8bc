// `pulumi up` heals what it declared: a replica that exists but does not run
// (stopped from outside, crashed out of its restarts, killed for memory) is
// started again and gated by the slot's heal step. Pulumi does not read
// containers on an update, so the host probe (lib/host.ts) is what notices,
// and these pure functions decide what the step does and whether it runs.
import { Colour } from "./config";
import { StoppedReplica } from "./host";

/** Why a replica does not run, in words an operator acts on. */
export function stopReason(r: Pick<StoppedReplica, "state" | "exitCode" | "oomKilled">): string {
    if (r.oomKilled) return `killed for memory (OOM, exit ${r.exitCode}): raise limits.app.memoryMb`;
    if (r.state === "created") return "created but never started (an interrupted update)";
    if (r.state === "restarting") return `restarting in a loop (last exit ${r.exitCode})`;
    if (r.state === "paused") return "paused from outside";
    if (r.exitCode === 137) return "killed (SIGKILL, exit 137: stopped from outside, such as docker kill)";
    if (r.exitCode === 143) return "stopped (SIGTERM, exit 143: stopped from outside, such as docker stop)";
    if (r.exitCode === 0) return "exited 0 (the app stopped by itself)";
    return `crashed (exit ${r.exitCode})`;
}

export interface HealPlan {
    /** The replicas to start, by name, in replica order. */
    replicas: StoppedReplica[];
    /**
     * What the step's state remembers: each replica with when it stopped. A
     * new stop is a new token, so the step runs again; the same one is not.
     */
    token: string;
}

/**
 * The replicas of `colour` to heal: stopped ones still created from the image
 * the colour runs (one with another image is about to be re-created by this
 * update anyway). A restarting replica is Docker's to restart; a paused one an
 * operator's to resume.
 */
export function healPlan(colour: Colour, image: string, stopped: StoppedReplica[]): HealPlan {
    const replicas = stopped
        .filter((r) => r.colour === colour && r.image === image && (r.state === "exited" || r.state === "created"))
        .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    return { replicas, token: replicas.map((r) => `${r.name}@${r.finishedAt}`).join(" ") };
}

/**
 * The live colour's process containers (workers, schedulers) that do not run,
 * as the processes step's heal token: "name@finishedAt" each, sorted; "" for
 * none. Only while the colour stays live: a switch runs the step anyway, and
 * the other colour's are stopped on purpose.
 */
export function processHealToken(live: Colour, route: Colour | undefined, stopped: { name: string; colour: Colour; finishedAt: string }[]): string {
    if (route !== live) return "";
    return stopped
        .filter((p) => p.colour === live)
        .map((p) => `${p.name}@${p.finishedAt}`)
        .sort()
        .join(" ");
}
