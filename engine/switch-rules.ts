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

/**
 * A plan re-point may apply, and what it must read in the proxy to be the
 * one: the colour live (the route marker) and whether previous-live-image
 * names the target's image (a rollback). Everything else planSwitch needs
 * comes from Docker before the exec.
 */
export interface SwitchVariant {
    live: Colour;
    rollback: boolean;
    plan: SwitchPlan;
}

/**
 * Every plan the switch may need, so that the read and the writes are one
 * exec (SWITCH_STATE): the proxy picks by what it reads. previous-live-image
 * counts only as "names the target's image" or not (planSwitch compares
 * nothing else), and not at all when the target runs no image.
 */
export function switchVariants(f: Omit<SwitchFacts, "live" | "previousLiveImage">): SwitchVariant[] {
    const variants: SwitchVariant[] = [];
    for (const live of ["blue", "green"] as const) {
        for (const rollback of f.targetImage ? [false, true] : [false]) {
            variants.push({ live, rollback, plan: planSwitch({ ...f, live, previousLiveImage: rollback ? f.targetImage : "" }) });
        }
    }
    return variants;
}

/** The variant planSwitch gives for these facts, as SWITCH_STATE reads them ("LIVE 0|1"). */
export function variantKey(f: Pick<SwitchFacts, "live" | "previousLiveImage" | "targetImage">): string {
    return `${f.live} ${f.targetImage !== "" && f.previousLiveImage === f.targetImage ? 1 : 0}`;
}

/**
 * Re-point's writes, chosen inside the proxy by what it reads there, in the
 * exec that read the state (READ_STATES runs it when no restore holds the
 * route). It prints the key it chose ("LIVE 0|1"), then applies that
 * variant's operations with the state writer (APPLY_STATE, given as an
 * argument). A variant is "LIVE 0|1 COUNT" and COUNT arguments: its
 * operations and the writer's end mark. POSIX sh; values are arguments.
 * Arguments: statedir marker previous-image-file target-image writer variant...
 */
export const SWITCH_STATE = `sd=$1 marker=$2 previmg=$3 img=$4 writer=$5; shift 5
live=blue rb=0
if [ -f "$sd/$marker" ]; then live=green; fi
if [ -n "$img" ] && [ -f "$sd/$previmg" ] && [ "$(cat "$sd/$previmg")" = "$img" ]; then rb=1; fi
while [ $# -ge 3 ]; do
  l=$1 r=$2 n=$3; shift 3
  if [ "$l" = "$live" ] && [ "$r" = "$rb" ]; then echo "$live $rb"; exec sh -c "$writer" sh "$sd" "$@"; fi
  shift "$n"
done
echo "no switch planned for route $live, rollback $rb" >&2
exit 3`;

/** The state writer's end mark (APPLY_STATE): the operations after it are another variant's. */
export const END_OF_OPS = ".";

/** SWITCH_STATE's variant arguments: each variant's key, its count, its operations and the writer's end mark. */
export function variantArgs(variants: SwitchVariant[]): string[] {
    return variants.flatMap((v) => {
        const ops = [...stateOpArgs(v.plan.ops), END_OF_OPS];
        return [v.live, v.rollback ? "1" : "0", String(ops.length), ...ops];
    });
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
