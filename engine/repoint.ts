// re-point: move the live listener to SWITCHYARD_COLOR by flipping the route
// marker (atomic; nginx reads it per request, so no reload and no dropped
// keep-alive connections), after recording the colour it switched from and,
// under standby "retire", the old colour in the retire ledger
// (engine/switch-rules.ts planSwitch says what, in which order). The state it
// decides on is read in the `docker exec` that writes, so the switch is quick.
// Safe to run twice. Going back
// to the image live before the last switch is a rollback: the stack's webhook
// hears of it.
//
// verify and the bake apply the switch again through `switchTo` when a failed
// step or a killed update undid it.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, STANDBY
import { PREVIOUS_LIVE, PREVIOUS_LIVE_IMAGE, RESTORE_LOCK, RETIRED_PREFIX, ROUTE_MARKER, STATE_DIR, WEBHOOK_URL_FILE } from "../lib/routemarker";
import { removeCanaryElsewhere } from "./canary-hosts";
import { APPLY_STATE, imageOf, Proxy, routeOf, runningImage, trimmed } from "./docker";
import { processesFollow } from "./processes";
import { Step } from "./step";
import { Colour, otherColour, planSwitch, SWITCH_STATE, SwitchFacts, switchVariants, variantArgs, variantKey } from "./switch-rules";

export interface SwitchInput {
    proxy: string;
    stack: string;
    colour: Colour;
    standby: "retire" | "keep";
}

/** The inputs every step that switches shares, checked. */
export function switchInput(step: Step): SwitchInput {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_STACK", "SWITCHYARD_COLOR", "STANDBY");
    if (env.SWITCHYARD_COLOR !== "blue" && env.SWITCHYARD_COLOR !== "green") step.fail(`SWITCHYARD_COLOR '${env.SWITCHYARD_COLOR}' is not a colour (allowed: blue, green)`);
    if (env.STANDBY !== "retire" && env.STANDBY !== "keep") step.fail(`STANDBY '${env.STANDBY}' is not a standby mode (allowed: retire, keep)`);
    return { proxy: env.SWITCHYARD_PROXY, stack: env.SWITCHYARD_STACK, colour: env.SWITCHYARD_COLOR, standby: env.STANDBY };
}

/**
 * A switch's one exec: the restore lock, the route marker, previous-live-image
 * and the webhook URL, then, unless a restore holds the route, the plan what it
 * read calls for (SWITCH_STATE picks among switchVariants). `known`: what
 * Docker said, the rest of SwitchFacts.
 */
export function readAndSwitch(proxy: Proxy, known: Omit<SwitchFacts, "live" | "previousLiveImage">) {
    const files = [RESTORE_LOCK, ROUTE_MARKER, PREVIOUS_LIVE_IMAGE, WEBHOOK_URL_FILE];
    return proxy.readStatesThen(files, `!${RESTORE_LOCK}`, SWITCH_STATE, STATE_DIR, ROUTE_MARKER, PREVIOUS_LIVE_IMAGE, known.targetImage, APPLY_STATE, ...variantArgs(switchVariants(known)));
}

/**
 * Points the live listener at `input.colour`, as re-point does; says each
 * action. Docker first (the images the colours run), then one exec: it reads
 * the restore lock, the route marker, previous-live-image and the webhook URL,
 * and applies the plan that what it read calls for (SWITCH_STATE picks among
 * every plan planSwitch could give). Under a restore it writes nothing and
 * the step refuses. A `docker exec` costs more than what it runs, and the
 * switch is on every release's critical path.
 */
export async function switchTo(step: Step, input: SwitchInput): Promise<void> {
    const proxy = new Proxy(step.docker, input.proxy);
    await step.waitRunning(input.proxy, 30);
    const [old, targetImage] = await Promise.all([runningImage(step.docker, input.stack, otherColour(input.colour)), imageOf(step.docker, input.stack, input.colour)]);
    const known = { target: input.colour, retire: input.standby === "retire", oldRunningImage: old.image, oldRunningImageId: old.id, targetImage };
    const read = await readAndSwitch(proxy, known);
    const restoring = read.states.get(RESTORE_LOCK);
    if (restoring) step.refuseRestoring(restoring);
    const facts: SwitchFacts = { ...known, live: routeOf(read.states), previousLiveImage: read.states.get(PREVIOUS_LIVE_IMAGE) ?? "" };
    const plan = planSwitch(facts);
    const { status, stdout, stderr } = read.then;
    if (status !== 0) step.fail(`could not re-point the proxy ${proxy.container}${stderr.trim() ? `: ${trimmed(stderr.trim())}` : ""}`);
    // The proxy chose by the very files this read returned: the same key, so planSwitch's plan.
    const applied = stdout.split("\n")[0];
    if (applied !== variantKey(facts)) step.fail(`re-point applied the switch for "${applied}" but read "${variantKey(facts)}" in the proxy ${proxy.container}; run pulumi up again`);
    for (const line of plan.lines) step.say(line);
    if (plan.rollback) await step.notify("rollback", plan.rollback, facts.oldRunningImage, { url: read.states.get(WEBHOOK_URL_FILE) ?? "", toImage: targetImage });
}

/**
 * Applies the switch to `input.colour` again, after a failure or a killed
 * step undid it (verify and the bake, when the live listener routes to
 * `route`), and moves the processes forward with it: the failure that undid
 * the switch sent them back too.
 */
export async function switchAgain(step: Step, input: SwitchInput, route: string): Promise<void> {
    await switchTo(step, input).catch((e: Error) => step.fail(`could not apply the switch to ${input.colour} again; live traffic stays on ${route} (${e.message})`));
    await processesFollow(step, input.stack, input.colour);
}

/**
 * After a failed check of `colour` (verify, the bake): the route goes back to
 * the colour re-point recorded as live before it, which still runs (retire
 * waits for these steps), and leaves the retire ledger. Returns that colour,
 * or undefined when there is none to go back to. `known`: previous-live as
 * read earlier (the bake reads it at its start, so a failed check switches
 * back with no docker call before the switch).
 */
export async function switchBack(step: Step, proxy: Proxy, colour: Colour, known?: string): Promise<Colour | undefined> {
    const previous = known ?? (await proxy.readState(PREVIOUS_LIVE).catch((e: Error) => (step.say(`${e.message}: the colour to go back to is unknown`), "")));
    if ((previous !== "blue" && previous !== "green") || previous === colour) return undefined;
    if (!(await proxy.setRoute(previous))) step.fail(`could not point the live listener at '${previous}' (allowed: blue, green)`);
    await proxy.removeState(`${RETIRED_PREFIX}${previous}`);
    step.say(`restored the live listener to ${previous}`);
    // The other hosts of a canary on every host still send its last share to this colour: not any more.
    await removeCanaryElsewhere(step, colour, { onFailure: "say" });
    // Its workers and scheduler go back with it: the failed colour's code takes no job and fires no schedule.
    if (step.env.SWITCHYARD_STACK) await processesFollow(step, step.env.SWITCHYARD_STACK, previous);
    return previous;
}

if (require.main === module) void Step.run("repoint", async (step) => switchTo(step, switchInput(step)));
