// The weighted canary against a real nginx and the sample app: the share of
// new traffic follows each weight with no reload, a client that keeps its
// cookie stays on one colour, a failing colour is stopped at its first step
// with all traffic back at once, and re-point ends the canary.
import * as assert from "assert";
import { docker, dockerAsync, dockerAvailable, nginxWorkers, runStep, runStepAsync, TestStack } from "./fixture";
import { get, LoadReport, startLoad } from "./load";
import { startSessions, weightTimeline } from "./sessions";
import { LIST_MARKERS_SCRIPT, parseMarkers } from "../../lib/routemarker";
import { METRICS_LOG_DIR } from "../../nginx/render";

/** The share of answers from `colour` among samples between from and to (epoch ms). */
function share(rep: LoadReport, colour: string, from: number, to: number): { share: number; n: number } {
    const inWindow = rep.samples.filter((s) => rep.startedAt + s.at >= from && rep.startedAt + s.at < to && s.colour);
    return { share: inWindow.filter((s) => s.colour === colour).length / Math.max(1, inWindow.length), n: inWindow.length };
}

describe("canary: weighted steps on the live listener (real Docker engine)", function () {
    this.timeout(300000);
    const stack = new TestStack("canary", { replicas: 1, canary: { cookieMaxAgeSeconds: 120 }, recordsKeeperSeconds: 30 });
    const canaryEnv = (extra: Record<string, string> = {}) =>
        stack.env({ SWITCHYARD_COLOR: "green", CANARY_STEPS: "10,50", CANARY_STEP_SECONDS: "8", BAKE_MAX_ERROR_PERCENT: "5", BAKE_MAX_P99_MS: "", BAKE_MIN_REQUESTS: "20", RECORDS_DIR: METRICS_LOG_DIR, ...extra });
    const startGreen = (env: string[] = []) => {
        const names = stack.startSlot("green", 1, { env });
        stack.passGate("green", names);
    };
    const link = () => docker("exec", stack.proxy, "sh", "-c", "readlink /etc/switchyard/state/canary-green || true");

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        stack.passGate("blue", stack.startSlot("blue", 1));
    });
    after(() => stack.down());

    it("10 % then 50 % of new traffic, each within 5 points, with no reload; every cookie-keeping client stays on one colour; re-point ends it", async () => {
        startGreen();
        const workers = nginxWorkers(stack.proxy);
        const load = startLoad({ port: stack.livePort, rate: 100, durationMs: 60000, postShare: 0, readShare: 0 });
        const sessions = startSessions(stack.livePort, 20, 200);
        const t0 = Date.now();
        const step = runStepAsync("canary", canaryEnv());
        // Ten more sessions that arrive at 50 %: about half of them are pinned to green,
        // so the pins to the canary's colour are tested whatever the first twenty drew.
        let late: ReturnType<typeof startSessions> | undefined;
        while (!late) {
            const target = await dockerAsync("exec", stack.proxy, "sh", "-c", "readlink /etc/switchyard/state/canary-green || true").catch(() => "");
            if (target.trim() === "canary-green.w50") late = startSessions(stack.livePort, 10, 200);
            else await new Promise((res) => setTimeout(res, 200));
        }
        const r = await step;
        const end = Date.now();
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /canary of green passed at 10, 50 %/);
        assert.strictEqual(link(), "canary-green.w50", "the last weight holds until re-point");
        // What npm run status and the program read of it (the proxy's marker listing).
        const markers = parseMarkers(docker("exec", stack.proxy, "sh", "-c", LIST_MARKERS_SCRIPT));
        assert.deepStrictEqual(markers.canary, { colour: "green", weight: 50 });
        // Each step's figures, as npm run status shows them.
        assert.strictEqual(markers.canaryFigures?.length, 4, JSON.stringify(markers.canaryFigures));
        assert.match(markers.canaryFigures![0], /^\d{4}-\d\d-\d\dT[\d:]+Z green after blue: 10 % -> 50 %, 8s each$/);
        assert.match(markers.canaryFigures![1], /^10 %: held for \d+s: \d+ requests, 0 5xx \(0\.00 %\), p99 \d+ ms/);
        assert.match(markers.canaryFigures![2], /^50 %: held for \d+s: /);
        assert.strictEqual(markers.canaryFigures![3], "passed: re-point sends the rest");
        const repointing = Date.now();
        const repoint = runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "keep" }));
        assert.strictEqual(repoint.status, 0, repoint.stderr);
        const switched = Date.now();
        await new Promise((res) => setTimeout(res, 2000));
        const [rep, sess, lateSess] = await Promise.all([load.stop(), sessions.stop(), late.stop()]);

        assert.strictEqual(nginxWorkers(stack.proxy), workers, "no reload: the same nginx workers");
        assert.deepStrictEqual(rep.samples.filter((s) => s.status !== 200), [], "no request failed");
        const steps = weightTimeline(r.stdout, t0);
        assert.deepStrictEqual(steps.map((s) => s.weight), [10, 50]);
        for (const [i, s] of steps.entries()) {
            const to = steps[i + 1]?.at ?? end;
            const got = share(rep, "green", s.at + 500, to - 200);
            assert.ok(got.n >= 300, `${got.n} requests at ${s.weight} %`);
            assert.ok(Math.abs(got.share * 100 - s.weight) <= 5, `at ${s.weight} % green answered ${(got.share * 100).toFixed(1)} % of ${got.n} requests`);
        }
        assert.strictEqual(share(rep, "green", switched + 200, Infinity).share, 1, "after re-point every request goes to green");
        assert.strictEqual(link(), "", "re-point removed the canary");

        // During the canary (its first weight to the moment re-point started), each client kept the colour it got first.
        const pinned = (clients: typeof sess.clients) =>
            clients.filter((seen) => {
                const during = seen.filter((x) => x.at > steps[0].at + 300 && x.at < repointing);
                assert.ok(during.length >= 10, `a client made only ${during.length} requests during the canary`);
                assert.deepStrictEqual([...new Set(during.map((x) => x.colour))].length, 1, `a client saw ${[...new Set(during.map((x) => x.colour))].join(" and ")}`);
                assert.strictEqual(seen[seen.length - 1].colour, "green", "after re-point its pin is ignored");
                return during[0].colour === "green";
            }).length;
        const early = pinned(sess.clients);
        const atHalf = pinned(lateSess.clients);
        // At 10 % a few of the first twenty; at 50 % about half of the ten (none of thirty on green: odds of 1 in 8,000).
        assert.ok(early <= 10, `${early} of 20 clients pinned to green at 10 %`);
        assert.ok(early + atHalf >= 1, "no client was pinned to green");
    });

    it("a colour failing 20 % of real requests: stopped at its first step, all traffic back at once, the failure remembered", async () => {
        // Back to blue, and a new green that fails a fifth of its requests.
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep" })).status, 0);
        startGreen(["SAMPLE_FAIL_PERCENT=20"]);
        const load = startLoad({ port: stack.livePort, rate: 150, durationMs: 40000, postShare: 0, readShare: 0 });
        const t0 = Date.now();
        const r = await runStepAsync("canary", canaryEnv({ CANARY_STEP_SECONDS: "20" }));
        const ended = Date.now();
        await new Promise((res) => setTimeout(res, 1500));
        const rep = await load.stop();
        assert.strictEqual(r.status, 1, r.stdout);
        assert.match(r.stderr, /FAILED: canary failed on .* at 10 % after \d+s of 20s: green (\d+) of (\d+) real requests answered 5xx \([\d.]+ %, threshold 5 %\); all traffic is back on blue, which keeps running/);
        assert.match(parseMarkers(docker("exec", stack.proxy, "sh", "-c", LIST_MARKERS_SCRIPT)).canaryFigures!.at(-1)!, /^10 %: failed after \d+s: \d+ of \d+ real requests answered 5xx .*; all traffic back on blue$/);
        assert.doesNotMatch(r.stdout, /\] 50 % of new traffic to/, `it never reached the second step:\n${r.stdout}${r.stderr}`);
        const exposed = share(rep, "green", t0, ended);
        assert.ok(exposed.share < 0.2, `green answered ${(exposed.share * 100).toFixed(1)} % of requests during the canary`);
        assert.strictEqual(share(rep, "green", ended + 100, Infinity).share, 0, "no request reached green after the step failed");
        assert.strictEqual(link(), "");
        const again = runStep("canary", canaryEnv());
        assert.strictEqual(again.status, 1);
        assert.match(again.stderr, /the canary or bake of green failed before \(.*at 10 %: .*\), and these are the same containers: live traffic stays on blue/);
        const version = await get(stack.livePort, "/version");
        assert.strictEqual(version.headers["x-switchyard-color"], "blue");
    });

    it("a release that went live before is a rollback: no steps", () => {
        // Green (healthy) went live in the first test? went-live is written by verify; write the record as verify would.
        docker("exec", stack.proxy, "sh", "-c", "rm -f /etc/switchyard/state/bake-failed-green");
        startGreen();
        const image = docker("inspect", "-f", "{{.Image}}", `${stack.prefix}-app-green-1`);
        const ref = docker("inspect", "-f", '{{index .Config.Labels "switchyard.image"}}', `${stack.prefix}-app-green-1`);
        docker("exec", stack.proxy, "sh", "-c", `printf '%s\\n' "$1" > /etc/switchyard/state/went-live`, "sh", `${image} ${ref}`);
        // The release key names the target's containers as the program joins them (components/slot.ts).
        const id = docker("inspect", "-f", "{{.Id}}", `${stack.prefix}-app-green-1`);
        const r = runStep("canary", canaryEnv({ TARGET_CONTAINER_IDS: `${id},${"0".repeat(64)}` }));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /green's release went live on this database before: a rollback is not a release, so no canary steps/);
        assert.strictEqual(link(), "");
    });

    it("bad input is refused by name, and nothing is changed", () => {
        for (const [value, why] of [
            ["50,10", /CANARY_STEPS weights must rise: 10 follows 50/],
            ["0", /CANARY_STEPS weight 0 must be a whole percent from 1 to 99/],
            ["10;rm -rf /", /CANARY_STEPS '10;rm -rf \/' must be whole percents separated by commas/],
        ] as const) {
            const r = runStep("canary", canaryEnv({ CANARY_STEPS: value }));
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, why);
        }
        assert.strictEqual(link(), "");
    });
});
