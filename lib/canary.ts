// The weighted canary's rules, as pure functions: how traffic is split into
// buckets, what the proxy's state holds at a weight, the sticky cookie, and
// which step lists are allowed. nginx/render.ts renders the split,
// engine/canary.ts walks the steps; test/unit/canary.test.ts checks each rule.
//
// Why a ladder of marker files and not nginx's JavaScript module: the split
// must change with no reload (a reload cuts keep-alive connections: the
// switch benchmark), and the route marker already shows that a file nginx
// stats per request is a switch that costs nothing. A hash of the request
// picks one of 100 buckets (split_clients, in core nginx); the request goes to
// the canary when its bucket's file exists. So a weight is a directory of
// files, a new weight is one rename of a link, and every proxy image works:
// the Debian njs of bookworm (0.7) has no shared memory to hold a weight, and
// a custom image would be one more thing each user has to build.
import type { Colour } from "./config";
import { CANARY_PREFIX } from "./routemarker";

/** Buckets of 1 % each: any whole percent is a weight. */
export const CANARY_BUCKETS = 100;
/** The sticky cookie: the colour a client got when the canary first routed it. */
export const CANARY_COOKIE = "switchyard_canary";
/** A pin outlives the canary by this much at most (a client back after a pause keeps its colour). */
const COOKIE_SPARE_SECONDS = 300;

/** The bucket names split_clients gives, b0 .. b99: a weight w sends b0 .. b(w-1) to the canary. */
export function bucketNames(weight = CANARY_BUCKETS): string[] {
    return Array.from({ length: weight }, (_, i) => `b${i}`);
}

/** The link nginx reads for a canary to `colour`: present while it runs. */
export function canaryLink(colour: Colour): string {
    return `${CANARY_PREFIX}${colour}`;
}

/** The directory a weight's link points at: "on" and the weight's buckets. */
export function canaryLadder(colour: Colour, weight: number): string {
    return `${canaryLink(colour)}.w${weight}`;
}

/** How long the sticky cookie lives: the whole canary and a few minutes, never for good. */
export function cookieMaxAgeSeconds(steps: number[], stepSeconds: number): number {
    return steps.length * stepSeconds + COOKIE_SPARE_SECONDS;
}

/** What is wrong with a list of canary weights, or undefined: whole percents 1-99, rising, at most 10. */
export function stepsProblem(steps: number[]): string | undefined {
    if (steps.length === 0) return "must list at least one weight, such as [10, 50]";
    if (steps.length > 10) return `has ${steps.length} weights; at most 10 are allowed`;
    for (const [i, w] of steps.entries()) {
        if (!Number.isInteger(w) || w < 1 || w > 99) return `weight ${w} must be a whole percent from 1 to 99 (100 % is the switch that follows the last step)`;
        if (i > 0 && w <= steps[i - 1]) return `weights must rise: ${w} follows ${steps[i - 1]}`;
    }
    return undefined;
}

/** CANARY_STEPS ("10,50") as weights, or the problem with it. */
export function parseCanarySteps(text: string): number[] | string {
    if (!/^[0-9]+(,[0-9]+)*$/.test(text)) return `'${text}' must be whole percents separated by commas, such as 10,50`;
    const steps = text.split(",").map(Number);
    return stepsProblem(steps) ?? steps;
}
