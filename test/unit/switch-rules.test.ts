// The switch's, the drain's and the data steps' decisions, without Docker
// (engine/switch-rules.ts, engine/drain-rules.ts, migrate.ts, backup.ts). The real steps run against nginx and replicas in
// test/scripts/release-steps.test.ts and data-steps.test.ts.
import * as assert from "assert";
import { DRAIN_FAST_MS, drainNext, drainPollMs, establishedTo, nginxWorkers, procTcpAddress, reloadStage } from "../../engine/drain-rules";
import { dumpName, safeName } from "../../engine/backup";
import { migrationArgs } from "../../engine/migrate";
import { planSwitch, readVerify, stateOpArgs, SwitchFacts } from "../../engine/switch-rules";

const facts = (over: Partial<SwitchFacts> = {}): SwitchFacts => ({
    target: "green",
    live: "blue",
    retire: true,
    oldRunningImage: "app:1",
    oldRunningImageId: "",
    targetImage: "app:2",
    previousLiveImage: "",
    ...over,
});

/** Every switch ends with the canary links' removal (lib/canary.ts), after the marker flip. */
const ENDS_CANARY = ["r", "canary-blue", "r", "canary-green"];

describe("switch decisions (engine/switch-rules.ts)", () => {
    it("a release: previous colour and image first, the ledger, the marker flip, then the end of any canary", () => {
        const p = planSwitch(facts());
        assert.deepStrictEqual(stateOpArgs(p.ops), ["w", "previous-live", "blue", "w", "previous-live-image", "app:1", "w", "retired-blue", "app:1", "r", "retired-green", "w", "live-green", "", ...ENDS_CANARY]);
        assert.deepStrictEqual(p.lines, ["ledger: blue will be retired (image app:1)", "live listener re-pointed: blue -> green (no reload)"]);
        assert.strictEqual(p.rollback, undefined);
    });

    it("the ledger keeps the image id the retired colour ran, when known", () => {
        const id = `sha256:${"b".repeat(64)}`;
        const p = planSwitch(facts({ oldRunningImageId: id }));
        assert.ok(stateOpArgs(p.ops).join(" ").includes(`w retired-blue app:1 ${id}`), stateOpArgs(p.ops).join(" "));
    });

    it("to blue, the marker is removed; standby keep writes no ledger", () => {
        const p = planSwitch(facts({ target: "blue", live: "green", retire: false }));
        assert.deepStrictEqual(stateOpArgs(p.ops), ["w", "previous-live", "green", "w", "previous-live-image", "app:1", "r", "retired-blue", "r", "live-green", ...ENDS_CANARY]);
    });

    it("back to the image live before the last switch is a rollback, and clears it so undoing it is not another", () => {
        const p = planSwitch(facts({ target: "blue", live: "green", oldRunningImage: "app:2", targetImage: "app:1", previousLiveImage: "app:1" }));
        assert.strictEqual(p.rollback, "rollback: back to app:1 on blue (from app:2)");
        assert.deepStrictEqual(stateOpArgs(p.ops).slice(0, 5), ["w", "previous-live", "green", "r", "previous-live-image"]);
        const again = planSwitch(facts({ oldRunningImage: "app:1", targetImage: "app:2", previousLiveImage: "" }));
        assert.strictEqual(again.rollback, undefined, "releasing the rolled-back image again is a roll forward");
    });

    it("run twice: the route already moved, only the records are written again", () => {
        const p = planSwitch(facts({ live: "green" }));
        assert.deepStrictEqual(stateOpArgs(p.ops), ["w", "previous-live", "green", "r", "retired-green", ...ENDS_CANARY]);
        assert.deepStrictEqual(p.lines, ["live listener already routes to green"]);
    });

    it("the first release (nothing runs in the other colour): no image records, no ledger", () => {
        const p = planSwitch(facts({ oldRunningImage: "" }));
        assert.deepStrictEqual(stateOpArgs(p.ops), ["w", "previous-live", "blue", "r", "retired-green", "w", "live-green", "", ...ENDS_CANARY]);
    });

    it("reads the verify probe's last line; anything else is a failure that says so", () => {
        assert.deepStrictEqual(readVerify("5 no request made\n"), { ok: 5, last: "no request made" });
        assert.deepStrictEqual(readVerify("0 status 502, routed to green, app colour ?"), { ok: 0, last: "status 502, routed to green, app colour ?" });
        assert.deepStrictEqual(readVerify(""), { ok: 0, last: "no answer from the probe" });
    });
});

