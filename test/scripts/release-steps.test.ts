// The release steps the command resources run, against a real Docker engine,
// a real nginx, Postgres, Redis and the sample app.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as http from "http";
import { dockerHostProbe } from "../../lib/host";
import { docker, dockerAvailable, IMAGES, nginxWorkers, runStep, runStepAsync, TestStack } from "./fixture";
import { get } from "./load";

describe("release steps (real Docker engine)", function () {
    this.timeout(300000);
    const stack = new TestStack("steps");
    let blue: string[] = [];

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        blue = stack.startSlot("blue", 2);
    });
    after(() => stack.down());

    it("gate passes when every replica answers healthy the threshold times in a row", () => {
        const r = runStep("gate", stack.gateEnv("blue", blue));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /gate passed: blue is healthy on all 2 replica\(s\)/);
        assert.match(r.stdout, /^\[gate +\d+\.\ds\] /m, "one line per step with elapsed seconds");
        // Three healthy answers an interval (1 s) apart: the streak spans two intervals, whatever the retries before it.
        const passedAt = Number(/^\[gate +(\d+\.\d)s\] gate passed/m.exec(r.stdout)?.[1]);
        assert.ok(passedAt >= 2, `a cold streak of 3 at 1 s took ${passedAt}s:\n${r.stdout}`);
    });

    it("a colour that passed the gate and has run since is re-gated with one answer per replica; a restarted replica earns the whole streak again", () => {
        const measured = () => docker("exec", stack.proxy, "cat", "/etc/switchyard/state/measured-start-blue");
        const coldMeasure = measured();
        // Seconds later than the cold gate: a warm re-gate that measured would record more.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
        const warm = runStep("gate", stack.gateEnv("blue", blue));
        assert.strictEqual(warm.status, 0, warm.stderr);
        assert.match(warm.stdout, /gating blue: 2 replica\(s\) that passed the gate and have run since: one healthy answer each/);
        assert.strictEqual((warm.stdout.match(/healthy \(1\/1\)/g) ?? []).length, 2, warm.stdout);
        assert.strictEqual(measured(), coldMeasure, "the start-to-healthy time is the cold gate's: a re-gate measures nothing");
        docker("restart", "-t", "2", blue[0]);
        const cold = runStep("gate", stack.gateEnv("blue", blue));
        assert.strictEqual(cold.status, 0, cold.stderr);
        assert.match(cold.stdout, /gating blue: 2 replica\(s\), 3 consecutive healthy answers each/, "a restart ends the warm standing");
        assert.match(cold.stdout, /healthy \(3\/3\)/);
        // That gate made both replicas warm again.
        assert.match(runStep("gate", stack.gateEnv("blue", blue)).stdout, /that passed the gate and have run since/);
    });

    it("the gate sees an app's first answer about when it comes: a replica not listening yet is watched, not retried on a back-off", () => {
        // Listens about 2 s after its start. On a 5 s interval the back-off alone would probe at 0.25, 0.75, 1.75 and 3.75 s: up to 1.7 s late.
        const slot = stack.startSlot("green", 1, { command: ["sh", "-c", "sleep 2; exec node server.js"] });
        try {
            const t0 = Date.now();
            const r = runStep("gate", { ...stack.gateEnv("green", slot, 20), HEALTHY_THRESHOLD: "1", GATE_INTERVAL: "5" });
            assert.strictEqual(r.status, 0, r.stderr);
            const healthyAt = t0 + 1000 * Number(/^\[gate +(\d+\.\d)s\] \S+ healthy \(1\/1\)/m.exec(r.stdout)?.[1]);
            const logs = docker("logs", "--timestamps", slot[0]);
            const listenAt = Date.parse(/^(\S+) .*listening on :3000/m.exec(logs)?.[1].replace(/(\.\d{3})\d+/, "$1") ?? "");
            assert.ok(Number.isFinite(healthyAt) && Number.isFinite(listenAt), `${r.stdout}\n${logs}`);
            // The step's clock starts after t0, and its lines are to 0.1 s: healthyAt is early by up to about 0.2 s, never late.
            const lateS = (healthyAt - listenAt) / 1000;
            console.log(`      the gate's first healthy answer: ${lateS.toFixed(2)} s after the app listened`);
            assert.ok(lateS < 0.6, `the gate saw the app's first answer ${lateS.toFixed(2)} s after it listened:\n${r.stdout}`);
            // Only a sanity bound on the reading (a busy machine starts the step's node later still): no gate answers a second before its app listens.
            assert.ok(lateS > -1, `the gate passed ${(-lateS).toFixed(2)} s before the app listened:\n${r.stdout}\n${logs}`);
        } finally {
            docker("rm", "-f", ...slot);
        }
    });

    it("gate fails within its timeout, naming the colour, last status, body and log tail", () => {
        const broken = stack.startSlot("green", 1, { env: ["SWITCHYARD_FORCE_UNHEALTHY=1"] });
        const t0 = Date.now();
        const r = runStep("gate", stack.gateEnv("green", broken, 6));
        const seconds = (Date.now() - t0) / 1000;
        assert.strictEqual(r.status, 1);
        assert.ok(seconds < 6 + 10, `gate took ${seconds}s`);
        assert.match(r.stderr, /gate failed: colour green did not pass its health gate within 6s of its start; live traffic was not moved/);
        assert.match(r.stderr, /switchyard-sytest-steps-app-green-1: last status 500; last body: .*forced unhealthy/);
        assert.match(r.stderr, /last log lines of switchyard-sytest-steps-app-green-1:\n +\| .*listening on :3000/);
        docker("rm", "-f", ...broken);
    });

    it("the gate's timeout runs from the slot's start, so a slot that has run a while gets what is left", () => {
        const broken = stack.startSlot("green", 1, { env: ["SWITCHYARD_FORCE_UNHEALTHY=1"] });
        spawnSync("sleep", ["6"]);
        const t0 = Date.now();
        const r = runStep("gate", stack.gateEnv("green", broken, 12));
        const seconds = (Date.now() - t0) / 1000;
        assert.strictEqual(r.status, 1, r.stderr);
        // Started 6 s before the gate with a 12 s timeout: about 6 s are left (the floor is 3 x 1 s + 3 s).
        assert.ok(seconds >= 5 && seconds < 9, `gate took ${seconds}s; a gate timed from its own start would take 12s`);
        assert.match(r.stdout, /timeout 12s from start \((5|6|7)s left\)/);
        docker("rm", "-f", ...broken);
    });

    it("the proxy serves blue live and a clear 503 on preview while green is not running", async () => {
        const live = await get(stack.livePort, "/version");
        assert.strictEqual(live.status, 200);
        assert.strictEqual(live.headers["x-switchyard-color"], "blue");
        assert.strictEqual(live.headers["x-content-type-options"], "nosniff");
        // The proxy's defaults, where the app (the sample sends none) did not set its own.
        assert.strictEqual(live.headers["x-frame-options"], "SAMEORIGIN");
        assert.strictEqual(live.headers["content-security-policy"], undefined);
        const preview = await get(stack.previewPort, "/version");
        assert.strictEqual(preview.status, 503);
        assert.match(preview.body, /the idle colour \(green\) is not running/);
        const healthz = await get(stack.livePort, "/healthz");
        assert.strictEqual(healthz.status, 200);
    });

    it("preview serves a staged green; re-point flips live without a reload, records the ledger", async () => {
        const green = stack.startSlot("green", 2);
        stack.passGate("green", green);
        assert.strictEqual((await get(stack.previewPort, "/version")).headers["x-switchyard-color"], "green");
        const pidBefore = docker("exec", stack.proxy, "cat", "/run/nginx.pid");
        const workersBefore = nginxWorkers(stack.proxy);
        const r = runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire" }));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /ledger: blue will be retired \(image switchyard\/app:1\.0\.0\)/);
        assert.match(r.stdout, /live listener re-pointed: blue -> green \(no reload\)/);
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-color"], "green");
        assert.strictEqual((await get(stack.previewPort, "/version")).headers["x-switchyard-color"], "blue");
        assert.strictEqual(docker("exec", stack.proxy, "cat", "/run/nginx.pid"), pidBefore);
        assert.deepStrictEqual(nginxWorkers(stack.proxy), workersBefore, "same workers: nginx was not reloaded");
        const host = dockerHostProbe(stack.stackLabel, stack.proxy);
        assert.strictEqual(host.route, "green");
        assert.strictEqual(host.retired.blue, "switchyard/app:1.0.0");
        assert.deepStrictEqual(host.running.green?.containers.sort(), green);
        // Twice is safe.
        const again = runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire" }));
        assert.strictEqual(again.status, 0);
        assert.match(again.stdout, /already routes to green/);
    });

    it("verify passes on consecutive answers from the target", () => {
        const r = runStep("verify", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire", VERIFY_REQUESTS: "5", HEALTH_PATH: "/health" }));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /verified: 5 consecutive answers from green/);
    });

    it("retire waits for in-flight requests to the old colour, then stops it", async () => {
        // Green is live; blue, the old colour, still answers on preview: hold requests open on it.
        const slow = Array.from({ length: 5 }, () => get(stack.previewPort, "/slow?ms=3000"));
        await new Promise((r) => setTimeout(r, 300));
        const t0 = Date.now();
        const r = runStep("retire", stack.env({ RETIRE_COLOR: "blue", DRAIN_SECONDS: "20", APP_PORT: "3000", STOP_GRACE_SECONDS: "10" }));
        const seconds = (Date.now() - t0) / 1000;
        const answers = await Promise.all(slow);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.deepStrictEqual(answers.map((a) => [a.status, a.headers["x-switchyard-color"]]), Array(5).fill([200, "blue"]));
        assert.ok(seconds >= 2.5, `retire returned after ${seconds}s, before the slow requests finished`);
        assert.match(r.stdout, /drained: no request in flight to blue/);
        assert.deepStrictEqual(stack.running("blue"), []);
        // Exit code 0: the app stopped on SIGTERM by itself, not killed at the grace limit.
        for (const name of blue) assert.strictEqual(docker("inspect", "-f", "{{.State.ExitCode}}", name), "0", `${name} exit code`);
        assert.ok(seconds < 3 + 8, `retire took ${seconds}s: stopping should be prompt after the drain`);
        assert.strictEqual(stack.running("green").length, 2);
    });

    it("retire refuses the colour that is live", () => {
        const r = runStep("retire", stack.env({ RETIRE_COLOR: "green", DRAIN_SECONDS: "1", APP_PORT: "3000", STOP_GRACE_SECONDS: "1" }));
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /refusing to retire green: the live listener still routes to it/);
        assert.strictEqual(stack.running("green").length, 2);
    });

    it("retire refuses when it cannot read which colour is live (the proxy paused): an unread route is not blue, and nothing is stopped", () => {
        // Green is live. Read as "no marker", the route would be blue, the drain's reads empty, and green stopped.
        docker("pause", stack.proxy);
        let r: ReturnType<typeof runStep>;
        try {
            r = runStep("retire", stack.env({ RETIRE_COLOR: "green", DRAIN_SECONDS: "1", APP_PORT: "3000", STOP_GRACE_SECONDS: "1" }));
        } finally {
            docker("unpause", stack.proxy);
        }
        assert.strictEqual(r.status, 1, r.stdout);
        assert.match(r.stderr, /refusing to retire green: which colour is live is unknown \(could not read live-green in the proxy \S+: .*paused/);
        assert.strictEqual(stack.running("green").length, 2);
    });

    it("verify restores the previous colour when the target does not answer", async () => {
        // Blue is retired; a re-point to it would be a bad switch that verify must undo.
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep" })).status, 0);
        const r = runStep("verify", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep", VERIFY_REQUESTS: "3", HEALTH_PATH: "/health" }));
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /verify failed: .*live traffic is back on green, which keeps running/);
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-color"], "green");
    });

    it("a config nginx rejects is refused and the previous config keeps serving", async () => {
        const bad = stack.nginxConfig().replace("worker_connections 4096;", "worker_connections lots;");
        const r = runStep("proxy-config", stack.env(), bad);
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /nginx rejected the new config; the previous config still serves. nginx -t said: .*invalid number "lots"/);
        assert.strictEqual((await get(stack.livePort, "/version")).status, 200);
        assert.strictEqual(docker("exec", stack.proxy, "sh", "-c", "ls /etc/switchyard/nginx"), "nginx.conf");
    });

    it("a real config change is tested, installed and reloaded; an unchanged one is not reloaded", async () => {
        const same = runStep("proxy-config", stack.env(), stack.nginxConfig(5));
        assert.strictEqual(same.status, 0, same.stderr);
        assert.match(same.stdout, /config unchanged; no reload/);
        const changed = runStep("proxy-config", stack.env(), stack.nginxConfig(7));
        assert.strictEqual(changed.status, 0, changed.stderr);
        assert.match(changed.stdout, /nginx reloaded/);
        assert.match(docker("exec", stack.proxy, "cat", "/etc/switchyard/nginx/nginx.conf"), /worker_shutdown_timeout 7s;/);
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-color"], "green");
    });

    it("the host probe reads what runs: route, ledger, slots by colour with their images, swap limit support", () => {
        const host = dockerHostProbe(stack.stackLabel, stack.proxy);
        assert.strictEqual(host.route, "green");
        assert.deepStrictEqual(Object.keys(host.running), ["green"]);
        assert.strictEqual(host.running.green!.image, IMAGES.app);
        assert.strictEqual(host.swapLimit, docker("info", "--format", "{{json .SwapLimit}}") === "true");
        assert.deepStrictEqual(host.foreign, [], "every object named as this stack's is labelled for it");
        // A stack whose names coincide with this one's ("a-b"/"c" against "a"/"b-c") sees this one's objects as foreign.
        const other = dockerHostProbe(`${stack.stackLabel}-other`, stack.proxy).foreign ?? [];
        for (const [kind, name] of [["volume", `${stack.prefix}-proxy-conf`], ["volume", `${stack.prefix}-proxy-state`], ["network", stack.frontend], ["network", stack.backend]]) {
            assert.ok(other.some((o) => o.kind === kind && o.name === name && o.owner === stack.stackLabel), `${kind} ${name} is foreign to the other stack: ${JSON.stringify(other)}`);
        }
    });

    it("verify run again after its own undo applies the switch again, so pulumi up after a failed verify retries it", async () => {
        // The earlier verify of blue failed and put green back; re-point's update had succeeded, so Pulumi runs only verify again.
        assert.strictEqual(docker("exec", stack.proxy, "cat", "/etc/switchyard/state/previous-live"), "green");
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-color"], "green");
        const blueAgain = stack.startSlot("blue", 2);
        stack.passGate("blue", blueAgain);
        const r = runStep("verify", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "retire", VERIFY_REQUESTS: "3", HEALTH_PATH: "/health" }));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /routes to green, not blue: the switch was undone after re-point made it .*applying it again/);
        assert.match(r.stdout, /live listener re-pointed: green -> blue \(no reload\)/);
        assert.match(r.stdout, /ledger: green will be retired/, "the retire ledger is written as re-point writes it");
        assert.match(r.stdout, /verified: 3 consecutive answers from blue/);
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-color"], "blue");
    });

    it("an upload routed to the old colour just before a switch, its body still arriving when retire stopped that colour, is answered by the new colour", async () => {
        // Blue is live. nginx picks a request's colour before it reads the body, and connects only once the body is in.
        const green = stack.startSlot("green", 2);
        stack.passGate("green", green);
        const body = Buffer.from("upload ".repeat(2000));
        let held = () => {};
        const answer = new Promise<{ status: number; colour?: string; body: string }>((resolve, reject) => {
            const req = http.request(
                { host: "127.0.0.1", port: stack.livePort, path: "/visits", method: "POST", agent: false, headers: { "Content-Type": "text/plain", "Content-Length": body.length } },
                (res) => {
                    let text = "";
                    res.on("data", (c) => (text += c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, colour: res.headers["x-switchyard-color"] as string | undefined, body: text }));
                },
            );
            req.on("error", reject);
            req.write(body.subarray(0, 100));
            // The rest once the switch and the retire are done.
            held = () => req.end(body.subarray(100));
        });
        await new Promise((r) => setTimeout(r, 500));
        const repoint = await runStepAsync("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire" }));
        assert.strictEqual(repoint.status, 0, repoint.stderr);
        // No connection to blue yet: the drain sees nothing in flight, and blue stops at once.
        const retire = await runStepAsync("retire", stack.env({ RETIRE_COLOR: "blue", DRAIN_SECONDS: "10", APP_PORT: "3000", STOP_GRACE_SECONDS: "10" }));
        assert.strictEqual(retire.status, 0, retire.stderr);
        assert.match(retire.stdout, /drained: no request in flight to blue/);
        assert.deepStrictEqual(stack.running("blue"), []);
        held();
        const a = await answer;
        assert.deepStrictEqual([a.status, a.colour], [201, "green"], `the upload's answer: ${a.body}`);
    });
});
