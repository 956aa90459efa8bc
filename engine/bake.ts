// bake: after verify, judge the new colour by its real traffic. For
// BAKE_SECONDS the proxy's own access records (`docker logs` of the proxy, or
// the metrics sidecar's files: engine/watch.ts) are read every 2 s: requests
// on the live listener that the proxy sent to SWITCHYARD_COLOR, not its own probes and not the answers nginx gives
// itself (engine/bake-verdict.ts says which, and how they are weighed). Once
// BAKE_MIN_REQUESTS were seen, more than BAKE_MAX_ERROR_PERCENT answered 5xx,
// or a p99 above BAKE_MAX_P99_MS, fails the bake at that check, not at the
// window's end.
//
// A failed check: the route goes back to the colour re-point recorded as live
// before it (still running, because retire waits for this step), and the step
// fails with the figures. Fewer requests than BAKE_MIN_REQUESTS in the whole
// window is too little to judge: the bake passes and says so.
//
// When it starts and the live listener does not route to SWITCHYARD_COLOR, a
// failed bake (or a step of a killed update) undid the switch. If the bake of
// these very containers failed, the next `pulumi up` of the same config (say,
// a teammate's unrelated change) would put them live again for real users: it
// stops instead and says how to choose, a retry with SWITCHYARD_RETRY_BAKE=1
// or liveColor set back. Otherwise (a killed update) the switch is applied
// again, as verify does, and baked again.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, STANDBY,
//      BAKE_SECONDS, BAKE_MAX_ERROR_PERCENT, BAKE_MAX_P99_MS (empty: latency is
//      reported, not judged), BAKE_MIN_REQUESTS, LIVE_SOCKET (optional),
//      SWITCHYARD_RETRY_BAKE (optional, 1), RECORDS_DIR (the proxy's record
//      files, engine/watch.ts), CANARY_HOSTS
//      (optional: the other hosts' canaries go when a failed bake sends this
//      host back, engine/canary-hosts.ts), DOCKER_HOST
import { BAKE_FAILED_PREFIX, PREVIOUS_LIVE } from "../lib/routemarker";
import { describe, failedBefore, failedRecord, Thresholds } from "./bake-verdict";
import { Proxy, slotContainerIds } from "./docker";
import { switchAgain, switchBack, switchInput } from "./repoint";
import { Step } from "./step";
import { recordsStart, watchColour } from "./watch";

/**
 * What the bake and the canary judge by, checked: the thresholds, the colour,
 * and where the proxy's own probes come from. Each bad value named with what
 * is allowed.
 */
export function judgeInput(step: Step) {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_STACK", "SWITCHYARD_COLOR", "BAKE_MAX_ERROR_PERCENT", "BAKE_MIN_REQUESTS");
    const p99 = step.env.BAKE_MAX_P99_MS ?? "";
    if (!/^[1-9][0-9]*$/.test(env.BAKE_MIN_REQUESTS)) step.fail(`BAKE_MIN_REQUESTS '${env.BAKE_MIN_REQUESTS}' must be a whole number >= 1`);
    if (!/^[0-9]+(\.[0-9]+)?$/.test(env.BAKE_MAX_ERROR_PERCENT)) step.fail(`BAKE_MAX_ERROR_PERCENT '${env.BAKE_MAX_ERROR_PERCENT}' must be a number from 0 to 100`);
    if (p99 !== "" && !/^[1-9][0-9]*$/.test(p99)) step.fail(`BAKE_MAX_P99_MS '${p99}' must be empty or a whole number of ms >= 1`);
    if (env.SWITCHYARD_COLOR !== "blue" && env.SWITCHYARD_COLOR !== "green") step.fail(`SWITCHYARD_COLOR '${env.SWITCHYARD_COLOR}' must be blue or green`);
    const thresholds: Thresholds = {
        maxErrorPercent: Number(env.BAKE_MAX_ERROR_PERCENT),
        maxP99Ms: p99 === "" ? undefined : Number(p99),
        minRequests: Number(env.BAKE_MIN_REQUESTS),
    };
    return {
        proxy: env.SWITCHYARD_PROXY,
        stack: env.SWITCHYARD_STACK,
        colour: env.SWITCHYARD_COLOR as "blue" | "green",
        thresholds,
        // The proxy's own probes: from its unix socket with host networking, else from its loopback.
        ownAddress: step.env.LIVE_SOCKET ? "unix:" : "127.0.0.1",
        retry: step.env.SWITCHYARD_RETRY_BAKE === "1",
        hostName: step.env.DOCKER_HOST || "the local Docker socket",
        // The proxy's record files, read from a cursor (engine/watch.ts).
        recordsDir: recordsDir(step),
    };
}

