// canary: before the re-point, the colour going live gets a share of the live
// listener's new traffic at each of CANARY_STEPS (percent), for
// CANARY_STEP_SECONDS each, judged by its real requests with the bake's
// thresholds (engine/watch.ts). A weight is a link in the proxy's state to a
// ladder of bucket files (lib/canary.ts): setting it is one rename, no reload.
// A client the canary routed keeps its colour by a cookie the proxy sets.
//
// A failed check removes the link: all traffic is back on the live colour at
// once, the failure is remembered like a failed bake (the same containers do
// not get real traffic again unless SWITCHYARD_RETRY_BAKE=1), and the step
// fails with the figures (the webhook hears them). After the last step the
// weight stays until re-point moves the rest and removes the link.
//
// No steps when the colour is live already (the switch happened, or an
// instant rollback put it there) or when its release went live on this
// database before: a rollback is not a release, and it is immediate.
//
// With several hosts it runs on the first and sets each weight on every
// host's proxy at once (CANARY_HOSTS, engine/canary-hosts.ts); one window
// judges all their records together, and a failure removes every host's link.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, CANARY_STEPS,
//      CANARY_STEP_SECONDS, BAKE_MAX_ERROR_PERCENT, BAKE_MAX_P99_MS,
//      BAKE_MIN_REQUESTS, LIVE_SOCKET (optional), TARGET_CONTAINER_IDS
//      (optional), SWITCHYARD_RETRY_BAKE (optional, 1), RECORDS_DIR (the
//      proxy's record files, engine/watch.ts), CANARY_HOSTS (optional: the
//      other hosts' proxies), DOCKER_HOST
import { bucketNames, canaryLadder, canaryLink, parseCanarySteps } from "../lib/canary";
import { BAKE_FAILED_PREFIX, CANARY_FIGURES, STATE_DIR } from "../lib/routemarker";
import { describe, failedBefore, failedRecord } from "./bake-verdict";
import { judgeInput } from "./bake";
import { canarySites, removeCanaryElsewhere } from "./canary-hosts";
import { Proxy, slotContainerIds, trimmed } from "./docker";
import { colourRelease, keyContainerIds, readHistory } from "./history";
import { Step } from "./step";
import { otherColour } from "./switch-rules";
import { recordsStart, watchColour } from "./watch";

/**
 * Sets a weight in one exec: the ladder directory (its bucket files, then
 * "on") is built once under a temporary name, then the link is renamed over.
 * Arguments: state directory, link, ladder, bucket names.
 */
const SET_WEIGHT = `set -e
cd "$1"; link=$2 dir=$3; shift 3
if [ ! -f "$dir/on" ]; then
  rm -rf "$dir.tmp"; mkdir "$dir.tmp"
  for b in "$@"; do : > "$dir.tmp/$b"; done
  : > "$dir.tmp/on"; rm -rf "$dir"; mv "$dir.tmp" "$dir"
fi
ln -sfn "$dir" ".$link.tmp" && mv -Tf ".$link.tmp" "$link"`;

export function canaryInput(step: Step) {
    const env = step.require("CANARY_STEPS", "CANARY_STEP_SECONDS");
    const steps = parseCanarySteps(env.CANARY_STEPS);
    if (typeof steps === "string") step.fail(`CANARY_STEPS ${steps}`);
    if (!/^[1-9][0-9]{0,4}$/.test(env.CANARY_STEP_SECONDS)) step.fail(`CANARY_STEP_SECONDS '${env.CANARY_STEP_SECONDS}' must be a whole number of seconds from 1`);
    const ids = keyContainerIds(step.env.TARGET_CONTAINER_IDS);
    return { ...judgeInput(step), steps, stepSeconds: Number(env.CANARY_STEP_SECONDS), targetIds: ids.length ? ids : undefined };
}

