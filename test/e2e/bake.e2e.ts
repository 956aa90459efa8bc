// The bake under a real `pulumi up` on one Docker host: a release whose
// /health passes (gate and verify pass) but whose real requests fail 20 % is
// switched back by the bake, under standby retire and under standby keep;
// a good release bakes through its window with no failed request. Then the
// weighted canary (canary.steps): the share of new traffic follows each step,
// clients that keep cookies stay on one colour, a rollback takes no steps, and
// a failing release is stopped at its first step.
//
// Load runs on the live listener through every update (GET /version, GET and
// POST /visits through Postgres and Redis, keep-alive and Connection: close).
// Invariants: Postgres, Redis and the proxy are never replaced or restarted;
// a failed bake costs only the new colour's own 500s, bounded by the time from
// the re-point to the first check; a no-op up changes nothing.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Colour } from "../../lib/config";
import { execFile } from "child_process";
import { describeFailures, get, LoadReport } from "../scripts/load";
import { parsePrometheus } from "../scripts/prometheus";
import { SessionReport, startSessions } from "../scripts/sessions";
import { WebhookReceiver } from "../scripts/webhook";
import { baseConfig, changed, E2EStack, freePort, missingParts, say, withLoad } from "./harness";

const LOAD_RATE = 100;
const BAKE = { seconds: 15, maxErrorPercent: 5, minRequests: 50 };
/** The weighted canary of scenarios 5-7: two steps, each judged with BAKE's thresholds. */
const CANARY = { steps: [10, 50], stepSeconds: 12 };
/** Scenarios 5-7: new visitors (no cookies) at this rate, and cookie-keeping sessions beside them. */
const CANARY_RATE = 160;
const SESSIONS = { clients: 20, intervalMs: 500 };
/** The sample app's fault: 1 in 5 requests other than /health answers 500. */
const FAULT = { SAMPLE_FAIL_PERCENT: "20" };

interface Figure {
    scenario: string;
    upSeconds: number;
    requests: number;
    failed: number;
    p99: number;
    note: string;
}
const figures: Figure[] = [];

