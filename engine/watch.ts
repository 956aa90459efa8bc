// Watching a colour's real traffic for a window: the proxy's access records
// (`docker logs` of the proxy, only the records since the last check) read
// every CHECK_MS, judged by engine/bake-verdict.ts at each check. The bake
// watches the new colour at 100 %, the canary at each weight; each acts on a
// failure its own way.
import { describe, nextCheckMs, parseAccessRecords, Sample, summarise, Summary, Thresholds, verdict } from "./bake-verdict";
import { sleep, Step } from "./step";

const CHECK_MS = 2000;

export interface Watch {
    /** The proxy container whose records are read. */
    proxy: string;
    colour: "blue" | "green";
    /** The proxy's own probes come from here ("unix:" or "127.0.0.1"): not real traffic. */
    ownAddress: string;
    thresholds: Thresholds;
    seconds: number;
    /** Docker's timestamp the window starts at (the engine's clock). */
    since: string;
    /** How each progress line starts, such as "10 %: ". */
    label?: string;
}

export interface WatchResult {
    /** Why a check failed (the verdict), or undefined when the window held. */
    failed?: string;
    summary: Summary;
    /** Whole seconds watched. */
    waited: number;
}

/**
 * Watches `w.colour` for `w.seconds`, saying the figures at each check; stops
 * at the first check whose verdict fails (once `minRequests` were seen). The
 * work per check follows the traffic since the last one.
 */
export async function watchColour(step: Step, w: Watch): Promise<WatchResult> {
    const samples: Sample[] = [];
    let after = "";
    const label = w.label ?? "";
    // A record at the last check's instant was read then.
    const readSamples = async () => {
        const r = await step.docker.run(["logs", "--timestamps", "--since", after || w.since, w.proxy]);
        if (r.status !== 0) step.fail(`could not read the access records of the proxy ${w.proxy}`);
        const got = parseAccessRecords(r.stdout, { colour: w.colour, ownAddress: w.ownAddress, after });
        samples.push(...got.samples);
        if (got.newest) after = got.newest;
    };
    const windowMs = w.seconds * 1000;
    const start = Date.now();
    for (;;) {
        await sleep(nextCheckMs(windowMs, Date.now() - start, CHECK_MS));
        await readSamples();
        const summary = summarise(samples, w.thresholds.minRequests);
        const waitedMs = Date.now() - start;
        const waited = Math.floor(waitedMs / 1000);
        const failed = verdict(summary, w.thresholds);
        if (failed) return { failed, summary, waited };
        step.say(`${label}${waited}s of ${w.seconds}s: ${describe(summary)}`);
        if (waitedMs >= windowMs) return { summary, waited };
    }
}
