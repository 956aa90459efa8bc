// Several Docker hosts per stack, under Pulumi's mocks: each host gets its own
// provider, proxy, networks and slots; Postgres and Redis run on the first
// (the canary) or on data.host, published on data.address for the others; the hosts
// re-point in order, each batch after the one before it was promoted.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { HostState } from "../../lib/host";
import { parseConfig } from "../../lib/config";
import { rolloutBatches, stackHosts } from "../../lib/hosts";
import { parseCanaryHosts } from "../../engine/canary-hosts";
import { hostOrder } from "../../ops/plan";
import { REDIS_COMMAND, REDIS_TLS_COMMAND } from "../../components/redis";
import { byType, get, runProgram, RunResult, SECRET_SIG, SECRET_SIG_VALUE, unwrapSecrets } from "./mocks";

const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:local:Command";
const HOSTS = [
    { name: "web-1", dockerHost: "ssh://deploy@web-1" },
    { name: "web-2", dockerHost: "ssh://deploy@web-2", livePort: 9080, previewPort: 9081 },
    { name: "web-3", dockerHost: "ssh://deploy@web-3" },
];
const staged = {
    liveColor: "blue",
    slots: { blue: { image: "app:1.0.0" }, green: { image: "app:2.0.0" } },
    hosts: HOSTS,
    data: { address: "10.0.0.11" },
    // 3 hosts × 2 colours × 2 replicas × 10 + 5 = 125 connections in a release.
    postgres: { maxConnections: 200 },
    bake: { seconds: 60 },
    migrations: { command: ["node", "migrate.js"], contractCommand: ["node", "contract.js"] },
};
const switched = { ...staged, liveColor: "green" };
const onBlue: HostState = { route: "blue", running: { blue: { image: "app:1.0.0", containers: [] }, green: { image: "app:2.0.0", containers: [] } }, retired: {}, swapLimit: true, stopped: [], networks: { taken: [] } };
const everyHostOnBlue = Object.fromEntries(HOSTS.map((h) => [h.dockerHost, onBlue]));

/** The Docker host of the provider a resource was created with (its reference is urn::id). */
function providerHost(run: RunResult, ref: string): string {
    const urn = ref.slice(0, ref.lastIndexOf("::"));
    return get(run, urn.slice(urn.lastIndexOf("::") + 2).replace(/^switchyard-/, "")).inputs.host;
}

