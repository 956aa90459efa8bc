// npm run exec and npm run logs, their decisions without Docker (ops/oneoff.ts,
// ops/logs.ts). Both run against a real stack in test/scripts/status.test.ts.
import * as assert from "assert";
import { mergeLogs, sinceProblem } from "../../ops/logs";
import { oneOffPlan, ReplicaInspect } from "../../ops/oneoff";

const replica: ReplicaInspect = {
    Name: "/sy-local-app-blue-1",
    Image: "sha256:abc",
    Config: { Env: ["DATABASE_URL=postgres://app:s3cret-pw@10.0.0.2/app", "FEATURE=a=b", "PATH=/usr/bin"], User: "10001:10001", Labels: {} },
    NetworkSettings: { Networks: { "sy-local-frontend": {}, "sy-local-backend": {} } },
};
const opts = { name: "sy-local-exec-blue-1a2b3c", stack: "sy/local", colour: "blue", tty: false, command: ["node", "-e", "1"] };

describe("one-off commands and logs (ops/oneoff.ts, ops/logs.ts)", () => {
    it("a one-off gets the replica's image by id, user, networks and variables, every value by name only", () => {
        const p = oneOffPlan(replica, opts);
        assert.deepStrictEqual(p.env, { DATABASE_URL: "postgres://app:s3cret-pw@10.0.0.2/app", FEATURE: "a=b", PATH: "/usr/bin" });
        assert.ok(!p.create.some((a) => a.includes("s3cret")), "no value on the command line");
        assert.deepStrictEqual(p.create.slice(p.create.indexOf("--") + 1), ["sha256:abc", "node", "-e", "1"], "exec form after --");
        assert.ok(p.create.join(" ").includes("-e DATABASE_URL -e FEATURE -e PATH"));
        assert.ok(p.create.join(" ").includes("--label switchyard.role=job"), "never an app replica: not routed, healed or counted");
        assert.ok(p.create.includes("--rm") && p.create.includes("-i") && !p.create.includes("-t"));
        assert.deepStrictEqual([p.create[p.create.indexOf("--network") + 1], p.connect], ["sy-local-backend", ["sy-local-frontend"]]);
        assert.strictEqual(p.create[p.create.indexOf("--user") + 1], "10001:10001");
        assert.ok(oneOffPlan(replica, { ...opts, tty: true }).create.includes("-t"), "a TTY when stdin is one");
        assert.ok(!p.create.includes("--add-host"));
        // On a host that reaches the data services over TLS, their name resolves as it does in the replica.
        const tls = oneOffPlan({ ...replica, HostConfig: { ExtraHosts: ["switchyard-data:10.0.0.11"] } }, opts);
        assert.deepStrictEqual(tls.create.slice(tls.create.indexOf("--add-host"), tls.create.indexOf("--add-host") + 2), ["--add-host", "switchyard-data:10.0.0.11"]);
    });

    it("refuses no command, a variable the docker CLI would read, and a replica on no network", () => {
        assert.throws(() => oneOffPlan(replica, { ...opts, command: [] }), /no command given: npm run exec -- \[--stack NAME\] -- COMMAND/);
        assert.throws(() => oneOffPlan({ ...replica, Config: { Env: ["DOCKER_HOST=tcp://evil:2375"] } }, opts), /variable named DOCKER_HOST, which the docker CLI itself reads/);
        assert.throws(() => oneOffPlan({ ...replica, NetworkSettings: { Networks: {} } }, opts), /sy-local-app-blue-1 is on no network/);
    });

    it("logs: --since is a duration or a time; lines of several replicas merge in time order, each with its prefix", () => {
        for (const ok of ["30s", "10m", "2h", "2026-12-03T10:00:00Z", "2026-12-03T10:00:00.5+01:00"]) assert.strictEqual(sinceProblem(ok), undefined, ok);
        for (const bad of ["10", "-5m", "1d", "yesterday", "10m; rm -rf /"]) assert.match(sinceProblem(bad) ?? "", /must be a duration such as 30s/, bad);
        const merged = mergeLogs([
            { prefix: "blue-1", lines: ["2026-12-03T10:00:01.5Z b", "2026-12-03T10:00:00.123456789Z a", ""] },
            { prefix: "blue-2", lines: ["2026-12-03T10:00:01.25Z c", "2026-12-03T10:00:01.5Z d"] },
        ]);
        assert.deepStrictEqual(merged, ["blue-1 | a", "blue-2 | c", "blue-1 | b", "blue-2 | d"]);
    });
});