describe("e2e: the bake judges real traffic under a real pulumi up (one host)", function () {
    let s: E2EStack;
    let live = 0;
    let metricsPort = 0;
    let shared: Record<string, string> = {};
    const hook = new WebhookReceiver();

    const setConfig = (patch: Record<string, unknown>) => s.writeConfig({ ...s.readConfig(), ...patch });
    const slots = () => s.readConfig().slots as Record<Colour, { image: string; env?: Record<string, string> }>;
    const route = async () => (await get(live, "/version")).headers["x-switchyard-route"];
    function assertSharedUntouched(when: string): void {
        for (const [name, id] of Object.entries(shared)) assert.strictEqual(s.identity(name), id, `${name} was replaced or restarted (${when})`);
    }

    /** Runs an update under load; returns the load's report and when the update ran. */
    const underLoad = (fn: () => Promise<unknown>): Promise<LoadReport & { began: number; ended: number }> => withLoad({ port: live, rate: LOAD_RATE, durationMs: 10 * 60 * 1000 }, fn);

    before(async function () {
        const missing = missingParts();
        if (missing.length) {
            console.log(`e2e SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        await hook.start();
        live = await freePort();
        const preview = await freePort();
        metricsPort = await freePort();
        // The metrics sidecar from the start: every bake and canary below reads its files, not docker logs.
        s = await E2EStack.create("bake", { ...baseConfig(live, preview), bake: BAKE, backups: { enabled: false }, metrics: { port: metricsPort, image: "switchyard/node:local" } });
        await s.stack.setConfig("switchyard:notify.webhookUrl", { value: hook.url, secret: true }, true);
        const up = await s.up("fresh");
        assert.ok(up.changes.create > 0);
        for (const name of [`${s.names.namePrefix}-postgres`, `${s.names.namePrefix}-redis`, s.names.proxyContainer]) shared[name] = s.identity(name);
    });

    after(async function () {
        if (figures.length) {
            console.log("\n      | scenario | up (s) | requests | failed | p99 (ms) | note |\n      |---|---|---|---|---|---|");
            for (const f of figures) console.log(`      | ${f.scenario} | ${f.upSeconds.toFixed(1)} | ${f.requests} | ${f.failed} | ${f.p99} | ${f.note} |`);
            fs.mkdirSync("bench/results", { recursive: true });
            fs.writeFileSync(path.join("bench/results", "e2e-bake.json"), JSON.stringify(figures, null, 2));
        }
        if (s) await s.destroy();
        await hook.stop();
    });

    /**
     * A release of `bad` with the fault, from `good`: the up fails in the bake,
     * live traffic is back on `good`, and the only failed requests are `bad`'s
     * own 500s between the re-point and the switch back.
     */
    async function badReleaseSwitchedBack(scenario: string, good: Colour, bad: Colour, image: string): Promise<void> {
        const goodContainers = s.containers(false).filter((c) => c.role === "app" && c.colour === good).map((c) => s.identity(c.name));
        const t = Date.now();
        let failure = { message: "", seconds: 0, output: "" };
        const rep = await underLoad(async () => {
            setConfig({ slots: { ...slots(), [bad]: { image, env: FAULT } }, liveColor: bad });
            failure = await s.upFails(`${scenario}: release ${bad} with 20 % failing requests`);
        });
        const m = /bake failed on (\S+) after (\d+)s of 15s: (\w+) (\d+) of (\d+) real requests answered 5xx \(([\d.]+) %, threshold 5 %\); live traffic is back on (\w+), which keeps running/.exec(failure.message);
        assert.ok(m, `the up's error names the host, the counts and the threshold:\n${failure.message.slice(-2000)}`);
        const [, host, bakedSeconds, colour, errors, total, , backOn] = m;
        assert.deepStrictEqual([host, colour, backOn], ["unix:///var/run/docker.sock", bad, good]);
        assert.strictEqual(await route(), good, "live traffic is back on the old colour");
        assert.deepStrictEqual(
            s.containers(false).filter((c) => c.role === "app" && c.colour === good).map((c) => s.identity(c.name)),
            goodContainers,
            `${good} kept running through the bake, never restarted`,
        );
        // Every failed request is one of the bad colour's own 500s: nothing was lost to the switches.
        const failed = rep.samples.filter((x) => x.error !== undefined || x.status < 200 || x.status > 299);
        const notTheFault = failed.filter((x) => !(x.status === 500 && x.colour === bad));
        assert.deepStrictEqual(notTheFault, [], `failures other than ${bad}'s injected 500s:\n${describeFailures({ ...rep, samples: notTheFault })}`);
        // Bounded: the bad colour served from the re-point to the first check with enough requests.
        const badAnswers = rep.samples.filter((x) => x.colour === bad);
        const firstBad = Math.min(...badAnswers.map((x) => x.at));
        const lastBad = Math.max(...badAnswers.map((x) => x.at));
        const exposedSeconds = (lastBad - firstBad) / 1000;
        assert.ok(exposedSeconds < 12, `${bad} served real traffic for ${exposedSeconds.toFixed(1)}s; the bake's first checks should end it`);
        assert.ok(failed.length <= 0.3 * badAnswers.length + 3, `${failed.length} failed of ${badAnswers.length} answers from ${bad}`);
        assert.ok(Number(total) >= BAKE.minRequests && Number(errors) > 0);
        const later = rep.samples.filter((x) => rep.startedAt + x.at > rep.ended);
        assert.ok(later.length > 0 && later.every((x) => x.colour === good && x.status >= 200 && x.status <= 299), `after the failed up every answer came from ${good}, and none failed`);
        const heard = hook.since(t).map((x) => `${x.body.kind} ${x.body.step}`);
        assert.deepStrictEqual(heard, ["failure bake"], "the webhook hears the failed bake, once");
        assert.match(hook.since(t)[0].body.error, /bake failed on .* answered 5xx/);
        say(`${scenario}: bake failed after ${bakedSeconds}s: ${errors} of ${total} 5xx on the proxy; clients saw ${failed.length} failed of ${rep.requests}, ${bad} served ${exposedSeconds.toFixed(1)}s`);
        figures.push({ scenario, upSeconds: failure.seconds, requests: rep.requests, failed: failed.length, p99: rep.p99, note: `bake stopped it after ${bakedSeconds}s: ${errors}/${total} 5xx at the proxy; ${bad} served ${exposedSeconds.toFixed(1)}s` });
        assertSharedUntouched(scenario);
    }

    it("1. standby retire: a release that passes /health but fails 20 % of real requests is switched back in its bake; the old colour was never retired", async () => {
        await badReleaseSwitchedBack("1 bad release (retire)", "blue", "green", "switchyard/app:1.1.0");
        const out = JSON.parse(s.cli(["stack", "output", "--json"]).out);
        assert.strictEqual(out.liveColor, "blue", "the stack does not claim the release that failed");
        // The same config again (a teammate's unrelated up): the failed containers do not go live again unasked.
        const again = await s.upFails("1 the same config again");
        assert.match(again.message, /the bake of green failed before \(.*\), and these are the same containers: live traffic stays on blue\. To try green again under real traffic: SWITCHYARD_RETRY_BAKE=1 pulumi up/);
        assert.strictEqual(await route(), "blue");
        say(`1 the same config again: refused in ${again.seconds.toFixed(1)}s; the failed containers stay out of traffic`);
    });

    it("2. the fixed release bakes through its window under load: 0 failed, then standby keep keeps the old colour warm", async () => {
        setConfig({ standby: "keep" });
        let seconds = 0;
        let output = "";
        const rep = await underLoad(async () => {
            setConfig({ slots: { ...slots(), green: { image: "switchyard/app:1.1.0" } }, liveColor: "green" });
            const up = await s.up("2 release green, fault fixed (keep)");
            seconds = up.seconds;
            output = up.output;
        });
        assert.match(output, /baked: green held for 15s: \d+ requests, 0 5xx \(0\.00 %\), p99 \d+ ms/);
        assert.strictEqual(rep.failed, 0, describeFailures(rep));
        assert.strictEqual(await route(), "green");
        assert.deepStrictEqual([...new Set(s.containers(false).filter((c) => c.role === "app").map((c) => c.colour))].sort(), ["blue", "green"], "keep: both colours run");
        figures.push({ scenario: "2 good release (keep)", upSeconds: seconds, requests: rep.requests, failed: rep.failed, p99: rep.p99, note: "baked 15 s" });
        assertSharedUntouched("good release");
    });

    it("3. standby keep: the same fault on the next release is switched back automatically to the warm colour", async () => {
        // Blue is the warm standby; its new image (with the fault) re-creates it, then the switch to it fails its bake.
        await badReleaseSwitchedBack("3 bad release (keep)", "green", "blue", "switchyard/app:1.1.0");
    });

    it("4. liveColor back to the colour that serves: gate, re-point (the route already there) and verify run; green's containers baked in 2, so no second bake; then a no-op up changes nothing", async () => {
        let output = "";
        const rep = await underLoad(async () => {
            await s.stack.setConfig("switchyard:liveColor", { value: "green" });
            output = (await s.up("4 liveColor green again")).output;
        });
        assert.match(output, /live listener already routes to green/);
        assert.doesNotMatch(output, /\[bake /, "these containers baked in scenario 2 (the bake's release key is unchanged)");
        assert.strictEqual(rep.failed, 0, describeFailures(rep));
        const up = await s.up("4 no-op", { expectNoChanges: true });
        assert.strictEqual(changed(up.changes), 0, `a no-op up changed ${JSON.stringify(up.changes)}`);
        assert.doesNotMatch(up.output, /\[bake /, "no bake ran");
        figures.push({ scenario: "4 no-op", upSeconds: up.seconds, requests: 0, failed: 0, p99: 0, note: `${up.changes.same} unchanged` });
        assertSharedUntouched("no-op");
    });

    /**
     * The canary's weight in the proxy as it changes (its link's target, polled
     * every 200 ms). Each change is bracketed: it happened after `before` (when
     * the last poll that saw the old weight began) and by `at` (when the poll
     * that saw the new one returned), so the old weight held until `before` and
     * the new one from `at`: the windows judged below are certainly one weight.
     */
    function watchWeights(colour: Colour): { stop: () => Promise<{ at: number; before: number; weight: number }[]> } {
        const seen: { at: number; before: number; weight: number }[] = [];
        let stopped = false;
        const poll = async () => {
            let lastStart = Date.now();
            while (!stopped) {
                const started = Date.now();
                const target = await new Promise<string>((resolve) =>
                    execFile("docker", ["exec", s.names.proxyContainer, "readlink", `/etc/switchyard/state/canary-${colour}`], (_e, out) => resolve(String(out).trim())),
                );
                const weight = Number(/\.w(\d+)$/.exec(target)?.[1] ?? 0);
                if ((seen[seen.length - 1]?.weight ?? 0) !== weight) seen.push({ at: Date.now(), before: lastStart, weight });
                lastStart = started;
                await new Promise((r) => setTimeout(r, 200));
            }
        };
        const running = poll();
        return {
            stop: async () => {
                stopped = true;
                await running;
                return seen;
            },
        };
    }

    /** The metrics sidecar's text as sample -> value. */
    async function scrape(): Promise<Map<string, number>> {
        const a = await get(metricsPort, "/metrics");
        assert.strictEqual(a.status, 200, a.body);
        return parsePrometheus(a.body);
    }
    const served = (m: Map<string, number>, colour: Colour) =>
        [...m].filter(([k]) => k.startsWith(`switchyard_requests_total{listener="live",colour="${colour}",`)).reduce((a, [, v]) => a + v, 0);

    /** Runs `fn` under the canary's load: new visitors and cookie-keeping sessions, the weight watched. */
    async function canaryLoad(colour: Colour, fn: () => Promise<unknown>) {
        // Scraped before the load, every 2 s during it, and after it (the sidecar reads every half second).
        const scrapes = [await scrape()];
        let scraping = true;
        const scraper = (async () => {
            while (scraping) {
                await new Promise((r) => setTimeout(r, 2000));
                scrapes.push(await scrape());
            }
        })();
        const sessions = startSessions(live, SESSIONS.clients, SESSIONS.intervalMs);
        const weights = watchWeights(colour);
        let sess: SessionReport = { clients: [] };
        let steps: { at: number; before: number; weight: number }[] = [];
        const rep = await withLoad({ port: live, rate: CANARY_RATE, durationMs: 10 * 60 * 1000 }, async () => {
            try {
                await fn();
            } finally {
                [sess, steps] = await Promise.all([sessions.stop(), weights.stop()]);
            }
        });
        scraping = false;
        await scraper;
        await new Promise((r) => setTimeout(r, 1500));
        scrapes.push(await scrape());
        return { rep, sess, steps, scrapes };
    }

    /** The share of new visitors' answers from `colour` between two instants. */
    const shareOf = (rep: LoadReport, colour: Colour, from: number, to: number) => {
        const w = rep.samples.filter((x) => rep.startedAt + x.at >= from && rep.startedAt + x.at < to && x.colour);
        return { percent: (100 * w.filter((x) => x.colour === colour).length) / Math.max(1, w.length), n: w.length };
    };

    it("5. canary 10 -> 50 -> 100 under load: each step's share of new visitors within 5 points, every cookie-keeping client on one colour, 0 failed", async () => {
        setConfig({ canary: CANARY });
        const t = Date.now();
        let output = "";
        let seconds = 0;
        const { rep, sess, steps, scrapes } = await canaryLoad("blue", async () => {
            setConfig({ slots: { ...slots(), blue: { image: "switchyard/app:1.0.0", env: { CANARY_RUN: "5" } } }, liveColor: "blue" });
            const up = await s.up("5 release blue through the canary");
            output = up.output;
            seconds = up.seconds;
        });
        assert.strictEqual(rep.failed, 0, describeFailures(rep));
        assert.match(output, /canary of blue passed at 10, 50 %/);
        assert.strictEqual(await route(), "blue");
        // The polled weights: 10, 50, then the link gone (re-point moved the rest).
        assert.deepStrictEqual(steps.map((x) => x.weight), [10, 50, 0], JSON.stringify(steps));
        say(`5 the weights as polled: ${steps.map((x) => `${x.weight} % between ${x.before - t} and ${x.at - t} ms`).join(", ")}`);
        const shares: string[] = [];
        for (const [i, step] of steps.slice(0, 2).entries()) {
            // From when the poll saw the weight (and 300 ms for requests already routed) to when it last saw it.
            const got = shareOf(rep, "blue", step.at + 300, steps[i + 1].before);
            assert.ok(got.n >= 500, `only ${got.n} answers at ${step.weight} %`);
            assert.ok(Math.abs(got.percent - step.weight) <= 5, `at ${step.weight} % blue answered ${got.percent.toFixed(1)} % of ${got.n} new visitors`);
            shares.push(`${step.weight} %: ${got.percent.toFixed(1)} % of ${got.n}`);
        }
        const after = shareOf(rep, "blue", steps[2].at + 300, Infinity);
        assert.strictEqual(after.percent, 100, "after re-point every request goes to blue");
        // From the first weight to the re-point, each session saw one colour.
        let pinnedBlue = 0;
        for (const seen of sess.clients) {
            const during = seen.filter((x) => x.at > steps[0].at + 300 && x.at < steps[2].before);
            const colours = [...new Set(during.map((x) => x.colour))];
            assert.ok(during.length >= 20, `a session made only ${during.length} requests during the canary`);
            assert.strictEqual(colours.length, 1, `a session saw ${colours.join(" and ")} during the canary`);
            if (colours[0] === "blue") pinnedBlue++;
            assert.ok(seen.every((x) => x.status === 200), "no session request failed");
        }
        const heard = hook.since(t).map((x) => `${x.body.kind} ${x.body.step}`);
        assert.deepStrictEqual(heard, [], "a canary that held is no failure");
        // The metrics, scraped before, during and after: every counter only grows, and the split by colour is the clients' own count.
        for (let i = 1; i < scrapes.length; i++) {
            for (const [name, v] of scrapes[i - 1]) {
                if (/_total|_bucket|_count|_sum/.test(name)) assert.ok((scrapes[i].get(name) ?? 0) >= v, `${name} went from ${v} to ${scrapes[i].get(name)} (scrapes ${i - 1} and ${i})`);
            }
        }
        assert.ok(scrapes.some((m) => m.get('switchyard_canary_weight_percent{colour="blue"}') === 10) && scrapes.some((m) => m.get('switchyard_canary_weight_percent{colour="blue"}') === 50), "the weight was seen in the metrics");
        const split: string[] = [];
        for (const colour of ["blue", "green"] as const) {
            const clients = rep.samples.filter((x) => x.colour === colour).length + sess.clients.flat().filter((x) => x.colour === colour).length;
            const counted = served(scrapes[scrapes.length - 1], colour) - served(scrapes[0], colour);
            assert.ok(Math.abs(counted - clients) <= clients * 0.01, `${colour}: the metrics counted ${counted} requests, the clients saw ${clients}`);
            split.push(`${colour} ${counted} counted / ${clients} seen`);
        }
        // In flight: some requests were seen mid-way during the load, and once it ended every start had its end (none leaks across the release).
        // Every listener and colour: the load may be anywhere.
        const inFlight = (m: Map<string, number>) => [...m].filter(([k]) => k.startsWith("switchyard_in_flight_requests{")).reduce((n, [, v]) => n + v, 0);
        const peak = Math.max(...scrapes.map(inFlight));
        assert.ok(peak > 0, `no scrape during ${rep.requests + sess.clients.flat().length} requests saw one in flight`);
        assert.strictEqual(inFlight(scrapes[scrapes.length - 1]), 0, "nothing in flight once the load ended");
        split.push(`in flight at most ${peak}, 0 after`);
        say(`5 metrics: ${scrapes.length} scrapes, counters monotonic; ${split.join(", ")}`);
        say(`5 canary: ${shares.join(", ")}; ${pinnedBlue} of ${sess.clients.length} sessions pinned to blue, each on one colour; ${rep.requests} requests, 0 failed`);
        figures.push({ scenario: "5 canary 10/50/100 (keep)", upSeconds: seconds, requests: rep.requests, failed: rep.failed, p99: rep.p99, note: `new visitors on blue: ${shares.join(", ")}; ${sess.clients.length} cookie sessions each on one colour (${pinnedBlue} on blue); metrics: ${split.join(", ")}` });
        assertSharedUntouched("canary release");
    });

    it("6. liveColor back to the warm colour is a rollback: no canary steps, traffic moves at once", async () => {
        let output = "";
        let seconds = 0;
        const { rep, steps } = await canaryLoad("green", async () => {
            await s.stack.setConfig("switchyard:liveColor", { value: "green" });
            const up = await s.up("6 rollback to green");
            output = up.output;
            seconds = up.seconds;
        });
        assert.strictEqual(rep.failed, 0, describeFailures(rep));
        assert.match(output, /green's release went live on this database before: a rollback is not a release, so no canary steps/);
        assert.deepStrictEqual(steps, [], "no weight was ever set");
        assert.strictEqual(await route(), "green");
        figures.push({ scenario: "6 rollback with canary steps set", upSeconds: seconds, requests: rep.requests, failed: rep.failed, p99: rep.p99, note: "no steps: a rollback is immediate" });
        assertSharedUntouched("rollback");
    });

    it("7. a release failing 20 % of real requests: stopped at its first step with about 10 % of new traffic exposed, all back at once, the webhook told", async () => {
        const t = Date.now();
        let failure = { message: "", seconds: 0, output: "" };
        const { rep, steps } = await canaryLoad("blue", async () => {
            setConfig({ slots: { ...slots(), blue: { image: "switchyard/app:1.0.0", env: { ...FAULT, CANARY_RUN: "7" } } }, liveColor: "blue" });
            failure = await s.upFails("7 release blue with 20 % failing requests through the canary");
        });
        const m = /canary failed on \S+ at 10 % after (\d+)s of 12s: blue (\d+) of (\d+) real requests answered 5xx \(([\d.]+) %, threshold 5 %\); all traffic is back on green, which keeps running/.exec(failure.message);
        assert.ok(m, `the up's error names the step, the counts and the threshold:\n${failure.message.slice(-2000)}`);
        assert.doesNotMatch(failure.output, /\] 50 % of new traffic to blue/, "it never reached the second step");
        assert.deepStrictEqual(steps.map((x) => x.weight), [10, 0], JSON.stringify(steps));
        assert.strictEqual(await route(), "green");
        const exposed = shareOf(rep, "blue", steps[0].at - 1000, steps[1].at + 1000);
        assert.ok(exposed.percent < 16, `blue answered ${exposed.percent.toFixed(1)} % of new visitors while its step ran`);
        assert.strictEqual(shareOf(rep, "blue", steps[1].at + 300, Infinity).percent, 0, "after the failed step no request reached blue");
        const failed = rep.samples.filter((x) => x.error !== undefined || x.status < 200 || x.status > 299);
        const notTheFault = failed.filter((x) => !(x.status === 500 && x.colour === "blue"));
        assert.deepStrictEqual(notTheFault, [], `failures other than blue's injected 500s:\n${describeFailures({ ...rep, samples: notTheFault })}`);
        const heard = hook.since(t);
        assert.deepStrictEqual(heard.map((x) => `${x.body.kind} ${x.body.step}`), ["failure canary"]);
        assert.match(heard[0].body.error, /canary failed on .* at 10 % .* answered 5xx/);
        const [, after, errors, total] = m;
        say(`7 bad canary: stopped after ${after}s at 10 %: ${errors} of ${total} 5xx at the proxy; blue answered ${exposed.percent.toFixed(1)} % of new visitors meanwhile; clients saw ${failed.length} failed of ${rep.requests}`);
        figures.push({ scenario: "7 bad release through the canary", upSeconds: failure.seconds, requests: rep.requests, failed: failed.length, p99: rep.p99, note: `stopped at 10 % after ${after}s: ${errors}/${total} 5xx at the proxy; blue had ${exposed.percent.toFixed(1)} % of new visitors meanwhile` });
        assertSharedUntouched("bad canary");
    });
});
