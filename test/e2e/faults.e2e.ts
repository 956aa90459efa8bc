// Faults inside a colour, under load (issue 26). A replica stopped from
// outside (docker kill, as an operator, a host agent or a memory-pressure
// tool may do): nginx takes its fixed address out after the first failed
// connection, so no GET fails and only POSTs in flight on it may; `npm run
// status` says which replica and why; the next `pulumi up` starts it again,
// gated, and the one after is a no-op. Then the Docker engine restarts (an
// upgrade, a crash): with live-restore (setup/dockerd.sh) every container keeps
// running, and since the proxy asks the engine nothing per request (fixed
// upstream addresses, no DNS, nginx's own sockets on the host) no request fails.
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

describe("e2e: faults inside a colour: a replica killed, the engine restarted", function () {
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

    it("1. a replica killed under load: no GET fails, only POSTs in flight on it; p99 under 1 s; status names it and why", async () => {
        const victim = `${s.names.namePrefix}-app-blue-2`;
        // 200 req/s of GET /version, 25 of POST /visits and 25 of GET /visits.
        const load = startLoadProcess({ port: live, rate: 250, durationMs: 5 * 60 * 1000, postShare: 0.1, readShare: 0.1 });
        let killedAt = 0;
        let rep: LoadReport;
        try {
            await sleep(3000);
            killedAt = Date.now();
            execFileSync("docker", ["kill", victim]);
            await sleep(8000);
        } finally {
            rep = await load.stop();
        }
        const failed = rep.samples.filter((x) => x.error !== undefined || x.status < 200 || x.status > 299);
        say(`docker kill of ${victim} under 250 req/s: ${rep.requests} requests, failed ${failed.length} (${failed.map((x) => `${x.method} ${x.path} ${x.error ?? x.status}`).join(", ") || "none"}), p50 ${rep.p50} ms, p99 ${rep.p99} ms`);
        if (failed.length) say(`failed requests:\n${describeFailures({ ...rep, samples: failed }, 20)}`);
        assert.deepStrictEqual(failed.filter((x) => x.method !== "POST"), [], "a GET failed: it should have gone to the other replica");
        for (const x of failed) assert.ok(rep.startedAt + x.at < killedAt + 1000, `a POST failed ${rep.startedAt + x.at - killedAt} ms after the kill: only those in flight at it may`);
        assert.ok(rep.p99 < 1000, `p99 ${rep.p99} ms`);
        assert.ok((rep.byColour.blue ?? 0) > rep.requests * 0.9, "the colour kept serving");
        const st = await s.ops("status");
        assert.strictEqual(st.status, 3, st.out);
        assert.match(st.out, new RegExp(`${victim}: killed \\(SIGKILL, exit 137: stopped from outside, such as docker kill\\)`));
    });

    it("2. the next up starts the replica again, gated, changing nothing else; the one after is a no-op", async () => {
        const victim = `${s.names.namePrefix}-app-blue-2`;
        const others = Object.fromEntries(s.containers(false).map((c) => [c.name, s.identity(c.name)]));
        const heal = await s.up("heal");
        assert.deepStrictEqual([heal.changes.create, heal.changes.update, heal.changes.replace, heal.changes.delete], [0, 1, 0, 0], JSON.stringify(heal.changes));
        assert.match(heal.output, new RegExp(`found stopped: ${victim}: killed`));
        assert.match(heal.output, new RegExp(`${victim} healthy`));
        assert.match(heal.output, new RegExp(`healed: ${victim} back in blue`));
        assert.strictEqual(execFileSync("docker", ["inspect", "-f", "{{.State.Status}}", victim], { encoding: "utf8" }).trim(), "running");
        for (const [name, id] of Object.entries(others)) assert.strictEqual(s.identity(name), id, `${name} was touched by the heal`);
        const noop = await s.up("no-op after the heal", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0, JSON.stringify(noop.changes));
        assert.strictEqual((await s.ops("status")).status, 0, "whole again");
        say(`heal up ${heal.seconds.toFixed(1)} s (1 step updated), no-op ${noop.seconds.toFixed(1)} s`);
    });

    it("3. every container keeps running through the restart, the same process; no request fails; then the route, the rows and a no-op up are intact", async () => {
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