function recordsDir(step: Step): string {
    const dir = step.require("RECORDS_DIR").RECORDS_DIR;
    if (!/^\/[A-Za-z0-9._\/-]+$/.test(dir) || dir.includes("..")) step.fail(`RECORDS_DIR '${dir}' must be an absolute path in the proxy (letters, digits, . _ - /)`);
    return dir;
}

/** The bake's input: what it judges by, its window and the standby mode. */
export function bakeInput(step: Step) {
    const env = step.require("STANDBY", "BAKE_SECONDS");
    if (!/^[1-9][0-9]*$/.test(env.BAKE_SECONDS)) step.fail(`BAKE_SECONDS '${env.BAKE_SECONDS}' must be a whole number >= 1`);
    return { ...judgeInput(step), seconds: Number(env.BAKE_SECONDS) };
}

async function bake(step: Step): Promise<void> {
    const input = bakeInput(step);
    const { colour, thresholds: t } = input;
    const proxy = new Proxy(step.docker, input.proxy);
    await step.waitRunning(input.proxy, 30);
    const failedFile = `${BAKE_FAILED_PREFIX}${colour}`;
    // Every read before the first check at once: over ssh:// each docker call
    // costs a connection (0.5 s and more under load), and the new colour serves
    // real traffic unjudged until the first check (seen: 3.9 s of sequential
    // reads in the three-host e2e).
    const reads = () => Promise.all([recordsStart(step.docker, input.proxy, input.recordsDir), proxy.readState(PREVIOUS_LIVE)]);
    const [containers, route, early] = await Promise.all([slotContainerIds(step.docker, input.stack, colour).catch((e: Error) => step.fail(e.message)), proxy.route(), reads()]);
    let [start, previous] = early;
    if (route !== colour) {
        const failed = await proxy.readState(failedFile);
        const why = failedBefore(failed, containers);
        if (why !== undefined && !input.retry) {
            step.fail(
                `the bake of ${colour} failed before (${why}), and these are the same containers: live traffic stays on ${route}. ` +
                    `To try ${colour} again under real traffic: SWITCHYARD_RETRY_BAKE=1 pulumi up. To stay on ${route}: pulumi config set liveColor ${route} (or release a fixed image)`,
            );
        }
        step.say(`the live listener routes to ${route}, not ${colour}: ${failed ? "asked to retry the failed bake (SWITCHYARD_RETRY_BAKE=1); " : ""}a failed bake or a step of a killed update undid the switch; applying it again`);
        await switchAgain(step, switchInput(step), route);
        // The window starts after the switch applied again, and its previous colour is the one it wrote.
        [start, previous] = await reads();
    }
    if (!start) step.fail(`could not find where the proxy's access records stand now at ${input.hostName}`);
    // `previous`, the colour to go back to, was read before the window: re-point
    // wrote it before this step, and a failed check then switches back with no
    // docker call in between.

    step.say(`baking ${colour} on ${input.hostName} for ${input.seconds}s: fail above ${t.maxErrorPercent} % 5xx${t.maxP99Ms ? ` or a p99 above ${t.maxP99Ms} ms` : ""}, judged from ${t.minRequests} requests`);
    const watched = await watchColour(step, { colour, sources: [{ docker: step.docker, proxy: input.proxy, ownAddress: input.ownAddress, start }], thresholds: t, seconds: input.seconds });
    if (watched.failed) {
        const message = `bake failed on ${input.hostName} after ${watched.waited}s of ${input.seconds}s: ${colour} ${watched.failed}`;
        const back = await switchBack(step, proxy, colour, previous);
        if (!back) step.fail(`${message}; there is no previous colour to restore`);
        // Remembered, so the next up of this same release asks before it goes live again.
        if (!(await proxy.writeState(failedFile, failedRecord(containers, new Date(), watched.failed)))) step.say("could not record the failed bake in the proxy's state");
        step.fail(`${message}; live traffic is back on ${back}, which keeps running`);
    }
    await proxy.removeState(failedFile);
    const { summary } = watched;
    if (summary.total < t.minRequests) {
        step.say(`baked: only ${summary.total} real requests reached ${colour} in ${input.seconds}s (fewer than ${t.minRequests}): too little traffic to judge, so the release stands`);
    } else {
        step.say(`baked: ${colour} held for ${input.seconds}s: ${describe(summary)}`);
    }
}

if (require.main === module) void Step.run("bake", bake);