async function canary(step: Step): Promise<void> {
    const input = canaryInput(step);
    const { colour, thresholds: t } = input;
    const live = otherColour(colour);
    const proxy = new Proxy(step.docker, input.proxy);
    const others = canarySites(step);
    await step.waitRunning(input.proxy, 30);
    const failedFile = `${BAKE_FAILED_PREFIX}${colour}`;
    const [route, history, release, containers, failed, otherRoutes] = await Promise.all([
        proxy.route(),
        readHistory(proxy),
        colourRelease(step.docker, input.stack, colour, input.targetIds),
        slotContainerIds(step.docker, input.stack, colour).catch((e: Error) => step.fail(e.message)),
        proxy.readState(failedFile),
        Promise.all(others.map((o) => o.proxy.route())),
    ]);
    const removeLink = async (c: "blue" | "green") => {
        const r = await proxy.applyState(["r", canaryLink(c)]);
        if (r.status !== 0) step.fail(`could not remove the canary of ${c} in the proxy ${input.proxy}: ${trimmed(r.stderr)}`);
        await removeCanaryElsewhere(step, c, { sites: others });
    };
    if (route === colour) {
        // A canary of the other colour left by a killed update would still split traffic.
        await removeLink(live);
        step.say(`the live listener routes to ${colour} already: no canary steps`);
        return;
    }
    if (release.release && history.wentLive.includes(release.release)) {
        step.say(`${colour}'s release went live on this database before: a rollback is not a release, so no canary steps`);
        return;
    }
    const why = failedBefore(failed, containers);
    if (why !== undefined && !input.retry) {
        await removeLink(colour);
        step.fail(
            `the canary or bake of ${colour} failed before (${why}), and these are the same containers: live traffic stays on ${route}. ` +
                `To try ${colour} again under real traffic: SWITCHYARD_RETRY_BAKE=1 pulumi up. To stay on ${route}: pulumi config set liveColor ${route} (or release a fixed image)`,
        );
    }
    // Every host that does not route to the colour yet splits (one a killed update re-pointed already has nothing to split).
    const here = step.env.SWITCHYARD_HOST_NAME || input.hostName;
    const sites = [{ name: here, docker: step.docker, proxy, ownAddress: input.ownAddress }, ...others.filter((_, i) => otherRoutes[i] !== colour)];
    const where = sites.length > 1 ? `every host (${sites.map((s) => s.name).join(", ")})` : input.hostName;

    step.say(
        `canary of ${colour} on ${where}: ${input.steps.join(" % -> ")} % of new traffic, ${input.stepSeconds}s each; ` +
            `fail above ${t.maxErrorPercent} % 5xx${t.maxP99Ms ? ` or a p99 above ${t.maxP99Ms} ms` : ""}, judged from ${t.minRequests} requests`,
    );
    // Each step's figures, kept in the first host's proxy for npm run status (one write per step).
    const figures = [`${new Date().toISOString().replace(/\.\d+Z$/, "Z")} ${colour} after ${live}: ${input.steps.join(" % -> ")} %, ${input.stepSeconds}s each${sites.length > 1 ? `, on ${sites.length} hosts` : ""}`];
    const save = async () => {
        if (!(await proxy.writeState(CANARY_FIGURES, `${figures.join("\n")}\n`))) step.say("could not record the canary's figures in the proxy's state");
    };
    const record = async (line: string) => {
        figures.push(line);
        await save();
    };
    await save();
    for (const weight of input.steps) {
        // Each step judges its own traffic: the window starts before the weight.
        const starts = await Promise.all(sites.map((s) => recordsStart(s.docker, s.proxy.container, input.recordsDir)));
        const lost = sites.filter((_, i) => !starts[i]);
        if (lost.length) step.fail(`could not find where the proxy's access records stand now at ${lost.map((s) => s.name).join(", ")}`);
        const set = await Promise.all(sites.map((s) => s.proxy.exec("sh", "-c", SET_WEIGHT, "sh", STATE_DIR, canaryLink(colour), canaryLadder(colour, weight), ...bucketNames(weight))));
        const unset = set.map((r, i) => ({ r, site: sites[i] })).filter(({ r }) => r.status !== 0);
        if (unset.length) {
            await removeLink(colour);
            step.fail(`could not set the canary's weight to ${weight} % on ${unset.map(({ site, r }) => `${site.name} (${trimmed(r.stderr)})`).join(", ")}; all traffic is back on ${live}`);
        }
        step.say(`${weight} % of new traffic to ${colour}${sites.length > 1 ? ` on ${sites.length} hosts` : ""} (no reload)`);
        const sources = sites.map((s, i) => ({ docker: s.docker, proxy: s.proxy.container, host: s.name, ownAddress: s.ownAddress, start: starts[i]! }));
        const watched = await watchColour(step, { colour, sources, thresholds: t, seconds: input.stepSeconds, label: `${weight} %: ` });
        if (watched.failed) {
            await removeLink(colour);
            const message = `canary failed on ${where} at ${weight} % after ${watched.waited}s of ${input.stepSeconds}s: ${colour} ${watched.failed}; all traffic is back on ${live}, which keeps running`;
            if (!(await proxy.writeState(failedFile, failedRecord(containers, new Date(), `at ${weight} %: ${watched.failed}`)))) step.say("could not record the failed canary in the proxy's state");
            await record(`${weight} %: failed after ${watched.waited}s: ${watched.failed}; all traffic back on ${live}`);
            step.fail(message);
        }
        step.say(`${weight} % held: ${describe(watched.summary)}`);
        await record(`${weight} %: held for ${watched.waited}s: ${describe(watched.summary)}`);
    }
    await record("passed: re-point sends the rest");
    await proxy.removeState(failedFile);
    step.say(`canary of ${colour} passed at ${input.steps.join(", ")} %: re-point sends the rest${sites.length > 1 ? " (each host at its turn)" : ""}`);
}

if (require.main === module) void Step.run("canary", canary);