describe("drain decisions (engine/drain-rules.ts)", () => {
    const procNetTcp = [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
        "   1: 010014AC:C350 820014AC:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2 1",
        "   2: 010014AC:C351 820014AC:1F90 06 00000000:00000000 00:00000000 00000000     0        0 3 1",
        "   3: 010014AC:C352 830014AC:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4 1",
        "   4: 010014AC:C353 840014AC:1F90 02 00000001:00000000 01:00000064 00000000     0        0 5 1",
    ].join("\n");

    it("writes an address as /proc/net/tcp does: little-endian hex, then the port", () => {
        assert.strictEqual(procTcpAddress("172.20.0.130", 8080), "820014AC:1F90");
        assert.strictEqual(procTcpAddress("10.0.0.5", 80), "0500000A:0050");
        assert.throws(() => procTcpAddress("10.0.0", 80), /not an IPv4 address/);
    });

    it("counts established and still-connecting connections to the old replicas only (not listening, not TIME_WAIT, not others)", () => {
        assert.strictEqual(establishedTo(procNetTcp, [procTcpAddress("172.20.0.130", 8080)]), 1);
        assert.strictEqual(establishedTo(procNetTcp, [procTcpAddress("172.20.0.132", 8080)]), 1, "SYN_SENT: a request routed there just before the switch");
        assert.strictEqual(establishedTo(procNetTcp, [procTcpAddress("172.20.0.130", 8080), procTcpAddress("172.20.0.131", 8080)]), 2);
        assert.strictEqual(establishedTo(procNetTcp, [procTcpAddress("172.20.0.130", 9090)]), 0);
    });

    it("finds the nginx workers still shutting down after a reload (retire's drain waits for them), not other processes", () => {
        const titles = "1 nginx: master process nginx -g daemon off; \n6 nginx: worker process \n7 nginx: worker process is shutting down \n9 sh -c echo shutting down\n";
        assert.deepStrictEqual(nginxWorkers(titles), { serving: ["6"], shutting: ["7"] });
        assert.deepStrictEqual(nginxWorkers("6 nginx: worker process \n"), { serving: ["6"], shutting: [] });
    });

    it("after nginx -s reload: waits while a worker from before still serves, drains while one shuts down, done when none is left", () => {
        const titles = (...lines: string[]) => lines.join("\n") + "\n";
        const before = nginxWorkers(titles("1 nginx: master process nginx -g daemon off; ", "6 nginx: worker process ", "7 nginx: worker process ", "30 sh -c x"));
        assert.deepStrictEqual(before, { serving: ["6", "7"], shutting: [] });
        // The reload returned; the master has not told the old workers yet (seen in the real proxy for about 50-300 ms).
        assert.strictEqual(reloadStage(before.serving, nginxWorkers(titles("6 nginx: worker process ", "7 nginx: worker process ", "20 nginx: worker process "))), "waiting");
        assert.strictEqual(reloadStage(before.serving, nginxWorkers(titles("6 nginx: worker process is shutting down ", "20 nginx: worker process ", "21 nginx: worker process "))), "draining");
        assert.strictEqual(reloadStage(before.serving, nginxWorkers(titles("20 nginx: worker process ", "21 nginx: worker process "))), "done");
        // A worker still shutting down from an earlier reload is not one of these.
        assert.strictEqual(reloadStage(["6"], nginxWorkers(titles("3 nginx: worker process is shutting down ", "20 nginx: worker process "))), "done");
        assert.strictEqual(reloadStage([], nginxWorkers("")), "done", "nothing read before: nothing to wait for");
    });

    it("a look that could not be read is never drained: the drain looks again, and stops anyway only when its time is up", () => {
        assert.strictEqual(drainNext({ conns: 0, shutting: 0 }, false), "drained");
        assert.strictEqual(drainNext({ conns: 0, shutting: 0 }, true), "drained", "drained at the last moment is drained");
        assert.strictEqual(drainNext({ conns: 2, shutting: 0 }, false), "again");
        assert.strictEqual(drainNext({ conns: 0, shutting: 1 }, false), "again");
        assert.strictEqual(drainNext({ conns: 1, shutting: 0 }, true), "time-up");
        assert.strictEqual(drainNext(undefined, false), "again");
        assert.strictEqual(drainNext(undefined, true), "time-up");
    });

    it("the drain looks every 100 ms while idle keep-alive connections close, then every 250 ms", () => {
        assert.strictEqual(drainPollMs(0), 100);
        assert.strictEqual(drainPollMs(DRAIN_FAST_MS - 1), 100);
        assert.strictEqual(drainPollMs(DRAIN_FAST_MS), 250);
        assert.strictEqual(drainPollMs(15000), 250);
    });
});

describe("data steps' decisions (engine/migrate.ts, engine/backup.ts)", () => {
    it("a migration command is a JSON list of non-empty one-line arguments, nothing else", () => {
        assert.deepStrictEqual(migrationArgs('["node","migrate.js","expand"]'), ["node", "migrate.js", "expand"]);
        for (const bad of ["node migrate.js", "[]", '[""]', '["a\\nb"]', '["a",1]', '{"a":1}', '"node"']) assert.strictEqual(migrationArgs(bad), undefined, bad);
    });

    it("a dump's name: the stack, the UTC time to the millisecond, the images, each byte outside [A-Za-z0-9._-] as _", () => {
        assert.strictEqual(dumpName("proj-dev", new Date("2026-12-03T06:00:00.123Z"), "registry:5000/app:1.0", "none"), "proj-dev--20261203T060000123Z--registry_5000_app_1.0--to--none");
        assert.strictEqual(safeName("a é/b"), "a____b", "é is two bytes");
    });
});
