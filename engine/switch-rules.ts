// The switch's decisions, as pure functions: what re-point writes in the
// proxy's state and in which order, whether it is a rollback, and what the
// verify probe's answer says. engine/repoint.ts and engine/verify.ts act on
// them; test/unit/switch-rules.test.ts checks each in milliseconds.
import type { Colour } from "../lib/config";
import { otherColour } from "../lib/defaults";
import { canaryLink } from "../lib/canary";
import { PREVIOUS_LIVE, PREVIOUS_LIVE_IMAGE, RETIRED_PREFIX, retiredLedger, ROUTE_MARKER } from "../lib/routemarker";

export type { Colour };
export { otherColour };

/** One change to a file of the proxy's state directory: written whole (by a rename), or removed. */
export type StateOp = { write: string; content: string } | { remove: string };

/** What re-point knows before it acts: read from Docker and from the proxy's state. */
export interface SwitchFacts {
    target: Colour;
    /** The colour live now (the route marker). */
    live: Colour;
    /** Standby "retire": the old colour is recorded in the retire ledger. */
    retire: boolean;
    /** The image the other colour's running containers have ("" when none runs). */
    oldRunningImage: string;
    /** The image id they were created from ("" when unknown): the retire ledger keeps it, so a rollback gets that very image. */
    oldRunningImageId: string;
    /** The image the target colour's containers have ("" when none runs). */
    targetImage: string;
    /** previous-live-image: the image live before the last switch ("" when absent). */
    previousLiveImage: string;
}

export interface SwitchPlan {
    /** In order: the ledger and the previous colour first, the marker flip last. */
    ops: StateOp[];
    /** What the step says, one line each. */
    lines: string[];
    /** Set when the switch goes back to the image that was live before the last one. */
    rollback?: string;
}

/**
 * The switch to `target`. previous-live records the colour live before it
 * (verify and the bake restore it on failure). previous-live-image is the
 * image live before the last switch: going back to it is a rollback, which
 * the stack's webhook hears about, and which clears it, so undoing a rollback
 * is not reported as another one. Under standby "retire" the old colour's
 * image goes to the retire ledger, so the next update knows it was retired on
 * purpose. Safe to run twice: a second run finds the route already moved.
 */
export function planSwitch(f: SwitchFacts): SwitchPlan {
    const old = otherColour(f.target);
    const ops: StateOp[] = [{ write: PREVIOUS_LIVE, content: f.live }];
    const lines: string[] = [];
    let rollback: string | undefined;
    if (f.live !== f.target && f.oldRunningImage) {
        if (f.targetImage && f.previousLiveImage === f.targetImage) {
            rollback = `rollback: back to ${f.targetImage} on ${f.target} (from ${f.oldRunningImage})`;
            lines.push(rollback);
            // Releasing the rolled-back image again later is a roll forward, not a rollback.
            ops.push({ remove: PREVIOUS_LIVE_IMAGE });
        } else {
            ops.push({ write: PREVIOUS_LIVE_IMAGE, content: f.oldRunningImage });
        }
    }
    if (f.retire && f.oldRunningImage && f.live === old) {
        ops.push({ write: `${RETIRED_PREFIX}${old}`, content: retiredLedger(f.oldRunningImage, f.oldRunningImageId) });
        lines.push(`ledger: ${old} will be retired (image ${f.oldRunningImage})`);
    }
    ops.push({ remove: `${RETIRED_PREFIX}${f.target}` });
    if (f.live === f.target) {
        lines.push(`live listener already routes to ${f.target}`);
    } else {
        ops.push(f.target === "green" ? { write: ROUTE_MARKER, content: "" } : { remove: ROUTE_MARKER });
        lines.push(`live listener re-pointed: ${f.live} -> ${f.target} (no reload)`);
    }
    // A switch ends any canary (lib/canary.ts): after the flip, so no request
    // goes back to the old colour on the way; the link of the colour now live
    // is read by nobody, and must not split the next release to it.
    for (const c of ["blue", "green"] as const) ops.push({ remove: canaryLink(c) });
    return { ops, lines, rollback };
}

/** The arguments of the in-proxy state writer (engine/docker.ts): `w FILE CONTENT` or `r FILE`, in order. */
export function stateOpArgs(ops: StateOp[]): string[] {
    return ops.flatMap((op) => ("write" in op ? ["w", op.write, op.content] : ["r", op.remove]));
}

/** The verify probe's answer: "<consecutive ok> <last failure>". */
export function readVerify(out: string): { ok: number; last: string } {
    const line = out.trim().split("\n").pop() ?? "";
    const m = /^(\d+) (.*)$/.exec(line);
    return m ? { ok: Number(m[1]), last: m[2] } : { ok: 0, last: line || "no answer from the probe" };
}
