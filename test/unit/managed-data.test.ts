// A managed Postgres and Redis (postgresUrl, redisUrl), under Pulumi's mocks:
// no container, volume or password of them is declared; the slots, the
// backup and the migrations use the URLs, which stay secret everywhere.
import * as assert from "assert";
import { byType, get, runProgram, SECRET_SIG, SECRET_SIG_VALUE, unwrapSecrets } from "./mocks";

const CONTAINER = "docker:index/container:Container";
const PG_URL = "postgres://shop:s3cr%40t-pass-1234@db.internal.example:6432/shop?sslmode=require";
const REDIS_URL = "rediss://:r3dis-pass-123456@cache.internal.example:6380/0";
const managed = {
    liveColor: "green",
    slots: { blue: { image: "app:1.0.0" }, green: { image: "app:2.0.0" } },
    postgresUrl: PG_URL,
    redisUrl: REDIS_URL,
    migrations: { command: ["node", "migrate.js"] },
};
const onBlue = { route: "blue" as const, running: { blue: { image: "app:1.0.0", containers: [] }, green: { image: "app:2.0.0", containers: [] } }, retired: {}, swapLimit: true, stopped: [], networks: { taken: [] } };

describe("managed Postgres and Redis (Pulumi mocks)", function () {
    this.timeout(30000);

    it("declares no data container, volume or password; the slots get the URLs as secrets", async () => {
        const run = await runProgram({ config: managed, secrets: ["postgresUrl", "redisUrl"], host: onBlue });
        const names = [...run.resources.keys()];
        assert.deepStrictEqual(names.filter((n) => /^(postgres|redis)-/.test(n)), ["postgres-client"], "only the pg_dump client image of the backup step");
        assert.ok(!byType(run, "random:index/randomPassword:RandomPassword").length, "no generated password");
        assert.deepStrictEqual(byType(run, "docker:index/volume:Volume").map((v) => v.name).sort(), ["backups-volume", "proxy-conf", "proxy-state"], "no data volume");
        const slot = get(run, "release-app-green-1");
        assert.strictEqual(slot.inputs.envs[SECRET_SIG], SECRET_SIG_VALUE, "the URLs reach the container inside a secret");
        const env = Object.fromEntries((unwrapSecrets(slot.inputs.envs) as string[]).map((e) => e.split(/=(.*)/s).slice(0, 2)));
        assert.strictEqual(env.DATABASE_URL, PG_URL);
        assert.strictEqual(env.REDIS_URL, REDIS_URL);
        assert.ok(!slot.deps.includes("postgres-container"));
        assert.ok(!byType(run, CONTAINER).some((c) => /postgres|redis/.test(c.name)));
    });

    it("the backup dumps the managed database over the frontend network by libpq's environment; the password stays secret; migrations run on the frontend network", async () => {
        const run = await runProgram({ config: managed, secrets: ["postgresUrl", "redisUrl"], host: onBlue });
        const dump = get(run, "release-backup-dump").inputs.environment;
        assert.strictEqual(dump.POSTGRES_CONTAINER, undefined);
        // Parts of the secret URL: secret in the step's inputs (state, preview) too.
        for (const key of ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSSLMODE"]) assert.strictEqual(dump[key][SECRET_SIG], SECRET_SIG_VALUE, `${key} is secret`);
        assert.deepStrictEqual(unwrapSecrets([dump.PGHOST, dump.PGPORT, dump.PGUSER, dump.PGDATABASE, dump.PGSSLMODE]), ["db.internal.example", "6432", "shop", "shop", "require"]);
        assert.strictEqual(dump.PG_IMAGE, "sha256:postgres:16-bookworm");
        assert.strictEqual(dump.BACKEND_NETWORK, "switchyard-staging-frontend");
        assert.strictEqual(dump.PGPASSWORD[SECRET_SIG], SECRET_SIG_VALUE);
        assert.strictEqual(unwrapSecrets(dump.PGPASSWORD), "s3cr@t-pass-1234", "the password percent-decoded");
        const migrate = get(run, "release-migrate-expand-run").inputs.environment;
        assert.strictEqual(migrate.BACKEND_NETWORK, "switchyard-staging-frontend", "a managed database is reached over a network with a route out");
        assert.strictEqual(migrate.DATABASE_URL[SECRET_SIG], SECRET_SIG_VALUE);
        // Nothing but a secret carries the URL, nor any part of it.
        for (const r of run.resources.values()) {
            const plain = JSON.stringify(r.inputs, (_k, v) => (v && typeof v === "object" && v[SECRET_SIG] ? "[secret]" : v));
            assert.ok(!plain.includes("s3cr") && !plain.includes("r3dis"), `${r.name} holds a password in plaintext`);
            assert.ok(!plain.includes("db.internal.example") && !plain.includes("cache.internal.example"), `${r.name} holds a managed server's address in plaintext`);
        }
    });

    it("with several hosts and both services managed, no data.address is needed and nothing is published", async () => {
        const hosts = [
            { name: "web-1", dockerHost: "ssh://deploy@web-1" },
            { name: "web-2", dockerHost: "ssh://deploy@web-2" },
        ];
        const run = await runProgram({ config: { ...managed, hosts }, secrets: ["postgresUrl", "redisUrl"] });
        assert.ok(!run.resources.has("networks-data"));
        const env = Object.fromEntries((unwrapSecrets(get(run, "web-2-release-app-green-1").inputs.envs) as string[]).map((e) => e.split(/=(.*)/s).slice(0, 2)));
        assert.strictEqual(env.DATABASE_URL, PG_URL, "every host uses the managed URL");
    });

    it("bad managed-service config is refused, naming the key and never the value", async () => {
        const cases: [Record<string, unknown>, string[], RegExp][] = [
            [{ postgresUrl: PG_URL }, ["redisUrl"], /switchyard:postgresUrl: is stored in plaintext; set it with `pulumi config set --secret postgresUrl <value>`/],
            [{ postgresUrl: "mysql://u:p@h/db" }, ["postgresUrl"], /switchyard:postgresUrl = \[secret\]: must start with postgres:\/\/ or postgresql:\/\//],
            [{ postgresUrl: "postgres://db.example:5432" }, ["postgresUrl"], /switchyard:postgresUrl = \[secret\]: must name a user and a database/],
            [{ redisUrl: "http://cache" }, ["redisUrl"], /switchyard:redisUrl = \[secret\]: must start with redis:\/\/ or rediss:\/\//],
            [{ postgresUrl: "postgres://u:p@169.254.169.254/db" }, ["postgresUrl"], /must not point at a link-local or cloud metadata address/],
            [{ postgresUrl: PG_URL, postgresPassword: "0123456789abcdefgh" }, ["postgresUrl", "postgresPassword"], /switchyard:postgresPassword = \[secret\]: is for the postgres container Switchyard runs; with postgresUrl there is none/],
            [{ redisUrl: REDIS_URL, hosts: [{ name: "a", dockerHost: "ssh://a" }, { name: "b", dockerHost: "ssh://b" }] }, ["redisUrl"], /switchyard:data\.address = \(not set\): is required with two or more hosts/],
        ];
        for (const [change, secrets, expected] of cases) {
            const config = { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } }, ...change };
            const err = await runProgram({ config, secrets }).then(
                () => assert.fail(`accepted ${JSON.stringify(change)}`),
                (e) => e,
            );
            assert.match(String(err.message), expected, JSON.stringify(change));
            for (const secret of ["s3cr", "r3dis", "169.254", "mysql", "db.example", "cache"]) {
                if (secrets.some((k) => JSON.stringify(change[k] ?? "").includes(secret))) assert.ok(!String(err.message).includes(secret), `the message repeats the secret value (${secret})`);
            }
        }
    });
});
