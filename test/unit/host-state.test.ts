// The host probe's decisions from a host's raw facts (lib/host.ts
// hostStateOf), and what of a container the facts reader passes on
// (engine/host-facts.ts containerFacts). The reads themselves run against the
// real engine in test/scripts/release-steps.test.ts ("the host probe") and
// program-specs, and over ssh:// and TLS in hosts e2e.
import * as assert from "assert";
import { containerFacts, ContainerFacts, HostFactsRaw } from "../../engine/host-facts";
import { hostStateOf } from "../../lib/host";

const ID = `sha256:${"a".repeat(64)}`;
const LABEL = "switchyard/prod";
const PROXY = "switchyard-prod-proxy";

function container(name: string, labels: Record<string, string>, over: Partial<ContainerFacts> = {}): ContainerFacts {
    return { name, labels: { "switchyard.stack": LABEL, ...labels }, status: "running", exitCode: 0, oomKilled: false, finishedAt: "", image: "", user: "", postgresUser: "", ...over };
}
const app = (colour: string, i: number, over: Partial<ContainerFacts> = {}) =>
    container(`switchyard-prod-app-${colour}-${i}`, { "switchyard.role": "app", "switchyard.colour": colour, "switchyard.image": `app:${colour}`, "switchyard.env": "GREETING=hi" }, { image: ID, env: ["GREETING=hi", "DATABASE_URL=postgres://x"], ...over });

function facts(over: Partial<HostFactsRaw> = {}): HostFactsRaw {
    return {
        swapLimit: true,
        networks: [
            { name: "bridge", labels: {}, options: {}, subnets: ["172.17.0.0/16"] },
            { name: "switchyard-prod-backend", labels: { "switchyard.addressing": "fixed", "switchyard.stack": LABEL }, options: {}, subnets: ["172.30.1.0/24"] },
            { name: "switchyard-prod-data", labels: { "switchyard.stack": LABEL }, options: { "com.docker.network.bridge.enable_ip_masquerade": "false" }, subnets: ["172.30.2.0/24"] },
            { name: "switchyard-prod-frontend", labels: { "switchyard.addressing": "fixed", "switchyard.stack": LABEL }, options: {}, subnets: ["fd00::/64", "172.30.0.0/24"] },
        ],
        volumes: [{ name: "switchyard-prod-pgdata", labels: { "switchyard.stack": LABEL } }],
        containers: [
            app("green", 2),
            app("green", 1),
            app("blue", 1, { status: "exited", exitCode: 137, oomKilled: true, finishedAt: "2026-12-04T10:00:00Z" }),
            container("switchyard-prod-worker-green-1", { "switchyard.role": "process", "switchyard.colour": "green" }, { status: "exited", finishedAt: "2026-12-04T11:00:00Z" }),
            container("switchyard-prod-worker-blue-1", { "switchyard.role": "process", "switchyard.colour": "blue" }),
            container("switchyard-prod-postgres", { "switchyard.role": "postgres" }, { healthcheck: ["CMD", "pg_isready"], postgresUser: "postgres" }),
            container("switchyard-prod-redis", { "switchyard.role": "redis" }, { user: "redis" }),
            container(PROXY, { "switchyard.role": "proxy" }),
        ],
        proxyRunning: true,
        markers: `live-green=\nretired-blue=app:blue ${ID}\nmaintenance=\nrestore-running=ops@laptop since 10:00\n`,
        ...over,
    };
}

