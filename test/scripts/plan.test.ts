// npm run plan --no-preview (the program's own planner) against a real stack on the Docker engine, for each kind of
// change a reviewer meets: no-op, stage, one-step release, rollback, a data
// service replaced, and a new image on the live colour (which the delete
// guard refuses).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { dockerAvailable, IMAGES, REPO, runStep, TestStack } from "./fixture";

describe("npm run plan (real Docker engine)", function () {
    this.timeout(240000);
    const stack = new TestStack("plan");
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-plan-")), `Pulumi.${stack.stack}.yaml`);
    const base = {
        "switchyard:liveColor": "blue",
        "switchyard:slots": { blue: { image: "switchyard/app:1.0.0" } },
        "switchyard:proxy": { image: IMAGES.nginx },
        "switchyard:postgres": { image: IMAGES.postgres },
        "switchyard:redis": { image: IMAGES.redis },
    };
    const withGreen = { ...base, "switchyard:slots": { blue: { image: "switchyard/app:1.0.0" }, green: { image: "switchyard/app:1.1.0" } } };
    const write = (config: Record<string, unknown>) => fs.writeFileSync(file, YAML.stringify({ config }));
    const plan = (config: Record<string, unknown>) => {
        write(config);
        const r = spawnSync("npx", ["ts-node", "ops/plan.ts", "--stack", stack.stack, "--stack-file", file, "--no-preview"], { cwd: REPO, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        return r.stdout;
    };

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        const blue = stack.startSlot("blue", 2);
        stack.passGate("blue", blue);
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "retire" })).status, 0);
    });
    after(() => stack.down());

    it("no-op: blue stays live, no risks", () => {
        const out = plan(base);
        assert.match(out, /\| live colour \| blue \(switchyard\/app:1\.0\.0\) \| \*\*blue\*\* \(switchyard\/app:1\.0\.0\) \|/);
        assert.match(out, /\*\*No switch:\*\* blue stays live\./);
        assert.doesNotMatch(out, /Risks|Staged|Gate/);
    });

    it("stage: green is created and served on preview; live untouched", () => {
        const out = plan(withGreen);
        assert.match(out, /\*\*No switch:\*\* blue stays live\./);
        assert.match(out, /- \*\*Staged:\*\* green is \(re\)created with switchyard\/app:1\.1\.0 and gated; the preview listener \(port 8081\) serves it\./);
    });

    it("one-step release: staged, gated, switched, old colour retired after the drain", () => {
        const out = plan({ ...withGreen, "switchyard:liveColor": "green" });
        assert.match(out, /\*\*Switch blue → green\.\*\* Steps, in order: gate and backup, side by side → re-point \(no nginx reload\) → verify → retire\./);
        assert.match(out, /- \*\*Create:\*\* green with switchyard\/app:1\.1\.0, 2 replica\(s\), before anything switches\./);
        assert.match(out, /- \*\*Gate:\*\* each of 2 green replica\(s\) must answer `\/health` healthy 3 times in a row within 60 s\./);
        assert.match(out, /- \*\*Retire:\*\* blue drains \(up to 15 s\), is stopped and removed\./);
        assert.match(out, /\| idle colour \| green: empty \| blue: retired \(switchyard\/app:1\.0\.0\) \|/);
    });

    it("with workers and a scheduler: their steps around the re-point, and every process type and replica count per colour", () => {
        const processes = { worker: { kind: "worker", command: ["node", "worker.js"], replicas: 2 }, clock: { kind: "scheduler", command: ["node", "clock.js"] } };
        const out = plan({ ...withGreen, "switchyard:liveColor": "green", "switchyard:processes": processes, "switchyard:postgres": { image: IMAGES.postgres, maxConnections: 200 } });
        assert.match(out, /Steps, in order: gate and backup, side by side → processes \(start, hand over\) → re-point \(no nginx reload\) → verify → processes \(stop the old colour's\) → retire\./);
        assert.match(out, /- \*\*Processes:\*\* processes per colour \(green\): clock scheduler ×1, worker worker ×2; the live colour's run, the other's are stopped\./);
        assert.match(out, /green's start and are gated before the re-point; each scheduler is handed over \(blue's stopped first\); then blue's get SIGTERM and their stop grace\./);
    });

    it("with canary steps: the weights and their window are a step before re-point, with the bake's thresholds", () => {
        const out = plan({ ...withGreen, "switchyard:liveColor": "green", "switchyard:canary": { steps: [10, 50], stepSeconds: 60 }, "switchyard:bake": { maxErrorPercent: 2 } });
        assert.match(out, /Steps, in order: gate and backup, side by side → canary \(10 % → 50 %, 60 s each\) → re-point \(no nginx reload\) → verify → retire\./);
        assert.match(out, /- \*\*Canary:\*\* green gets 10 %, then 50 % of new traffic \(clients keep the colour they got\), 60 s each, judged by its real requests; above 2 % 5xx \(from 50 requests\), all traffic goes back to blue at once and the update fails\./);
    });

    it("with a bake: the bake's window and thresholds are a step between verify and retire", () => {
        const out = plan({ ...withGreen, "switchyard:liveColor": "green", "switchyard:bake": { seconds: 120, maxErrorPercent: 2, maxP99Ms: 900 } });
        assert.match(out, /Steps, in order: gate and backup, side by side → re-point \(no nginx reload\) → verify → bake \(120 s\) → retire\./);
        assert.match(out, /- \*\*Bake:\*\* 120 s of green's real traffic from the proxy's records; above 2 % 5xx or a p99 above 900 ms \(from 50 requests\), traffic goes back to blue and the update fails\./);
    });

    it("after the release: no-op; then a rollback re-creates blue from its pinned image", () => {
        const released = { ...withGreen, "switchyard:liveColor": "green" };
        const green = stack.startSlot("green", 2, { image: "switchyard/app:1.1.0" });
        stack.passGate("green", green);
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire" })).status, 0);
        assert.strictEqual(runStep("retire", stack.env({ RETIRE_COLOR: "blue", DRAIN_SECONDS: "2", APP_PORT: "3000", STOP_GRACE_SECONDS: "5" })).status, 0);
        const noop = plan(released);
        assert.match(noop, /\*\*No switch:\*\* green stays live\./);
        assert.match(noop, /\| idle colour \| blue: retired \(switchyard\/app:1\.0\.0\) \| blue: retired/);
        const rollback = plan({ ...released, "switchyard:liveColor": "blue" });
        assert.match(rollback, /\| live colour \| green \(switchyard\/app:1\.1\.0\) \| \*\*blue\*\* \(switchyard\/app:1\.0\.0\) \|/);
        assert.match(rollback, /\*\*Switch green → blue\.\*\*/);
        assert.match(rollback, /- \*\*Create:\*\* blue with switchyard\/app:1\.0\.0, 2 replica\(s\)/);
        assert.match(rollback, /- \*\*Retire:\*\* green drains/);
    });

    it("a data service replaced is a risk at the top", () => {
        const out = plan({ ...withGreen, "switchyard:liveColor": "green", "switchyard:postgres": { image: "postgres:16.4-bookworm" } });
        assert.match(out, /^### ⚠ Risks\n\n- \*\*postgres is replaced\*\*: switchyard\/postgres:local → postgres:16\.4-bookworm; the shared data service restarts \(its volume is kept\)\./m);
        assert.ok(out.indexOf("Risks") < out.indexOf("| live colour"), "risks first");
    });

    it("a new image on the live colour is a risk, shown as refused", () => {
        const out = plan({ ...withGreen, "switchyard:liveColor": "green", "switchyard:slots": { blue: { image: "switchyard/app:1.0.0" }, green: { image: "switchyard/app:1.0.0" } } });
        assert.match(out, /^### ⚠ Risks\n\n- \*\*green is live and its image changes\*\* \(switchyard\/app:1\.1\.0 → switchyard\/app:1\.0\.0\): the delete guard refuses/m);
        assert.match(out, /\*\*REFUSED:\*\* green is live and its image would change; `pulumi up` stops before changing anything\./);
    });
});
