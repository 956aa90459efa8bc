// The app's own variables and secrets (issue 15) and the security review's
// program-level fixes (issue 16), on the resources the program declares
// under Pulumi's mocks.
import * as assert from "assert";
import { REDIS_COMMAND } from "../../components/redis";
import { runningValueDigests, valueDigests } from "../../lib/valuedigests";
import { BOTH_RUNNING, diffRuns, EMPTY_HOST, get, labelsOf, runProgram, RunResult, SECRET_SIG, unwrapSecrets } from "./mocks";

const staged = {
    liveColor: "blue",
    replicas: 2,
    slots: {
        blue: { image: "app:1.0.0", env: { FEATURE_X: "off", NODE_ENV: "production" } },
        green: { image: "app:1.0.0", env: { FEATURE_X: "on", NODE_ENV: "production" } },
    },
};
const STRIPE = "sk_live_0123456789abcdef";
const secrets = { slotSecrets: { blue: { STRIPE_KEY: STRIPE }, green: { STRIPE_KEY: STRIPE, SENTRY_DSN: "https://k3y@sentry.example/1" } } };
const host = BOTH_RUNNING;

/** Every plaintext occurrence of `value` outside a secret wrapper, by resource. */
function plaintextIn(run: RunResult, value: string): string[] {
    const found: string[] = [];
    for (const r of run.resources.values()) {
        const text = JSON.stringify(r.inputs, (_k, v) => (v && typeof v === "object" && v[SECRET_SIG] ? "[secret]" : v));
        if (text.includes(value)) found.push(r.name);
    }
    return found;
}

const envList = (run: RunResult, name: string): string[] => unwrapSecrets(get(run, name).inputs.envs);