describe("the host probe's decisions (lib/host.ts hostStateOf)", () => {
    it("reads the slots, the stopped replicas and processes, the data services and the proxy's markers", () => {
        const s = hostStateOf(facts(), LABEL, PROXY);
        assert.deepStrictEqual(s.running.green?.containers, ["switchyard-prod-app-green-2", "switchyard-prod-app-green-1"], "in Docker's order: the newest first");
        assert.strictEqual(s.running.green?.image, "app:green");
        assert.strictEqual(s.running.green?.imageId, ID);
        assert.deepStrictEqual(Object.keys(s.running.green?.values ?? {}), ["GREETING"], "the app's own variables, as digests; DATABASE_URL is Switchyard's");
        assert.notStrictEqual(s.running.green?.values?.GREETING, "hi");
        assert.strictEqual(s.running.blue, undefined);
        assert.deepStrictEqual(s.stopped, [{ name: "switchyard-prod-app-blue-1", colour: "blue", image: "app:blue", state: "exited", exitCode: 137, oomKilled: true, finishedAt: "2026-12-04T10:00:00Z" }]);
        assert.deepStrictEqual(s.stoppedProcesses, [{ name: "switchyard-prod-worker-green-1", colour: "green", finishedAt: "2026-12-04T11:00:00Z" }]);
        assert.deepStrictEqual(s.postgresHealthcheck, ["CMD", "pg_isready"]);
        assert.strictEqual(s.postgresUser, "postgres");
        assert.strictEqual(s.redisUser, "redis");
        assert.strictEqual(s.route, "green");
        assert.deepStrictEqual(s.retired, { blue: "app:blue" });
        assert.deepStrictEqual(s.retiredImageId, { blue: ID });
        assert.strictEqual(s.maintenance, true);
        assert.strictEqual(s.restoring, "ops@laptop since 10:00");
        assert.strictEqual(s.swapLimit, true);
        assert.deepStrictEqual(s.networks, {
            taken: ["172.17.0.0/16", "172.30.1.0/24", "172.30.2.0/24", "fd00::/64", "172.30.0.0/24"],
            backend: { subnet: "172.30.1.0/24", fixed: true },
            data: { egress: false },
            frontend: { subnet: "172.30.0.0/24", fixed: true },
        });
        assert.deepStrictEqual(s.foreign, []);
    });

    it("without a running proxy there is no route, and nothing of the markers counts", () => {
        const s = hostStateOf(facts({ proxyRunning: false, markers: undefined, containers: [] }), LABEL, PROXY);
        assert.strictEqual(s.route, undefined);
        assert.deepStrictEqual(s.retired, {});
        assert.strictEqual(s.maintenance, undefined);
        assert.deepStrictEqual(s.running, {});
        assert.strictEqual(s.postgresUser, undefined);
    });

    it("names a network or volume of this stack's name that another stack's label claims", () => {
        const s = hostStateOf(facts({ volumes: [{ name: "switchyard-prod-pgdata", labels: { "switchyard.stack": "switchyard-prod/other" } }] }), LABEL, PROXY);
        assert.deepStrictEqual(s.foreign?.map((o) => o.name), ["switchyard-prod-pgdata"]);
    });
});

describe("what the facts reader passes on of a container (engine/host-facts.ts containerFacts)", () => {
    it("of Postgres's environment only POSTGRES_USER, never its password; an app replica's environment whole", () => {
        const pg = containerFacts({
            Name: "/sy-postgres",
            State: { Status: "running" },
            Config: { Image: "postgres:16", User: "", Labels: { "switchyard.role": "postgres" }, Env: ["POSTGRES_USER=postgres", "POSTGRES_PASSWORD=s3cret-value"], Healthcheck: { Test: ["CMD", "pg_isready"] } },
        });
        assert.strictEqual(pg.name, "sy-postgres");
        assert.strictEqual(pg.postgresUser, "postgres");
        assert.strictEqual(pg.env, undefined);
        assert.ok(!JSON.stringify(pg).includes("s3cret-value"), "the password stays in the reader");
        const replica = containerFacts({ Name: "/sy-app-blue-1", State: { Status: "exited", ExitCode: 1, OOMKilled: false, FinishedAt: "t" }, Config: { Image: ID, Labels: { "switchyard.role": "app" }, Env: ["A=1"] } });
        assert.deepStrictEqual(replica.env, ["A=1"]);
        assert.strictEqual(replica.image, ID);
        assert.strictEqual(replica.exitCode, 1);
    });
});
