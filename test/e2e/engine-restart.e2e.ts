// The Docker engine restarts under load (an engine upgrade, a crash): with the
// engine set-up starts (setup/dockerd.sh: live-restore, kernel port mapping)
// every container of the stack keeps running, the same process, and the stack
// is intact afterwards: route, rows, and a no-op `pulumi up`. What the clients
// saw while the engine was away is measured and reported: requests fail only
// in that window, and only for the two reasons the engine is needed then (the
// proxy's DNS lookups of the colours, and the port mapping as it is rewritten).
//
// This restarts the machine's engine, so it runs last in `npm run test:e2e`
// and refuses an engine that set-up did not start (it could not restart it
// the way it was started).
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO } from "../../lib/project";
import { describeFailures, get, LoadReport, startLoadProcess } from "../scripts/load";
import { nginxWorkers } from "../scripts/fixture";
import { baseConfig, changed, E2EStack, freePort, missingParts, psql, say, sleep } from "./harness";

const LOAD_RATE = 100;

describe("e2e: the Docker engine restarts under load", function () {
    let s: E2EStack;
    let live = 0;

    before(async function () {
        const missing = missingParts();
        if (missing.length) {
            console.log(`e2e SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        const home = process.env.SWITCHYARD_HOME ?? path.join(os.homedir(), ".switchyard");
        assert.ok(fs.existsSync(path.join(home, "dockerd.started")), "the engine was not started by setup/dockerd.sh, so this test cannot restart it the way it was started");
        assert.strictEqual(execFileSync("docker", ["info", "--format", "{{.LiveRestoreEnabled}}"], { encoding: "utf8" }).trim(), "true", "set-up's engine runs with live-restore");
        live = await freePort();
        s = await E2EStack.create("engine", { ...baseConfig(live, await freePort()), backups: { enabled: false } });
        await s.up("fresh");
    });

    after(async function () {
        if (s) await s.destroy();
    });

    it("every container keeps running through the restart, the same process; no request fails; then the route, the rows and a no-op up are intact", async () => {
        const identities = () => Object.fromEntries(s.containers(false).map((c) => [c.name, s.identity(c.name)]));
        const before = identities();
        assert.ok(Object.keys(before).length >= 5, "proxy, Postgres, Redis and two replicas run");
        const rowsBefore = Number(psql(s, "SELECT count(*) FROM visits"));
        const workersBefore = nginxWorkers(s.names.proxyContainer);
        const load = startLoadProcess({ port: live, rate: LOAD_RATE, durationMs: 5 * 60 * 1000 });
        let restart = { began: 0, ended: 0, out: "" };
        let rep: LoadReport;
        try {
            await sleep(3000);
            restart.began = Date.now();
            const r = spawnSync("bash", [path.join(REPO, "setup/dockerd.sh"), "restart"], { encoding: "utf8", timeout: 180000 });
            restart = { ...restart, ended: Date.now(), out: r.stdout + r.stderr };
            assert.strictEqual(r.status, 0, restart.out);
            // 5 s of load after the engine is back.
            await sleep(5000);
        } finally {
            rep = await load.stop();
        }
        const away = (restart.ended - restart.began) / 1000;
        const failed = rep.samples.filter((x) => x.error !== undefined || x.status < 200 || x.status > 299);
        const inRestart = rep.samples.filter((x) => rep.startedAt + x.at >= restart.began && rep.startedAt + x.at <= restart.ended);
        say(`engine restart: ${restart.out.trim().split("\n").join(" | ")}`);
        say(`load across the restart at ${LOAD_RATE} req/s: ${rep.requests} requests (${inRestart.length} sent during the ${away.toFixed(1)} s restart), failed ${failed.length}, errors ${JSON.stringify(rep.errors)}, p99 ${rep.p99} ms`);
        // Live-restore: the very same containers, same start time, no restart.
        assert.deepStrictEqual(identities(), before, "a container was stopped, restarted or replaced by the engine's restart");
        // The proxy asks the engine nothing per request (fixed upstream addresses, no
        // DNS), the app reaches Postgres and Redis by address, and the published port
        // is nginx's own socket (proxy.network host) or a kernel rule: nothing fails.
        assert.deepStrictEqual(failed, [], `requests failed across the engine's restart:\n${describeFailures({ ...rep, samples: failed }, 20)}`);
        assert.ok(inRestart.length > LOAD_RATE, `the load ran through the restart (${inRestart.length} requests in it)`);
        assert.deepStrictEqual(nginxWorkers(s.names.proxyContainer), workersBefore, "no reload of the proxy");
        assert.strictEqual(s.route(), "blue");
        assert.strictEqual((await get(live, "/version")).headers["x-switchyard-color"], "blue");
        const rowsAfter = Number(psql(s, "SELECT count(*) FROM visits"));
        const posted = rep.samples.filter((x) => x.method === "POST" && x.status === 201).length;
        assert.strictEqual(rowsAfter, rowsBefore + posted, "every acknowledged write is in Postgres");
        const up = await s.up("no-op after the restart", { expectNoChanges: true });
        assert.strictEqual(changed(up.changes), 0, `a no-op up after the restart changed ${JSON.stringify(up.changes)}`);
        say(`figures: restart ${away.toFixed(1)} s, ${rep.requests} requests, ${failed.length} failed, ${Object.keys(before).length} containers kept running, no-op up ${up.changes.same} unchanged`);
    });
});