describe("app environment and the security fixes (Pulumi mocks)", function () {
    this.timeout(30000);

    it("each colour gets its own plain and secret variables, after which Switchyard's own come", async () => {
        const run = await runProgram({ config: { ...staged, ...secrets }, secrets: ["slotSecrets"], host });
        const green = envList(run, "release-app-green-1");
        for (const want of ["FEATURE_X=on", "NODE_ENV=production", `STRIPE_KEY=${STRIPE}`, "SENTRY_DSN=https://k3y@sentry.example/1", "PORT=3000", "SWITCHYARD_COLOR=green"]) {
            assert.ok(green.includes(want), `green has ${want}: ${green.join(" ")}`);
        }
        assert.ok(envList(run, "release-app-blue-1").includes("FEATURE_X=off"));
        assert.ok(!envList(run, "release-app-blue-1").some((e) => e.startsWith("SENTRY_DSN=")), "blue has only its own secrets");
        assert.ok(green.indexOf("PORT=3000") > green.indexOf(`STRIPE_KEY=${STRIPE}`), "Switchyard's variables come last");
        assert.ok(get(run, "release-app-green-1").inputs.envs[SECRET_SIG], "the whole envs list is secret");
    });

    it("no secret value is in plaintext in any resource's inputs; a reviewer reads plain values and secret names", async () => {
        const run = await runProgram({ config: { ...staged, ...secrets }, secrets: ["slotSecrets"], host });
        assert.deepStrictEqual(plaintextIn(run, STRIPE), []);
        assert.deepStrictEqual(plaintextIn(run, "k3y@sentry"), []);
        const labels = labelsOf(get(run, "release-app-green-1"));
        assert.strictEqual(labels["switchyard.env"], "FEATURE_X=on\nNODE_ENV=production");
        assert.strictEqual(labels["switchyard.secret-env"], "SENTRY_DSN,STRIPE_KEY");
    });

    it("an environment change is a release of that colour: the other colour's containers stay as they are", async () => {
        const before = await runProgram({ config: staged, host });
        const after = await runProgram({ config: { ...staged, slots: { ...staged.slots, green: { ...staged.slots.green, env: { FEATURE_X: "on", NODE_ENV: "production", NEW_FLAG: "1" } } } }, host });
        const diff = diffRuns(before, after);
        assert.deepStrictEqual(diff.changed.filter((n) => /^release-app-blue-\d$/.test(n)), [], "live blue is not recreated");
        assert.deepStrictEqual(diff.changed.filter((n) => /^release-app-green-\d$/.test(n)), ["release-app-green-1", "release-app-green-2"], "idle green gets the new variable");
        assert.deepStrictEqual([...diff.created, ...diff.deleted], []);
    });

    it("a health path with & and ? is data for the gate and verify, and no app container runs a shell health check", async () => {
        const path = "/health?a=1&b=2";
        const run = await runProgram({ config: { ...staged, health: { path } }, host });
        assert.strictEqual(get(run, "release-app-blue-gate").inputs.environment.HEALTH_PATH, path);
        assert.strictEqual(get(run, "release-verify").inputs.environment.HEALTH_PATH, path);
        for (const name of ["release-app-blue-1", "release-app-green-1"]) assert.strictEqual(get(run, name).inputs.healthcheck, undefined, `${name}: opt-in only`);
        const opted = await runProgram({ config: { ...staged, health: { path, command: ["/app", "health", path] } }, host });
        assert.deepStrictEqual(get(opted, "release-app-blue-1").inputs.healthcheck.tests, ["CMD", "/app", "health", path]);
    });

    it("the preview listener binds loopback by default, apart from a public live listener", async () => {
        const listens = (run: Awaited<ReturnType<typeof runProgram>>) => [...String(get(run, "proxy-config").inputs.stdin).matchAll(/^\s*listen ([\d.]+:\d+);/gm)].map((m) => m[1]);
        const run = await runProgram({ config: { ...staged, proxy: { bindAddress: "0.0.0.0" } }, host });
        assert.deepStrictEqual(listens(run), ["0.0.0.0:8080", "127.0.0.1:8081"]);
        const open = await runProgram({ config: { ...staged, proxy: { previewBindAddress: "0.0.0.0", publicPreview: true } }, host });
        assert.deepStrictEqual(listens(open), ["127.0.0.1:8080", "0.0.0.0:8081"]);
    });

    it("an IPv6 bind address makes well-formed URLs", async () => {
        const run = await runProgram({ config: { ...staged, liveColor: "blue", proxy: { bindAddress: "::", previewBindAddress: "::1" } }, host });
        assert.strictEqual(run.outputs.liveUrl, "http://[::1]:8080");
        assert.strictEqual(run.outputs.previewUrl, "http://[::1]:8081");
        assert.ok(new URL(String(run.outputs.liveUrl)));
    });

    it("passwords with @ / # ? are percent-encoded in DATABASE_URL and REDIS_URL, and decode back", async () => {
        const pw = "p@ss/w#rd?x%y:z 0123456789";
        const run = await runProgram({ config: { ...staged, postgresPassword: pw, redisPassword: pw }, secrets: ["postgresPassword", "redisPassword"], host });
        const env = envList(run, "release-app-blue-1");
        for (const key of ["DATABASE_URL", "REDIS_URL"]) {
            const url = new URL(env.find((e) => e.startsWith(`${key}=`))!.slice(key.length + 1));
            assert.strictEqual(decodeURIComponent(url.password), pw, key);
            // The host survives: the service's fixed address on the backend network (no DNS per connection).
            const service = get(run, key === "DATABASE_URL" ? "postgres-container" : "redis-container").inputs.networksAdvanced[0];
            assert.strictEqual(url.hostname, service.ipv4Address, `${key}: the host survives`);
        }
    });

    it("Redis gets its password as config on stdin, never as an argument", async () => {
        const run = await runProgram({ config: staged, host });
        const cmd = get(run, "redis-container").inputs.command as string[];
        assert.deepStrictEqual(cmd, REDIS_COMMAND);
        assert.ok(!cmd.join(" ").includes("--requirepass"), "no --requirepass on redis-server's command line");
    });

    it("any change that runs the expand migration again takes a fresh backup first", async () => {
        const withMigration = { ...staged, liveColor: "blue", migrations: { command: ["node", "migrate.js", "expand"] } };
        const a = await runProgram({ config: withMigration, host: { ...host, route: "green" } });
        const b = await runProgram({ config: { ...withMigration, migrations: { command: ["node", "migrate.js", "expand", "--v2"] } }, host: { ...host, route: "green" } });
        const changed = diffRuns(a, b).changed;
        assert.ok(changed.includes("release-migrate-expand-run"), `the migration runs again: ${changed.join(", ")}`);
        assert.ok(changed.includes("release-backup-dump"), `so does the backup before it: ${changed.join(", ")}`);
    });
});

