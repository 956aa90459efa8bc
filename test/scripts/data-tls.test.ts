// The data-tls step on the real engine: a stack of several hosts publishes
// Postgres and Redis over TLS with a certificate the step makes on the data
// host. Through the published ports (the other hosts' way in) only TLS gets
// through, checked against the certificate and the address; the backend
// network (the data host's own containers) stays as it was; the key stays in
// the services' volumes; a restart keeps TLS; a second run keeps the pair.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { X509Certificate } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REDIS_TLS_COMMAND } from "../../components/redis";
import { certificateFromOutput, DATA_TLS } from "../../lib/datatls";
import { docker, dockerAvailable, freePorts, IMAGES, runStep } from "./fixture";

const P = "switchyard-sytest-datatls";
const PASSWORD = "s3cret-Pw";
const SUBNET = "10.231.7.0/24";

const sh = (args: string[], input?: string) => {
    const r = spawnSync("docker", args, { encoding: "utf8", input, timeout: 60000 });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

describe("data-tls: the published Postgres and Redis over TLS (real Docker engine)", function () {
    this.timeout(180000);
    const [pgPort, redisPort] = freePorts(2);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-datatls-"));
    const caFile = path.join(tmp, "ca.pem");
    let certificate = "";
    const env = {
        DATA_ADDRESS: "127.0.0.1",
        REQUIRE_TLS: "1",
        BACKEND_SUBNET: SUBNET,
        POSTGRES_CONTAINER: `${P}-postgres`,
        REDIS_CONTAINER: `${P}-redis`,
        DATA_CONTAINER_IDS: "ids",
    };
    /** psql from the host's network, to the published port by the name the URLs give: what another host does. */
    const psqlPublished = (conn: string) =>
        sh(["run", "--rm", "--network", "host", "--add-host", "switchyard-data:127.0.0.1", "-v", `${caFile}:/ca.pem:ro`, "-e", `PGPASSWORD=${PASSWORD}`, "--entrypoint", "psql", IMAGES.postgres, `host=switchyard-data port=${pgPort} user=postgres dbname=app ${conn}`, "-Atc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"]);
    const redisPublished = (...tls: string[]) =>
        sh(["run", "--rm", "--network", "host", "-v", `${caFile}:/ca.pem:ro`, "-e", `REDISCLI_AUTH=${PASSWORD}`, IMAGES.redis, "redis-cli", ...tls, "-h", "127.0.0.1", "-p", String(redisPort), "PING"]);

    const cleanup = () => {
        sh(["rm", "-f", `${P}-postgres`, `${P}-redis`]);
        sh(["network", "rm", `${P}-backend`, `${P}-data`]);
        sh(["volume", "rm", `${P}-pgdata`, `${P}-redisdata`]);
    };

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        cleanup();
        docker("network", "create", "--internal", "--subnet", SUBNET, `${P}-backend`);
        docker("network", "create", `${P}-data`);
        // Redis as the program declares it for a published stack: the TLS command, the TLS port published.
        docker("create", "--name", `${P}-redis`, "--network", `${P}-backend`, "--network-alias", "redis", "--user", "redis",
            "-v", `${P}-redisdata:/data`, "-e", `REDIS_PASSWORD=${PASSWORD}`, "-p", `127.0.0.1:${redisPort}:${DATA_TLS.redisTlsPort}`, IMAGES.redis, ...REDIS_TLS_COMMAND);
        docker("network", "connect", `${P}-data`, `${P}-redis`);
        docker("start", `${P}-redis`);
        docker("create", "--name", `${P}-postgres`, "--network", `${P}-backend`, "--network-alias", "postgres",
            "-v", `${P}-pgdata:/var/lib/postgresql/data`, "-e", "POSTGRES_USER=postgres", "-e", `POSTGRES_PASSWORD=${PASSWORD}`, "-e", "POSTGRES_DB=app",
            "-e", "PGDATA=/var/lib/postgresql/data", "-p", `127.0.0.1:${pgPort}:5432`, IMAGES.postgres);
        docker("network", "connect", `${P}-data`, `${P}-postgres`);
        docker("start", `${P}-postgres`);
        // Ready: the step waits for running containers, not for Postgres's first init.
        for (let i = 0; i < 60 && sh(["exec", `${P}-postgres`, "pg_isready", "-h", "127.0.0.1"]).status !== 0; i++) spawnSync("sleep", ["1"]);
    });
    after(() => {
        cleanup();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("makes a certificate for data.address and turns TLS on in both, with no restart", function () {
        const pgStarted = docker("inspect", "-f", "{{.State.StartedAt}}", `${P}-postgres`);
        const r = runStep("data-tls", env);
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /made a certificate for switchyard-data at 127\.0\.0\.1/);
        assert.match(r.stdout, /Postgres speaks TLS; from outside 10\.231\.7\.0\/24 and loopback, TLS only/);
        certificate = certificateFromOutput(r.stdout);
        const x = new X509Certificate(certificate);
        assert.strictEqual(x.checkIP("127.0.0.1"), "127.0.0.1");
        assert.strictEqual(x.checkHost("switchyard-data"), "switchyard-data");
        assert.strictEqual(x.ca, false, "not a CA: it vouches for nothing else");
        assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/, "the key is in no output");
        fs.writeFileSync(caFile, certificate);
        assert.strictEqual(docker("inspect", "-f", "{{.State.StartedAt}}", `${P}-postgres`), pgStarted, "Postgres was not restarted");
        assert.strictEqual(docker("exec", `${P}-postgres`, "stat", "-c", "%U %a", `${DATA_TLS.postgresDir}/server.key`), "postgres 600");
    });

    it("through the published ports: TLS checked against the certificate gets through, clear does not", function () {
        const tls = psqlPublished("sslmode=verify-full sslrootcert=/ca.pem");
        assert.strictEqual(tls.out.trim(), "t", tls.out);
        const clear = psqlPublished("sslmode=disable");
        assert.notStrictEqual(clear.status, 0);
        assert.match(clear.out, /no pg_hba\.conf entry .*no encryption|pg_hba\.conf rejects connection/, clear.out);
        assert.strictEqual(redisPublished("--tls", "--cacert", "/ca.pem").out.trim(), "PONG");
        const plain = redisPublished();
        assert.notStrictEqual(plain.out.trim(), "PONG", "the published Redis port speaks TLS only");
    });

    it("on the backend network (the data host's own containers) nothing changed: clear, as before", function () {
        const pg = sh(["run", "--rm", "--network", `${P}-backend`, "-e", `PGPASSWORD=${PASSWORD}`, "--entrypoint", "psql", IMAGES.postgres, "host=postgres user=postgres dbname=app sslmode=disable", "-Atc", "SELECT 1"]);
        assert.strictEqual(pg.out.trim(), "1", pg.out);
        const redis = sh(["run", "--rm", "--network", `${P}-backend`, "-e", `REDISCLI_AUTH=${PASSWORD}`, IMAGES.redis, "redis-cli", "-h", "redis", "PING"]);
        assert.strictEqual(redis.out.trim(), "PONG", redis.out);
    });

    it("a second run keeps the pair; after a restart of both, TLS is still on", function () {
        const r = runStep("data-tls", env);
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /keeping the certificate for switchyard-data at 127\.0\.0\.1/);
        assert.strictEqual(certificateFromOutput(r.stdout), certificate);
        docker("restart", `${P}-postgres`, `${P}-redis`);
        for (let i = 0; i < 60 && sh(["exec", `${P}-postgres`, "pg_isready", "-h", "127.0.0.1"]).status !== 0; i++) spawnSync("sleep", ["1"]);
        let pong = "";
        for (let i = 0; i < 20 && pong !== "PONG"; i++) {
            pong = redisPublished("--tls", "--cacert", "/ca.pem").out.trim();
            if (pong !== "PONG") spawnSync("sleep", ["0.5"]);
        }
        assert.strictEqual(pong, "PONG", "Redis's command turns TLS on at its start");
        assert.strictEqual(psqlPublished("sslmode=verify-full sslrootcert=/ca.pem").out.trim(), "t");
        assert.notStrictEqual(psqlPublished("sslmode=disable").status, 0);
    });

    it("a certificate for another address is replaced", function () {
        const r = runStep("data-tls", { ...env, DATA_ADDRESS: "127.0.0.2" });
        assert.strictEqual(r.status, 0, `${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /made a certificate for switchyard-data at 127\.0\.0\.2/);
        assert.notStrictEqual(certificateFromOutput(r.stdout), certificate);
    });

    it("refuses what it cannot use, naming it", function () {
        const bad = runStep("data-tls", { ...env, DATA_ADDRESS: "db.example.com" });
        assert.notStrictEqual(bad.status, 0);
        assert.match(bad.stdout + bad.stderr, /DATA_ADDRESS 'db\.example\.com' is not an IP address/);
        const subnet = runStep("data-tls", { ...env, BACKEND_SUBNET: "10.0.0.0/8; rm -rf /" });
        assert.notStrictEqual(subnet.status, 0);
        assert.match(subnet.stdout + subnet.stderr, /BACKEND_SUBNET .* is not a CIDR/);
    });
});