describe("several hosts per stack (Pulumi mocks)", function () {
    this.timeout(30000);

    it("a data network made with a way out is kept, with a warning, until network, postgres and redis may be re-created", async () => {
        const withEgress = Object.fromEntries(HOSTS.map((h) => [h.dockerHost, { ...onBlue, networks: { taken: [], data: { egress: true } } }]));
        const warnings: string[] = [];
        const warn = pulumi.log.warn;
        pulumi.log.warn = async (msg: string) => void warnings.push(msg);
        try {
            const kept = await runProgram({ config: staged, hostsByDocker: withEgress });
            assert.strictEqual(get(kept, "networks-data").inputs.options, undefined, "an upgrade alone must not re-create the data network");
            assert.strictEqual(warnings.filter((w) => /data network/.test(w)).length, 1);
            assert.match(warnings.find((w) => /data network/.test(w))!, /the data network switchyard-staging-data on host web-1 was made before it lost its way out.*SWITCHYARD_ALLOW_DELETE=network,postgres,redis pulumi up/);
            const madeSince = Object.fromEntries(HOSTS.map((h) => [h.dockerHost, { ...onBlue, networks: { taken: [], data: { egress: false } } }]));
            assert.ok(get(await runProgram({ config: staged, hostsByDocker: madeSince }), "networks-data").inputs.options, "one made since stays as it is");
            process.env.SWITCHYARD_ALLOW_DELETE = "network,postgres,redis";
            assert.deepStrictEqual(get(await runProgram({ config: staged, hostsByDocker: withEgress }), "networks-data").inputs.options, { "com.docker.network.bridge.enable_ip_masquerade": "false" });
            assert.strictEqual(warnings.filter((w) => /data network/.test(w)).length, 1);
        } finally {
            pulumi.log.warn = warn;
            delete process.env.SWITCHYARD_ALLOW_DELETE;
        }
    });

    it("each host gets its own provider, networks, proxy and both slots; the data services run on the first alone", async () => {
        const run = await runProgram({ config: staged });
        assert.deepStrictEqual(byType(run, "pulumi:providers:docker").map((p) => [p.name, p.inputs.host]).sort(), [
            ["docker", "ssh://deploy@web-1"],
            ["web-2-docker", "ssh://deploy@web-2"],
            ["web-3-docker", "ssh://deploy@web-3"],
        ]);
        // The first host keeps a one-host stack's names; the others are prefixed by their host name.
        for (const [prefix, dockerHost] of [["", "ssh://deploy@web-1"], ["web-2-", "ssh://deploy@web-2"], ["web-3-", "ssh://deploy@web-3"]]) {
            for (const name of ["proxy-container", "release-app-blue-1", "release-app-green-1", "networks-frontend", "networks-backend"]) {
                assert.strictEqual(providerHost(run, get(run, `${prefix}${name}`).provider), dockerHost, `${prefix}${name}`);
            }
            for (const step of ["gate", "repoint", "verify", "retire"]) {
                const env = get(run, `${prefix}release-${step}`).inputs.environment;
                assert.strictEqual(env.DOCKER_HOST, dockerHost, `${prefix}release-${step} runs against its own host`);
                assert.strictEqual(env.SWITCHYARD_HOST_NAME, dockerHost.slice("ssh://deploy@".length), "failures name the host");
            }
        }
        const containers = byType(run, CONTAINER).map((c) => c.name);
        assert.deepStrictEqual(containers.filter((n) => /postgres|redis/.test(n)).sort(), ["postgres-container", "redis-container"]);
        assert.strictEqual(providerHost(run, get(run, "postgres-container").provider), "ssh://deploy@web-1");
        // Published on data.address only, from the data network, not the internal backend.
        const pg = get(run, "postgres-container").inputs;
        assert.deepStrictEqual(pg.command, ["postgres", "-c", "max_connections=200"], "sized for every host's replicas");
        assert.deepStrictEqual(pg.ports, [{ internal: 5432, external: 5432, ip: "10.0.0.11", protocol: "tcp" }]);
        assert.deepStrictEqual(
            pg.networksAdvanced.map((n: { name: string }) => n.name),
            ["switchyard-staging-backend", "switchyard-staging-data"],
        );
        // Redis publishes its TLS port; its clear one stays on the backend network.
        assert.deepStrictEqual(get(run, "redis-container").inputs.ports, [{ internal: 6380, external: 6379, ip: "10.0.0.11", protocol: "tcp" }]);
        assert.deepStrictEqual(get(run, "redis-container").inputs.command, REDIS_TLS_COMMAND);
        assert.ok(run.resources.has("networks-data") && !run.resources.has("web-2-networks-data"), "one data network, on the first host");
        assert.deepStrictEqual(get(run, "networks-data").inputs.options, { "com.docker.network.bridge.enable_ip_masquerade": "false" }, "nothing on it reaches out");
        // Each host's delete guard has hooks of its own (hook names are unique in a program); the first keeps a one-host stack's.
        assert.deepStrictEqual(get(run, "release-app-blue-1").beforeDelete, ["switchyard-guard-app"]);
        assert.deepStrictEqual(get(run, "web-2-release-app-blue-1").beforeDelete, ["switchyard-guard-web-2-app"]);
        assert.deepStrictEqual(get(run, "web-3-proxy-container").beforeDelete, ["switchyard-guard-web-3-proxy"]);
        // web-2's listener ports are its own.
        assert.deepStrictEqual(
            [...String(get(run, "web-2-proxy-config").inputs.stdin).matchAll(/^\s*listen [\d.]+:(\d+);/gm)].map((m) => Number(m[1])).sort(),
            [9080, 9081],
        );
    });

    it("hosts[].networkPool: a host's networks take their /24s from its own pool, the others from network.pool", async () => {
        const hosts = (staged.hosts as Record<string, unknown>[]).map((h, i) => (i === 1 ? { ...h, networkPool: "10.222.0.0/16" } : h));
        const run = await runProgram({ config: { ...staged, hosts } });
        const subnet = (name: string) => get(run, name).inputs.ipamConfigs[0].subnet as string;
        for (const name of ["web-2-networks-frontend", "web-2-networks-backend"]) assert.match(subnet(name), /^10\.222\.\d+\.0\/24$/, name);
        for (const name of ["networks-frontend", "web-3-networks-backend"]) assert.match(subnet(name), /^172\.30\.\d+\.0\/24$/, name);
        assert.match(String(get(run, "web-2-proxy-config").inputs.stdin), /server 10\.222\.\d+\.131:3000 /, "web-2's upstreams name its own addresses");
    });

    it("the first host's slots reach Postgres and Redis on its backend network, the others at data.address; the URLs stay secret", async () => {
        const run = await runProgram({ config: staged });
        const env = (name: string) => Object.fromEntries((unwrapSecrets(get(run, name).inputs.envs) as string[]).map((e) => e.split(/=(.*)/s).slice(0, 2)));
        // On the data host: the services' fixed addresses on its backend network.
        const at = (c: string) => (get(run, c).inputs.networksAdvanced[0].ipv4Address as string).replace(/\./g, "\\.");
        assert.match(env("release-app-blue-1").DATABASE_URL, new RegExp(`^postgres://app:[^@]+@${at("postgres-container")}:5432/app$`));
        assert.match(env("release-app-blue-1").REDIS_URL, new RegExp(`^redis://:[^@]+@${at("redis-container")}:6379/0$`));
        for (const prefix of ["web-2-", "web-3-"]) {
            assert.match(env(`${prefix}release-app-green-1`).DATABASE_URL, /^postgres:\/\/app:[^@]+@switchyard-data:5432\/app\?sslmode=verify-full&sslrootcert=\/etc\/switchyard\/data-ca\.pem$/);
            assert.match(env(`${prefix}release-app-green-1`).REDIS_URL, /^rediss:\/\/:[^@]+@switchyard-data:6379\/0$/);
            assert.strictEqual(env(`${prefix}release-app-green-1`).SWITCHYARD_DATA_CA, "/etc/switchyard/data-ca.pem");
            assert.strictEqual(get(run, `${prefix}release-app-green-1`).inputs.envs[SECRET_SIG], SECRET_SIG_VALUE, "the URLs are inside a secret");
        }
    });

    it("the published Postgres and Redis speak TLS: the data-tls step on the data host makes the certificate; the other hosts' replicas, workers and migrations get it as their CA file", async () => {
        const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        const config = { ...switched, data: { host: "web-2", address: "10.0.0.12" }, processes: { worker: { kind: "worker", command: ["node", "worker.js"] } } };
        const run = await runProgram({ config, hostsByDocker: everyHostOnBlue, stored: { "data-tls": { stdout: `[data-tls 0.1s] made a certificate\n${PEM}` } } });
        const step = get(run, "data-tls");
        assert.strictEqual(step.inputs.create, "bash scripts/release/data-tls.sh");
        assert.strictEqual(step.inputs.environment.DOCKER_HOST, "ssh://deploy@web-2", "on the data host, where the key stays");
        assert.strictEqual(step.inputs.environment.DATA_ADDRESS, "10.0.0.12");
        assert.strictEqual(step.inputs.environment.REQUIRE_TLS, "1");
        assert.match(step.inputs.environment.BACKEND_SUBNET, /^\d+\.\d+\.\d+\.0\/24$/, "the backend network's subnet: every other address needs TLS");
        assert.deepStrictEqual([step.inputs.environment.POSTGRES_CONTAINER, step.inputs.environment.REDIS_CONTAINER], ["switchyard-staging-postgres", "switchyard-staging-redis"]);
        assert.ok(step.deps.includes("postgres-container") && step.deps.includes("redis-container"));
        assert.ok(!Object.values(step.inputs.environment).some((v) => /PRIVATE KEY|pw-/.test(JSON.stringify(v))), "no key and no password reach the step");
        const uploads = (name: string) => get(run, name).inputs.uploads as { file: string; content: string }[] | undefined;
        for (const prefix of ["", "web-3-"]) {
            assert.deepStrictEqual(uploads(`${prefix}release-app-green-1`), [{ file: "/etc/switchyard/data-ca.pem", content: PEM }], prefix);
            assert.deepStrictEqual(get(run, `${prefix}release-app-green-1`).inputs.hosts, [{ host: "switchyard-data", ip: "10.0.0.12" }], "the name in the URLs and the certificate, without DNS");
        }
        // The workers run on the canary (web-1), which reaches the data on web-2.
        assert.deepStrictEqual(uploads("release-processes-green-worker-1"), [{ file: "/etc/switchyard/data-ca.pem", content: PEM }]);
        assert.deepStrictEqual(get(run, "release-processes-green-worker-1").inputs.hosts, [{ host: "switchyard-data", ip: "10.0.0.12" }]);
        assert.strictEqual(uploads("web-2-release-app-green-1"), undefined, "the data host's own replicas use the backend network, in clear");
        assert.strictEqual(get(run, "web-2-release-app-green-1").inputs.hosts, undefined);
        assert.strictEqual(get(run, "release-migrate-expand-run").inputs.environment.DATA_CA, PEM);
    });

    it("a stack made before TLS keeps its clear Redis and URLs, with a warning, until redis may be re-created", async () => {
        const clearRedis = { ...everyHostOnBlue, "ssh://deploy@web-1": { ...onBlue, redisUser: "redis", redisTls: false } };
        const warnings: string[] = [];
        const warn = pulumi.log.warn;
        pulumi.log.warn = async (msg: string) => void warnings.push(msg);
        try {
            const kept = await runProgram({ config: staged, hostsByDocker: clearRedis });
            assert.deepStrictEqual(get(kept, "redis-container").inputs.command, REDIS_COMMAND, "an upgrade alone must not re-create Redis");
            assert.deepStrictEqual(get(kept, "redis-container").inputs.ports, [{ internal: 6379, external: 6379, ip: "10.0.0.11", protocol: "tcp" }]);
            assert.ok(!kept.resources.has("data-tls"));
            const env = Object.fromEntries((unwrapSecrets(get(kept, "web-2-release-app-green-1").inputs.envs) as string[]).map((e) => e.split(/=(.*)/s).slice(0, 2)));
            assert.match(env.DATABASE_URL, /:5432\/app$/);
            assert.match(env.REDIS_URL, /^redis:\/\//);
            assert.strictEqual(get(kept, "web-2-release-app-green-1").inputs.uploads, undefined);
            assert.match(warnings.join("\n"), /published to the other hosts in clear.*SWITCHYARD_ALLOW_DELETE=redis,live pulumi up --stack staging/);
            process.env.SWITCHYARD_ALLOW_DELETE = "redis,live";
            const moved = await runProgram({ config: staged, hostsByDocker: clearRedis });
            assert.deepStrictEqual(get(moved, "redis-container").inputs.command, REDIS_TLS_COMMAND);
            assert.ok(moved.resources.has("data-tls"));
            const made = { ...everyHostOnBlue, "ssh://deploy@web-1": { ...onBlue, redisUser: "redis", redisTls: true } };
            delete process.env.SWITCHYARD_ALLOW_DELETE;
            assert.ok((await runProgram({ config: staged, hostsByDocker: made })).resources.has("data-tls"), "a Redis made with TLS keeps it");
        } finally {
            pulumi.log.warn = warn;
            delete process.env.SWITCHYARD_ALLOW_DELETE;
        }
    });

    it("a release: the canary re-points after its backup and expand and bakes; web-2 re-points after the bake, web-3 after web-2's verify; contract after every retire", async () => {
        const run = await runProgram({ config: switched, hostsByDocker: everyHostOnBlue });
        const deps = (name: string) => get(run, name).deps;
        assert.ok(deps("release-repoint").includes("release-migrate-expand-run"));
        assert.ok(deps("release-bake").includes("release-verify"));
        assert.ok(deps("web-2-release-repoint").includes("release-bake"), "web-2 waits for the canary's bake");
        assert.ok(deps("web-3-release-repoint").includes("web-2-release-verify"), "web-3 waits for web-2's verify");
        assert.ok(!deps("web-3-release-repoint").includes("release-bake"));
        for (const retire of ["release-retire", "web-2-release-retire", "web-3-release-retire"]) assert.ok(deps("release-migrate-contract-run").includes(retire), retire);
        // Backup, migrations and the bake run once, on the canary.
        const commands = byType(run, COMMAND).map((c) => c.name);
        assert.deepStrictEqual(commands.filter((n) => /backup-dump|migrate|bake/.test(n)).sort(), ["release-backup-dump", "release-bake", "release-migrate-contract-run", "release-migrate-expand-run"]);
        for (const prefix of ["", "web-2-", "web-3-"]) assert.strictEqual(get(run, `${prefix}release-repoint`).inputs.environment.SWITCHYARD_COLOR, "green");
        assert.deepStrictEqual(
            (run.outputs.hosts as { name: string; liveColor: string; liveUrl: string }[]).map((h) => [h.name, h.liveColor, h.liveUrl]),
            [
                ["web-1", "green", "http://127.0.0.1:8080"],
                ["web-2", "green", "http://127.0.0.1:9080"],
                ["web-3", "green", "http://127.0.0.1:8080"],
            ],
        );
    });

    it("canary steps on every host: one step on the first host, once every host's new colour is ready; every proxy splits; its verify and bake know the other hosts; the next host still waits for its bake", async () => {
        const run = await runProgram({ config: { ...switched, canary: { steps: [10, 50] } }, hostsByDocker: everyHostOnBlue });
        const commands = byType(run, COMMAND).map((c) => c.name);
        assert.deepStrictEqual(commands.filter((n) => /canary/.test(n)), ["release-canary"]);
        const canary = get(run, "release-canary");
        // The first host is ready once its expand migration ran; the others once gated.
        for (const ready of ["release-migrate-expand-run", "web-2-release-gate", "web-3-release-gate"]) assert.ok(canary.deps.includes(ready), `the canary waits for ${ready}: ${canary.deps.join(", ")}`);
        assert.ok(get(run, "release-repoint").deps.includes("release-canary"));
        assert.ok(get(run, "web-2-release-repoint").deps.includes("release-bake"));
        for (const prefix of ["", "web-2-", "web-3-"]) assert.match(get(run, `${prefix}proxy-config`).inputs.stdin, /split_clients/, `${prefix}proxy splits`);
        const others = parseCanaryHosts(canary.inputs.environment.CANARY_HOSTS);
        assert.deepStrictEqual(others, [
            { name: "web-2", dockerHost: "ssh://deploy@web-2", proxy: "switchyard-staging-proxy", socket: true },
            { name: "web-3", dockerHost: "ssh://deploy@web-3", proxy: "switchyard-staging-proxy", socket: true },
        ]);
        for (const step of ["release-verify", "release-bake"]) assert.strictEqual(get(run, step).inputs.environment.CANARY_HOSTS, canary.inputs.environment.CANARY_HOSTS, step);
        for (const step of ["web-2-release-verify", "web-3-release-verify"]) assert.strictEqual(get(run, step).inputs.environment.CANARY_HOSTS, undefined, step);
        // Without canary steps no step knows the other hosts: their inputs are what they were.
        const plain = await runProgram({ config: switched, hostsByDocker: everyHostOnBlue });
        for (const step of ["release-verify", "release-bake"]) assert.strictEqual(get(plain, step).inputs.environment.CANARY_HOSTS, undefined, step);
    });

    it("data.host web-2: Postgres, Redis, the backups and the dump on web-2; the canary's slots and migrations use data.address; web-2's slots the backend", async () => {
        const run = await runProgram({ config: { ...switched, data: { host: "web-2", address: "10.0.0.12" } }, hostsByDocker: everyHostOnBlue });
        for (const name of ["postgres-container", "redis-container", "backups-volume", "web-2-networks-data"]) {
            assert.strictEqual(providerHost(run, get(run, name).provider), "ssh://deploy@web-2", `${name} on web-2`);
        }
        assert.ok(!run.resources.has("networks-data") && !run.resources.has("web-3-networks-data"), "one data network, on the data host");
        assert.deepStrictEqual(get(run, "postgres-container").inputs.ports, [{ internal: 5432, external: 5432, ip: "10.0.0.12", protocol: "tcp" }]);
        const env = (name: string) => Object.fromEntries((unwrapSecrets(get(run, name).inputs.envs) as string[]).map((e) => e.split(/=(.*)/s).slice(0, 2)));
        const pgAt = (get(run, "postgres-container").inputs.networksAdvanced[0].ipv4Address as string).replace(/\./g, "\\.");
        assert.match(env("web-2-release-app-green-1").DATABASE_URL, new RegExp(`^postgres://app:[^@]+@${pgAt}:5432/app$`));
        for (const prefix of ["", "web-3-"]) assert.match(env(`${prefix}release-app-green-1`).DATABASE_URL, /^postgres:\/\/app:[^@]+@switchyard-data:5432\/app\?sslmode=verify-full&sslrootcert=\/etc\/switchyard\/data-ca\.pem$/);
        // The dump runs on web-2 (where Postgres and the store are), still before the canary's re-point.
        const dump = get(run, "release-backup-dump");
        assert.strictEqual(dump.inputs.environment.DOCKER_HOST, "ssh://deploy@web-2");
        assert.strictEqual(dump.inputs.environment.SWITCHYARD_HOST_NAME, "web-2", "a failed dump names the data host");
        assert.strictEqual(dump.inputs.environment.BACKEND_NETWORK, "switchyard-staging-backend");
        assert.ok(get(run, "release-migrate-expand-run").deps.includes("release-backup-dump"));
        assert.ok(get(run, "release-repoint").deps.includes("release-migrate-expand-run"));
        // The migrations run on the canary, from the image it pulled, over the frontend network's route to data.address.
        const expand = get(run, "release-migrate-expand-run").inputs.environment;
        assert.strictEqual(expand.DOCKER_HOST, "ssh://deploy@web-1");
        assert.strictEqual(expand.BACKEND_NETWORK, "switchyard-staging-frontend");
        assert.match(unwrapSecrets(expand.DATABASE_URL) as string, /@switchyard-data:5432\/app\?sslmode=verify-full&sslrootcert=/);
        assert.ok("DATA_CA" in expand, "the migration's container gets the certificate its URL names");
        assert.strictEqual(expand.DATA_ADDRESS, "10.0.0.12", "and the address of the name it names");
        // Every host's slots start after the data services, wherever they run.
        for (const prefix of ["", "web-2-", "web-3-"]) assert.ok(get(run, `${prefix}release-app-green-1`).deps.includes("postgres-container"), prefix);
        const raw = Object.fromEntries(Object.entries({ ...switched, data: { host: "web-2", address: "10.0.0.12" } }).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
        assert.deepStrictEqual(hostOrder(parseConfig(raw, new Set(), "test"), [onBlue, onBlue, onBlue]).filter((l) => /^\d\./.test(l)).slice(0, 2), [
            "1. `web-1` (ssh://deploy@web-1): switch blue → green (canary; bakes 60 s)",
            "2. `web-2` (ssh://deploy@web-2): switch blue → green (re-points after web-1 baked, runs Postgres and Redis)",
        ]);
    });

    it("the data host does not move: with Postgres on web-1, data.host web-2 is refused, naming both hosts and what is allowed; nothing is declared", async () => {
        const withPostgres: HostState = { ...onBlue, postgresHealthcheck: ["CMD", "pg_isready"] };
        const err = await runProgram({ config: { ...staged, data: { host: "web-2", address: "10.0.0.12" } }, hostsByDocker: { ...everyHostOnBlue, "ssh://deploy@web-1": withPostgres } }).then(
            () => assert.fail("accepted a data host move"),
            (e) => e,
        );
        assert.match(
            String(err.message),
            /switchyard:data\.host = "web-2", but this stack's Postgres \(switchyard-staging-postgres\) is on host web-1: the data host cannot move while Postgres is there\. Allowed: data\.host "web-1" \(or unset\)/,
        );
        assert.deepStrictEqual(err.registered.filter((n: string) => n !== "switchyard"), [], "nothing declared");
        // Where it is, it stays: the same config with Postgres on web-2 goes ahead.
        await runProgram({ config: { ...staged, data: { host: "web-2", address: "10.0.0.12" } }, hostsByDocker: { ...everyHostOnBlue, "ssh://deploy@web-2": withPostgres } });
    });

    it("rollout.batchSize 2: both hosts after the canary re-point together, after its bake", async () => {
        const run = await runProgram({ config: { ...switched, rollout: { batchSize: 2 } }, hostsByDocker: everyHostOnBlue });
        for (const [host, other] of [["web-2", "web-3"], ["web-3", "web-2"]]) {
            const deps = get(run, `${host}-release-repoint`).deps;
            assert.ok(deps.includes("release-bake"), host);
            assert.ok(!deps.some((d) => d.startsWith(`${other}-`)), `${host} does not wait for ${other}, in its own batch`);
        }
        assert.deepStrictEqual(rolloutBatches(5, 2), [[0], [1, 2], [3, 4]]);
    });

    it("each host is planned from what it runs: a host that is already green has no switch to make", async () => {
        const onGreen: HostState = { ...onBlue, route: "green" };
        const run = await runProgram({ config: switched, hostsByDocker: { ...everyHostOnBlue, "ssh://deploy@web-1": onGreen } });
        // The canary stays green (retire has no colour to stop); web-2 and web-3 switch.
        assert.strictEqual(get(run, "release-retire").inputs.environment.RETIRE_COLOR, "");
        assert.strictEqual(get(run, "web-2-release-retire").inputs.environment.RETIRE_COLOR, "blue");
    });

    it("a one-host stack keeps its names and no step carries a host name", async () => {
        const run = await runProgram({ config: { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } } } });
        assert.ok(!byType(run, COMMAND).some((c) => "SWITCHYARD_HOST_NAME" in c.inputs.environment));
        assert.ok(!run.resources.has("networks-data"));
        assert.strictEqual(get(run, "postgres-container").inputs.ports, undefined, "published nowhere");
        assert.strictEqual(get(run, "postgres-container").inputs.command, undefined, "the image's own command: an existing stack's Postgres is not re-created");
        assert.deepStrictEqual((run.outputs.hosts as { name: string | null }[]).map((h) => h.name), [null]);
    });

    it("the PR plan (npm run plan) lists the hosts in release order, each with its own plan", () => {
        const raw = Object.fromEntries(Object.entries({ ...switched, rollout: { batchSize: 2 } }).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
        const cfg = parseConfig(raw, new Set(), "test");
        const onGreen: HostState = { ...onBlue, route: "green" };
        const lines = hostOrder(cfg, [onBlue, onBlue, onGreen]);
        assert.deepStrictEqual(lines.filter((l) => /^\d\./.test(l)), [
            "1. `web-1` (ssh://deploy@web-1): switch blue → green (canary, runs Postgres and Redis; bakes 60 s)",
            "2. `web-2` (ssh://deploy@web-2): switch blue → green (re-points after web-1 baked)",
            "3. `web-3` (ssh://deploy@web-3): green stays live (re-points after web-1 baked)",
        ]);
    });

    it("a release's connections fit Postgres: the app's pool size (connectionsPerReplica) or max_connections, and a managed server only when its limit is given", async () => {
        // A small pool fits the default: 3 × 2 × 2 × 5 + 5 = 65.
        const small = await runProgram({ config: { ...staged, postgres: { connectionsPerReplica: 5 } } });
        assert.strictEqual(get(small, "postgres-container").inputs.command, undefined);
        const managed = { ...staged, data: undefined, postgres: {}, postgresUrl: { secure: "postgres://app:pw@db.internal:5432/app" }, redisUrl: { secure: "redis://:pw@cache.internal:6379/0" } };
        const raw = (c: Record<string, unknown>) =>
            Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : ((v as { secure?: string }).secure ?? JSON.stringify(v))]));
        const secrets = new Set(["switchyard:postgresUrl", "switchyard:redisUrl"]);
        assert.doesNotThrow(() => parseConfig(raw(managed), secrets, "test"), "the managed server's limit is not known here");
        assert.throws(() => parseConfig(raw({ ...managed, postgres: { maxConnections: 100 } }), secrets, "test"), /switchyard:postgres\.maxConnections = 100: is 100, fewer than a release needs/);
    });

    it("with hosts, docker:host must be unset: one answer to where each host is", () => {
        const raw = Object.fromEntries(Object.entries(staged).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
        const cfg = parseConfig(raw, new Set(), "test");
        assert.throws(() => stackHosts(cfg, "switchyard", "unix:///var/run/docker.sock"), /docker:host = "unix:\/\/\/var\/run\/docker\.sock" and switchyard:hosts are both set/);
        assert.deepStrictEqual(stackHosts(cfg, "switchyard", undefined).map((h) => [h.name, h.prefix, h.endpoint.host, h.ports.livePort]), [
            ["web-1", "switchyard", "ssh://deploy@web-1", 8080],
            ["web-2", "switchyard-web-2", "ssh://deploy@web-2", 9080],
            ["web-3", "switchyard-web-3", "ssh://deploy@web-3", 8080],
        ]);
    });

    it("one host on a tcp:// engine needs client TLS: plain TCP is refused, naming where the host came from", () => {
        const cfg = parseConfig({ "switchyard:liveColor": "blue", "switchyard:slots": JSON.stringify({ blue: { image: "app:1" } }) }, new Set(), "test");
        assert.throws(() => stackHosts(cfg, "switchyard", "tcp://10.0.0.5:2375", {}), /^Error: config docker:host = "tcp:\/\/10\.0\.0\.5:2375": is a TCP engine without TLS \(DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH are not set\); an engine on plain TCP runs anyone's containers as root\..*Nothing was created or changed\.$/);
        assert.throws(() => stackHosts(cfg, "switchyard", undefined, { DOCKER_HOST: "tcp://10.0.0.5:2375" }), /^Error: DOCKER_HOST = "tcp:\/\/10\.0\.0\.5:2375": is a TCP engine without TLS/);
        const tls = stackHosts(cfg, "switchyard", "tcp://10.0.0.5:2376", { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/home/deploy/.docker/web" });
        assert.strictEqual(tls[0].endpoint.host, "tcp://10.0.0.5:2376");
        assert.strictEqual(stackHosts(cfg, "switchyard", "ssh://deploy@web-1", {})[0].endpoint.host, "ssh://deploy@web-1");
    });

    it("bad host config is refused with the key, the value and what is allowed; nothing is declared", async () => {
        const cases: [Record<string, unknown>, RegExp][] = [
            [{ hosts: HOSTS, data: undefined }, /switchyard:data\.address = \(not set\): is required with two or more hosts/],
            [{ hosts: [HOSTS[0], { ...HOSTS[1], name: "web-1" }], data: { address: "10.0.0.11" } }, /switchyard:hosts\.1\.name = "web-1": is also hosts\[0\]\.name/],
            [{ hosts: [HOSTS[0], { ...HOSTS[1], dockerHost: HOSTS[0].dockerHost }] }, /switchyard:hosts\.1\.dockerHost = "ssh:\/\/deploy@web-1": is also hosts\[0\]\.dockerHost/],
            [{ hosts: [{ name: "web-1", dockerHost: "tcp://10.0.0.5:2376" }], data: undefined }, /switchyard:hosts\.0\.dockerHost = "tcp:\/\/10\.0\.0\.5:2376": is a TCP engine, which needs TLS/],
            [{ hosts: [{ name: "web-1", dockerHost: "ssh://a;rm -rf /" }], data: undefined }, /switchyard:hosts\.0\.dockerHost = "ssh:\/\/a;rm -rf \/": must be a Docker host URL/],
            [{ hosts: [{ name: "Web 1", dockerHost: "ssh://a" }], data: undefined }, /switchyard:hosts\.0\.name = "Web 1": must be a host name of a-z, 0-9 and -/],
            [{ hosts: [HOSTS[0]], data: { address: "10.0.0.11" } }, /switchyard:data = \{"address":"10\.0\.0\.11"\}: is only for two or more hosts/],
            [{ data: { address: "0.0.0.0" } }, /switchyard:data\.address = "0\.0\.0\.0": must not be the any-address/],
            [{ data: { address: "10.0.0.11", redisPort: 5432 } }, /switchyard:data\.redisPort = 5432: must differ from data\.postgresPort/],
            [{ data: { host: "web-9", address: "10.0.0.11" } }, /switchyard:data\.host = "web-9": names no host of hosts \(web-1, web-2, web-3\): Postgres and Redis run on one of the stack's hosts/],
            [{ rollout: { batchSize: 0 } }, /switchyard:rollout\.batchSize = 0: must be >= 1/],
            // Both colours on every host can hold more connections than Postgres allows.
            [
                { postgres: {} },
                /switchyard:postgres\.maxConnections = \(not set\): is not set \(Postgres's default 100\), fewer than a release needs: both colours run on every host, 3 hosts × 2 colours × 2 replicas × 10 connections \(postgres\.connectionsPerReplica\) \+ 5 for the backup and the migrations = 125; set postgres\.maxConnections to at least 125/,
            ],
            [{ postgres: { maxConnections: 120 } }, /switchyard:postgres\.maxConnections = 120: is 120, fewer than a release needs: .* = 125;/],
            [{ postgres: { maxConnections: 10 } }, /switchyard:postgres\.maxConnections = 10: must be >= 20/],
            [{ postgres: { maxConnections: 200, connectionsPerReplica: 0 } }, /switchyard:postgres\.connectionsPerReplica = 0: must be >= 1/],
        ];
        for (const [change, expected] of cases) {
            const err = await runProgram({ config: { ...staged, ...change } }).then(
                () => assert.fail(`accepted ${JSON.stringify(change)}`),
                (e) => e,
            );
            assert.match(String(err.message), expected, JSON.stringify(change));
            assert.match(String(err.message), /nothing was created or changed/);
            assert.deepStrictEqual(err.registered.filter((n: string) => n !== "switchyard"), [], "nothing declared");
        }
    });
});