describe("variables set once for both colours (Pulumi mocks)", function () {
    this.timeout(30000);
    const shared = {
        liveColor: "blue",
        standby: "keep",
        env: { GREETING: "v2", NODE_ENV: "production" },
        appSecrets: { SESSION_KEY: "shared-session-key-0123" },
        slots: { blue: { image: "app:1.0.0" }, green: { image: "app:1.0.0", env: { NODE_ENV: "staging" } } },
    };
    const ignored = (run: RunResult, name: string) => get(run, name).ignoreChanges;

    it("both colours get the shared values, their own over them; the secret ones stay secret", async () => {
        const run = await runProgram({ config: shared, secrets: ["appSecrets"], host: EMPTY_HOST });
        const green = envList(run, "release-app-green-1");
        for (const want of ["GREETING=v2", "NODE_ENV=staging", "SESSION_KEY=shared-session-key-0123"]) assert.ok(green.includes(want), `green has ${want}`);
        assert.ok(envList(run, "release-app-blue-1").includes("NODE_ENV=production"));
        assert.deepStrictEqual(plaintextIn(run, "shared-session-key-0123"), []);
        assert.deepStrictEqual(ignored(run, "release-app-blue-1"), ["logOpts"], "nothing runs yet: every colour takes the current values");
    });

    it("a running colour that is or goes live keeps its values; the idle one takes the current ones (a release stages them)", async () => {
        // Blue live, both running app:1.0.0: blue keeps; green (standby) is staged with the current values.
        const run = await runProgram({ config: shared, secrets: ["appSecrets"], host });
        assert.deepStrictEqual(ignored(run, "release-app-blue-1"), ["envs", "labels", "uploads", "hosts", "logOpts"]);
        assert.deepStrictEqual(ignored(run, "release-app-green-2"), ["logOpts"]);
        // A switch to green (a rollback to a running colour): green keeps what it was staged with, blue keeps its own.
        const sw = await runProgram({ config: { ...shared, liveColor: "green" }, secrets: ["appSecrets"], host });
        assert.deepStrictEqual(ignored(sw, "release-app-green-1"), ["envs", "labels", "uploads", "hosts", "logOpts"]);
        assert.deepStrictEqual(ignored(sw, "release-app-blue-1"), ["envs", "labels", "uploads", "hosts", "logOpts"]);
        // A new image for green: its release carries the current values.
        const rel = await runProgram({ config: { ...shared, liveColor: "green", slots: { ...shared.slots, green: { image: "app:2.0.0" } } }, secrets: ["appSecrets"], host });
        assert.deepStrictEqual(ignored(rel, "release-app-green-1"), ["logOpts"]);
    });

    it("after a release the kept colour keeps what it ran until config holds something new (the no-op stays a no-op; a later change is staged)", async () => {
        // Green was released with GREETING v2; blue, switched away from and kept, runs v1.
        const runs = (greeting: string, nodeEnv: string) => valueDigests({ GREETING: greeting, NODE_ENV: nodeEnv, SESSION_KEY: "shared-session-key-0123" });
        const released = { ...BOTH_RUNNING, route: "green" as const, running: { blue: { image: "app:1.0.0", containers: [], values: runs("v1", "production") }, green: { image: "app:1.0.0", containers: [], values: runs("v2", "staging") } } };
        const after = { ...shared, liveColor: "green" };
        const noop = await runProgram({ config: after, secrets: ["appSecrets"], host: released });
        assert.deepStrictEqual(ignored(noop, "release-app-blue-1"), ["envs", "labels", "uploads", "hosts", "logOpts"], "blue keeps v1: the rollback target is what ran");
        // A shared value changed since the release: staged on blue.
        const changedShared = await runProgram({ config: { ...after, env: { ...shared.env, GREETING: "v3" } }, secrets: ["appSecrets"], host: released });
        assert.deepStrictEqual(ignored(changedShared, "release-app-blue-1"), ["logOpts"]);
        // A changed secret counts, though the program sees no secret in the host's answer.
        const rotated = await runProgram({ config: { ...after, appSecrets: { SESSION_KEY: "rotated-session-key-4567" } }, secrets: ["appSecrets"], host: released });
        assert.deepStrictEqual(ignored(rotated, "release-app-blue-1"), ["logOpts"]);
        // Blue's own override changed: staged on blue.
        const own = await runProgram({ config: { ...after, slots: { ...shared.slots, blue: { image: "app:1.0.0", env: { NODE_ENV: "qa" } } } }, secrets: ["appSecrets"], host: released });
        assert.deepStrictEqual(ignored(own, "release-app-blue-1"), ["logOpts"]);
        // What the host runs unknown (an older probe): staged, as before.
        const unknown = await runProgram({ config: after, secrets: ["appSecrets"], host: { ...released, running: { blue: { image: "app:1.0.0", containers: [] }, green: { image: "app:1.0.0", containers: [] } } } });
        assert.deepStrictEqual(ignored(unknown, "release-app-blue-1"), ["logOpts"]);
    });

    it("under standby retire a rollback brings the retired colour back with the variables it ran; with a change pending, the current ones", async () => {
        // Green live with what config says now; blue retired with app:1.0.0, recorded with v1 and an older secret.
        const greenRuns = valueDigests({ GREETING: "v2", NODE_ENV: "staging", SESSION_KEY: "shared-session-key-0123" });
        const retired = { ...EMPTY_HOST, route: "green" as const, running: { green: { image: "app:1.0.0", containers: [], values: greenRuns } }, retired: { blue: "app:1.0.0" }, retiredImageId: { blue: `sha256:${"ab".repeat(32)}` } };
        const stored = { "values-blue-record": { keepers: { env: JSON.stringify({ GREETING: "v1", NODE_ENV: "production" }), secrets: JSON.stringify({ SESSION_KEY: "older-session-key-9876" }) } } };
        const rollback = { ...shared, standby: "retire", liveColor: "blue" };
        const run = await runProgram({ config: rollback, secrets: ["appSecrets"], host: retired, stored });
        const blue = envList(run, "release-app-blue-1");
        for (const want of ["GREETING=v1", "NODE_ENV=production", "SESSION_KEY=older-session-key-9876"]) assert.ok(blue.includes(want), `blue comes back with ${want}: ${blue.join(" ")}`);
        assert.ok(!blue.includes("GREETING=v2"));
        assert.deepStrictEqual(ignored(run, "values-blue-record"), ["keepers"], "the record stays as blue ran");
        assert.strictEqual(labelsOf(get(run, "release-app-blue-1"))["switchyard.env"], "GREETING=v1\nNODE_ENV=production");
        assert.deepStrictEqual(plaintextIn(run, "older-session-key-9876"), []);
        assert.deepStrictEqual(plaintextIn(run, "shared-session-key-0123"), [], "the record's inputs hold the secret wrapped");
        // A shared value changed since green's release: the switch releases it to blue, and the record follows.
        const pending = await runProgram({ config: { ...rollback, env: { ...shared.env, GREETING: "v3" } }, secrets: ["appSecrets"], host: retired, stored });
        assert.ok(envList(pending, "release-app-blue-1").includes("GREETING=v3"));
        assert.deepStrictEqual(ignored(pending, "values-blue-record"), []);
        // A new image for blue is a release: the current values.
        const release = await runProgram({ config: { ...rollback, slots: { ...shared.slots, blue: { image: "app:2.0.0" } } }, secrets: ["appSecrets"], host: retired, stored });
        assert.ok(envList(release, "release-app-blue-1").includes("GREETING=v2"));
    });

    it("a container's variables are read as digests of the app's own names only, equal exactly when the values are", () => {
        const labels = { "switchyard.env": "GREETING=hello\nMULTI=a", "switchyard.secret-env": "SESSION_KEY" };
        const env = ["GREETING=hello", "MULTI=a", "SESSION_KEY=k=1", "DATABASE_URL=postgres://app:pw@db/app", "PATH=/usr/bin"];
        const got = runningValueDigests(labels, env);
        assert.deepStrictEqual(Object.keys(got).sort(), ["GREETING", "MULTI", "SESSION_KEY"]);
        assert.deepStrictEqual(got, valueDigests({ GREETING: "hello", MULTI: "a", SESSION_KEY: "k=1" }));
        assert.notStrictEqual(got.SESSION_KEY, valueDigests({ SESSION_KEY: "k=2" }).SESSION_KEY);
        assert.ok(!JSON.stringify(got).includes("k=1"), "no value in a digest map");
        assert.deepStrictEqual(runningValueDigests(null, null), {});
    });

    it("a shared variable and a colour's secret of one name, or a shared secret and a colour's variable, are refused, naming both", async () => {
        await assert.rejects(
            runProgram({ config: { ...shared, slotSecrets: { blue: { GREETING: "x".repeat(5) } } }, secrets: ["appSecrets", "slotSecrets"], host }),
            /slotSecrets\.blue\.GREETING = \[secret\]: is also a plain variable of both colours \(env\.GREETING\)/,
        );
        await assert.rejects(
            runProgram({ config: { ...shared, slots: { blue: { image: "app:1.0.0", env: { SESSION_KEY: "x" } } } }, secrets: ["appSecrets"], host }),
            /slots\.blue\.env\.SESSION_KEY = "x": is also a secret of both colours \(appSecrets\.SESSION_KEY\)/,
        );
        await assert.rejects(runProgram({ config: { ...shared, appSecrets: { SESSION_KEY: "s" } }, host }), /switchyard:appSecrets: is stored in plaintext; set it with `pulumi config set --secret --path appSecrets\.<NAME> <value>`/);
    });

    it("a stack without shared values keeps exactly its resources", async () => {
        const run = await runProgram({ config: staged, host });
        assert.deepStrictEqual(ignored(run, "release-app-blue-1"), ["logOpts"]);
    });
});
