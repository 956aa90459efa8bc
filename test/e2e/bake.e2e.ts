// The bake under a real `pulumi up` on one Docker host: a release whose
// /health passes (gate and verify pass) but whose real requests fail 20 % is
// switched back by the bake, under standby retire and under standby keep;
// a good release bakes through its window with no failed request.
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
import { describeFailures, get, LoadReport } from "../scripts/load";
import { WebhookReceiver } from "../scripts/webhook";
import { baseConfig, changed, E2EStack, freePort, missingParts, say, withLoad } from "./harness";

const LOAD_RATE = 100;
const BAKE = { seconds: 15, maxErrorPercent: 5, minRequests: 50 };
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
        s = await E2EStack.create("bake", { ...baseConfig(live, preview), bake: BAKE, backups: { enabled: false } });
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
});
