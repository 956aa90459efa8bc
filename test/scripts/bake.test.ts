// The bake step against a real nginx and the sample app: it judges the new
// colour by the proxy's own access records of real traffic, switches back to
// the old colour when that traffic fails, and passes a good release.
import * as assert from "assert";
import * as net from "net";
import { docker, dockerAvailable, runStep, runStepAsync, TestStack } from "./fixture";
import { get, startLoad } from "./load";
import { METRICS_LOG_DIR, WORKER_UID } from "../../nginx/render";

describe("bake: the new colour judged by its real traffic (real Docker engine)", function () {
    this.timeout(300000);
    // One replica per colour, as started below: no upstream address of a replica that does not exist.
    // The record files as the program has them for a bake: written by nginx, kept by the keeper (a sweep a second here).
    const stack = new TestStack("bake", { replicas: 1, recordsKeeperSeconds: 1 });
    const bakeEnv = (extra: Record<string, string> = {}) =>
        stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "keep", BAKE_SECONDS: "20", BAKE_MAX_ERROR_PERCENT: "5", BAKE_MAX_P99_MS: "", BAKE_MIN_REQUESTS: "30", RECORDS_DIR: METRICS_LOG_DIR, ...extra });
    const route = async () => (await get(stack.livePort, "/version")).headers["x-switchyard-route"];
    const startGreen = (env: string[] = []) => {
        const names = stack.startSlot("green", 1, { env });
        const gate = runStep("gate", stack.gateEnv("green", names));
        assert.strictEqual(gate.status, 0, gate.stderr);
    };
    const switchToGreen = () => {
        const r = runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "keep" }));
        assert.strictEqual(r.status, 0, r.stderr);
    };
    const backToBlue = () => assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep" })).status, 0);

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        const blue = stack.startSlot("blue", 1);
        stack.passGate("blue", blue);
    });
    after(() => stack.down());

    it("a colour whose /health passes but 20 % of real requests fail: switched back at the first check, figures named", async () => {
        startGreen(["SAMPLE_FAIL_PERCENT=20"]);
        switchToGreen();
        const load = startLoad({ port: stack.livePort, rate: 60, durationMs: 15000 });
        const t0 = Date.now();
        const r = await runStepAsync("bake", bakeEnv());
        const seconds = (Date.now() - t0) / 1000;
        const rep = await load.stop();
        assert.strictEqual(r.status, 1, r.stdout);
        assert.match(r.stderr, /FAILED: bake failed on .* after \d+s of 20s: green (\d+) of (\d+) real requests answered 5xx \(\d+\.\d\d %, threshold 5 %\); live traffic is back on blue, which keeps running/);
        const [, errors, total] = /green (\d+) of (\d+) real/.exec(r.stderr)!.map(Number);
        assert.ok(total >= 30 && errors / total > 0.15 && errors / total < 0.25, `the proxy counted ${errors} of ${total}`);
        // Judged at the first check with enough requests, not at the window's end.
        assert.ok(seconds < 8, `the bake took ${seconds}s of its 20s window`);
        assert.strictEqual(await route(), "blue");
        // What the clients saw is what the proxy counted, and nothing after the switch back.
        // The bake counts the proxy's records up to its check's read; the 500s green
        // served after that read, while the step decided and switched back (one docker
        // exec), it cannot count. So: never more than the clients saw, and the rest
        // within the last second green served (the switch back takes less than that).
        const green500 = rep.samples.filter((s) => s.status === 500 && s.colour === "green");
        const lastGreen = Math.max(...rep.samples.filter((s) => s.colour === "green").map((s) => s.at));
        const inLastSecond = green500.filter((s) => s.at > lastGreen - 1000).length;
        assert.ok(errors <= green500.length + 1, `the bake counted ${errors} 500s, the clients saw ${green500.length}`);
        assert.ok(green500.length - errors <= inLastSecond, `clients saw ${green500.length} 500s from green, the bake counted ${errors}; only ${inLastSecond} came in green's last second`);
        const afterBack = rep.samples.filter((s) => rep.startedAt + s.at > t0 + seconds * 1000 + 500 && (s.status < 200 || s.status > 299));
        assert.deepStrictEqual(afterBack, [], "no request failed once the route was back on blue");
    });

    it("run again (the next pulumi up of the same release): it does not put the failed containers live again unless asked", async () => {
        const load = startLoad({ port: stack.livePort, rate: 60, durationMs: 15000 });
        const again = await runStepAsync("bake", bakeEnv());
        if (again.status !== 1 || !/the same containers/.test(again.stderr)) await load.stop(); // no load leaks into the next test
        assert.strictEqual(again.status, 1, again.stdout);
        assert.match(again.stderr, /FAILED: the bake of green failed before \(\d{4}-\d\d-\d\dT[\d:]+Z: \d+ of \d+ real requests answered 5xx .*\), and these are the same containers: live traffic stays on blue\. To try green again under real traffic: SWITCHYARD_RETRY_BAKE=1 pulumi up\. To stay on blue: pulumi config set liveColor blue/);
        assert.strictEqual(await route(), "blue", "no request reached green");
        const retried = await runStepAsync("bake", bakeEnv({ SWITCHYARD_RETRY_BAKE: "1" }));
        const rep = await load.stop();
        assert.strictEqual(retried.status, 1, retried.stdout);
        assert.match(retried.stdout, /the live listener routes to blue, not green: asked to retry the failed bake \(SWITCHYARD_RETRY_BAKE=1\); .* applying it again/);
        assert.match(retried.stderr, /bake failed on .* answered 5xx/);
        assert.strictEqual(await route(), "blue");
        assert.ok(rep.samples.some((s) => s.colour === "green"), "the retry did put green live again");
    });

    it("a good colour under the same load bakes for the whole window and stays live; requests from the proxy itself are not counted", async () => {
        docker("rm", "-f", `${stack.prefix}-app-green-1`);
        startGreen();
        switchToGreen();
        const load = startLoad({ port: stack.livePort, rate: 60, durationMs: 12000 });
        const t0 = Date.now();
        const r = await runStepAsync("bake", bakeEnv({ BAKE_SECONDS: "8" }));
        const seconds = (Date.now() - t0) / 1000;
        const rep = await load.stop();
        assert.strictEqual(r.status, 0, r.stderr);
        const m = /baked: green held for 8s: (\d+) requests, 0 5xx \(0\.00 %\), p99 (\d+) ms/.exec(r.stdout);
        assert.ok(m, r.stdout);
        assert.ok(seconds >= 8 && seconds < 14, `the bake took ${seconds}s`);
        // The clients' green answers in the bake's window, give or take its edges: the proxy's own probes (verify) are not
        // among them. The window is the step's last 8 s: before it the step reads the host (several docker calls, a second
        // or more on a busy machine), which a window counted from the step's start would wrongly include.
        const end = t0 + seconds * 1000;
        const clientGreen = rep.samples.filter((s) => s.colour === "green" && rep.startedAt + s.at >= end - 8000 && rep.startedAt + s.at <= end).length;
        assert.ok(Math.abs(Number(m[1]) - clientGreen) <= 60, `bake counted ${m[1]}, clients had ${clientGreen} green answers`);
        assert.strictEqual(rep.failed, 0);
        assert.match(r.stdout, /\[bake +\d+\.\ds\] 2s of 8s: \d+ requests/, "one line per check with elapsed seconds");
        assert.strictEqual(await route(), "green");
    });

    it("too slow: a p99 above maxP99Ms fails the bake even with no 5xx", async () => {
        const slow = (async () => {
            const until = Date.now() + 9000;
            while (Date.now() < until) await Promise.all(Array.from({ length: 10 }, () => get(stack.livePort, "/slow?ms=300")));
        })();
        await new Promise((r) => setTimeout(r, 1000));
        // Re-point recorded blue as the colour before green: that is where the route goes back to.
        backToBlue();
        switchToGreen();
        const r = await runStepAsync("bake", bakeEnv({ BAKE_SECONDS: "10", BAKE_MAX_P99_MS: "200", BAKE_MIN_REQUESTS: "20" }));
        await slow;
        assert.strictEqual(r.status, 1, r.stdout);
        assert.match(r.stderr, /bake failed on .*: green p99 (\d+) ms of the upstream over \d+ real requests \(threshold 200 ms\); live traffic is back on blue/);
        assert.ok(Number(/p99 (\d+) ms of the upstream/.exec(r.stderr)![1]) >= 290, r.stderr);
    });

    /** A client that sends its request's headers one line every 500 ms: the request takes as long, the colour does not. */
    function trickle(port: number, ms: number): Promise<number> {
        return new Promise((resolve, reject) => {
            const socket = net.connect(port, "127.0.0.1");
            const lines = ["GET /version HTTP/1.1\r\n", "Host: localhost\r\n", ...Array.from({ length: Math.ceil(ms / 500) }, (_, i) => `X-Slow-${i}: 1\r\n`), "Connection: close\r\n", "\r\n"];
            let answer = "";
            socket.on("data", (d) => (answer += d)).on("end", () => resolve(Number(answer.split(" ")[1])));
            socket.on("error", reject);
            const next = () => {
                const line = lines.shift();
                if (line === undefined) return;
                socket.write(line);
                setTimeout(next, 500);
            };
            next();
        });
    }

    it("clients that trickle their requests (2.5 s each) are not the colour being slow: the p99 is the upstream's time", async () => {
        switchToGreen();
        const load = startLoad({ port: stack.livePort, rate: 20, durationMs: 9000, postShare: 0, readShare: 0 });
        const bake = runStepAsync("bake", bakeEnv({ BAKE_SECONDS: "8", BAKE_MAX_P99_MS: "200", BAKE_MIN_REQUESTS: "20" }));
        // 5 of ~170 requests take 2.5 s at the proxy: a p99 of 2.5 s if the request's time were judged.
        const slow = await Promise.all(Array.from({ length: 5 }, () => trickle(stack.livePort, 2500)));
        const r = await bake;
        await load.stop();
        assert.deepStrictEqual(slow, [200, 200, 200, 200, 200]);
        assert.strictEqual(r.status, 0, r.stderr);
        const m = /baked: green held for 8s: (\d+) requests, 0 5xx \(0\.00 %\), p99 (\d+) ms/.exec(r.stdout);
        assert.ok(m && Number(m[2]) < 200, r.stdout);
        assert.strictEqual(await route(), "green");
    });

    it("one client's flood of cheap requests does not dilute everyone else's 5xx: each client weighs at most BAKE_MIN_REQUESTS requests", async () => {
        docker("rm", "-f", `${stack.prefix}-app-green-1`);
        startGreen(["SAMPLE_FAIL_PERCENT=20"]);
        backToBlue();
        switchToGreen();
        // The real clients (127.0.0.1): 20 % of their requests fail. The flood (127.0.0.9): /health, which never does,
        // at five times their rate: counted plainly, 20 % of 1 in 6 is 3.3 %, under the 5 % threshold.
        const load = startLoad({ port: stack.livePort, rate: 30, durationMs: 12000, postShare: 0, readShare: 0 });
        let flooding = true;
        const flood = (async () => {
            let sent = 0;
            while (flooding) {
                await Promise.all(Array.from({ length: 15 }, () => get(stack.livePort, "/health", { localAddress: "127.0.0.9" }).catch(() => undefined)));
                sent += 15;
                await new Promise((r) => setTimeout(r, 80));
            }
            return sent;
        })();
        const r = await runStepAsync("bake", bakeEnv({ BAKE_SECONDS: "10", BAKE_MIN_REQUESTS: "30" }));
        flooding = false;
        const sent = await flood;
        await load.stop();
        assert.strictEqual(r.status, 1, r.stdout);
        const m = /bake failed on .*: green (\d+) of (\d+) real requests answered 5xx \(([\d.]+) %, threshold 5 %; 2 of 2 clients weighed as 30 requests each\); live traffic is back on blue/.exec(r.stderr);
        assert.ok(m, r.stderr);
        const [errors, total, weighted] = [Number(m[1]), Number(m[2]), Number(m[3])];
        assert.ok((100 * errors) / total < 5, `counted plainly, ${errors} of ${total} is under the threshold: the flood (${sent} requests) would have hidden them`);
        assert.ok(weighted > 5, `weighted ${weighted} %`);
        assert.strictEqual(await route(), "blue");
        // Leave a good green live for the tests below, as before.
        docker("rm", "-f", `${stack.prefix}-app-green-1`);
        startGreen();
    });

    it("too little traffic to judge: the bake passes and says so", async () => {
        switchToGreen();
        const r = runStep("bake", bakeEnv({ BAKE_SECONDS: "3" }));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /baked: only \d+ real requests reached green in 3s \(fewer than 30\): too little traffic to judge, so the release stands/);
    });

    it("answers nginx gives itself (maintenance 503s) are not the colour's errors", async () => {
        assert.strictEqual(runStep("maintenance", stack.env({ MAINTENANCE: "on" })).status, 0);
        const load = startLoad({ port: stack.livePort, rate: 40, durationMs: 6000, postShare: 0, readShare: 0 });
        const r = await runStepAsync("bake", bakeEnv({ BAKE_SECONDS: "4", BAKE_MIN_REQUESTS: "1" }));
        const rep = await load.stop();
        assert.strictEqual(runStep("maintenance", stack.env({ MAINTENANCE: "off" })).status, 0);
        assert.ok(rep.samples.filter((s) => s.status === 503).length > 50, "the load saw maintenance answers");
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /baked: only 0 real requests reached green/);
    });

    it("bad input is refused, naming the variable and what is allowed", () => {
        const r = runStep("bake", bakeEnv({ BAKE_MAX_ERROR_PERCENT: "5%" }));
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /BAKE_MAX_ERROR_PERCENT '5%' must be a number from 0 to 100/);
        const none = runStep("bake", bakeEnv({ RECORDS_DIR: "" }));
        assert.strictEqual(none.status, 1);
        assert.match(none.stderr, /RECORDS_DIR is required/);
    });

    it("the keeper: the directory is the workers', and only record files untouched for minutes are removed", async () => {
        const inProxy = (...cmd: string[]) => docker("exec", stack.proxy, ...cmd);
        assert.strictEqual(inProxy("stat", "-c", "%u %g %a", METRICS_LOG_DIR), `${WORKER_UID} 0 770`);
        // Written by the workers, as nginx would: an old minute, a minute left just now, and a file of another name.
        const file = (name: string) => `${METRICS_LOG_DIR}/${name}`;
        inProxy("sh", "-c", `touch -d '5 minutes ago' "$1" "$3" && touch -d '30 seconds ago' "$2" && chown ${WORKER_UID}:0 "$1" "$2" "$3"`, "sh", file("access-2000-01-01T00:00.log"), file("access-2000-01-01T00:05.log"), file("notes-2000.txt"));
        await get(stack.livePort, "/version");
        await new Promise((r) => setTimeout(r, 2500));
        const left = inProxy("ls", METRICS_LOG_DIR).split("\n");
        assert.ok(!left.includes("access-2000-01-01T00:00.log"), `the old file stays: ${left.join(" ")}`);
        assert.ok(left.includes("access-2000-01-01T00:05.log"), `a file left 30 s ago went: ${left.join(" ")}`);
        assert.ok(left.includes("notes-2000.txt"), "a file that is not a record file went");
        assert.ok(left.some((f) => /^access-\d{4}-\d\d-\d\dT\d\d:\d\d\.log$/.test(f) && !f.startsWith("access-2000")), `no file of this minute: ${left.join(" ")}`);
        inProxy("rm", "-f", file("access-2000-01-01T00:05.log"), file("notes-2000.txt"));
    });
});
