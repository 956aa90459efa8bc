// A host reached over tcp:// with TLS, under Pulumi's mocks: its provider and
// the docker CLI (the plan's host reader, the release steps) read the client
// material from files the program writes from the secret config, and every
// step gets only those files' name. Bad material is refused without echoing it.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stepDockerEnv } from "../../engine/docker";
import { makeCa, makeCert } from "../certs";
import { byType, diffRuns, get, runProgram } from "./mocks";

const CA = makeCa("Engine CA");
const CLIENT = makeCert("deploy", 30, CA);
const OTHER_CA = makeCa("Another CA");
const material = { ca: CA.certificate, certificate: CLIENT.certificate, key: CLIENT.key };
const HOSTS = [
    { name: "web-1", dockerHost: "ssh://deploy@web-1" },
    { name: "web-2", dockerHost: "tcp://10.0.0.12:2376" },
];
const config = {
    liveColor: "blue",
    slots: { blue: { image: "app:1.0.0" } },
    hosts: HOSTS,
    data: { address: "10.0.0.11" },
    hostsTls: { "web-2": material },
};
const REPO = path.resolve(__dirname, "..", "..");
const pemBody = (pem: string) => pem.split("\n").find((l) => l.length > 40)!;

describe("a tcp:// host with TLS material from secret config (Pulumi mocks)", function () {
    this.timeout(30000);
    let home: string;
    const savedHome = process.env.SWITCHYARD_HOME;
    beforeEach(() => {
        home = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-home-"));
        process.env.SWITCHYARD_HOME = home;
    });
    afterEach(() => {
        if (savedHome === undefined) delete process.env.SWITCHYARD_HOME;
        else process.env.SWITCHYARD_HOME = savedHome;
        fs.rmSync(home, { recursive: true, force: true });
    });

    it("the provider and the docker CLI read the material from 0600 files; no input holds it; steps carry only their name", async () => {
        const run = await runProgram({ config, secrets: ["hostsTls"] });
        const dir = path.join(home, "docker-tls", "switchyard-staging", "web-2");
        const provider = get(run, "web-2-docker").inputs;
        assert.strictEqual(provider.host, "tcp://10.0.0.12:2376");
        assert.strictEqual(provider.certPath, dir);
        for (const input of ["caMaterial", "certMaterial", "keyMaterial"]) assert.strictEqual(provider[input], undefined, `no ${input}: with it the provider lets DOCKER_HOST override host`);
        assert.strictEqual(get(run, "docker").inputs.certPath, undefined, "the ssh:// host has no TLS material");

        assert.strictEqual(fs.statSync(dir).mode & 0o777, 0o700);
        for (const [file, pem] of [["ca.pem", CA.certificate], ["cert.pem", CLIENT.certificate], ["key.pem", CLIENT.key]]) {
            assert.strictEqual(fs.readFileSync(path.join(dir, file), "utf8").trim(), pem.trim(), file);
            assert.strictEqual(fs.statSync(path.join(dir, file)).mode & 0o777, 0o600, `${file} is readable by its owner alone`);
        }
        // The plan read web-2 with the files; web-1 without.
        const probe = run.probed.find((e) => e.DOCKER_HOST === "tcp://10.0.0.12:2376")!;
        assert.deepStrictEqual([probe.DOCKER_CERT_PATH, probe.DOCKER_TLS_VERIFY], [dir, "1"]);
        assert.strictEqual(run.probed.find((e) => e.DOCKER_HOST === "ssh://deploy@web-1")!.DOCKER_CERT_PATH, undefined);

        for (const step of ["gate", "repoint", "verify", "retire"]) {
            const env = get(run, `web-2-release-${step}`).inputs.environment;
            assert.strictEqual(env.SWITCHYARD_DOCKER_TLS, "switchyard-staging/web-2", `web-2-release-${step}`);
            assert.strictEqual(get(run, `release-${step}`).inputs.environment.SWITCHYARD_DOCKER_TLS, undefined);
        }
        // No input of any resource holds the key or the certificate, not even as a secret; only the providers name this machine's home.
        const inputs = JSON.stringify([...run.resources.values()].map((r) => r.inputs));
        for (const secret of [pemBody(CLIENT.key), pemBody(CLIENT.certificate)]) assert.ok(!inputs.includes(secret), `an input holds ${secret.slice(0, 12)}…`);
        const elsewhere = [...run.resources.values()].filter((r) => r.type !== "pulumi:providers:docker" && JSON.stringify(r.inputs).includes(home)).map((r) => r.name);
        assert.deepStrictEqual(elsewhere, [], "inputs that depend on this machine's SWITCHYARD_HOME");
    });

    it("a second up leaves the files as they are; the steps' inputs do not depend on where SWITCHYARD_HOME is", async () => {
        const first = await runProgram({ config, secrets: ["hostsTls"] });
        const key = path.join(home, "docker-tls", "switchyard-staging", "web-2", "key.pem");
        const written = fs.statSync(key).mtimeMs;
        process.env.SWITCHYARD_HOME = path.join(home, "elsewhere");
        const second = await runProgram({ config, secrets: ["hostsTls"] });
        assert.deepStrictEqual(get(second, "web-2-release-gate").inputs, get(first, "web-2-release-gate").inputs);
        process.env.SWITCHYARD_HOME = home;
        await runProgram({ config, secrets: ["hostsTls"] });
        assert.strictEqual(fs.statSync(key).mtimeMs, written, "unchanged material is not rewritten");
    });

    it("a host that leaves hosts leaves no client key behind; other stacks' material is not touched", async () => {
        await runProgram({ config, secrets: ["hostsTls"] });
        const mine = path.join(home, "docker-tls", "switchyard-staging");
        const other = path.join(home, "docker-tls", "switchyard-staging-2", "web-2");
        fs.mkdirSync(other, { recursive: true });
        fs.writeFileSync(path.join(other, "key.pem"), "x");
        fs.mkdirSync(path.join(mine, "web-9"), { recursive: true });
        fs.writeFileSync(path.join(mine, "web-9", "key.pem"), "a host that left");
        await runProgram({ config, secrets: ["hostsTls"] });
        assert.deepStrictEqual(fs.readdirSync(mine), ["web-2"]);
        assert.ok(fs.existsSync(path.join(other, "key.pem")), "another stack's material stays");
    });

    it("rotating the client certificate: the next up writes the new files and changes no resource", async () => {
        const before = await runProgram({ config, secrets: ["hostsTls"] });
        const renewed = makeCert("deploy", 90, CA);
        const after = await runProgram({ config: { ...config, hostsTls: { "web-2": { ...material, certificate: renewed.certificate, key: renewed.key } } }, secrets: ["hostsTls"] });
        assert.deepStrictEqual(diffRuns(before, after), { created: [], deleted: [], changed: [] }, "the material is in files, not in any input: rotation re-creates nothing");
        const dir = path.join(home, "docker-tls", "switchyard-staging", "web-2");
        assert.strictEqual(fs.readFileSync(path.join(dir, "cert.pem"), "utf8").trim(), renewed.certificate.trim());
        assert.strictEqual(fs.readFileSync(path.join(dir, "key.pem"), "utf8").trim(), renewed.key.trim());
        assert.strictEqual(fs.statSync(path.join(dir, "key.pem")).mode & 0o777, 0o600);
    });

    it("a step finds the files by name, and fails naming the host when they are missing", () => {
        const dir = path.join(home, "docker-tls", "switchyard-staging", "web-2");
        const env = { ...process.env, SWITCHYARD_HOME: home, SWITCHYARD_DOCKER_TLS: "switchyard-staging/web-2", DOCKER_HOST: "tcp://10.0.0.12:2376", SWITCHYARD_HOST_NAME: "web-2" };
        // The real step (compiled engine), before it calls docker at all.
        const missing = spawnSync("bash", ["scripts/release/gate.sh"], { cwd: REPO, encoding: "utf8", env });
        assert.strictEqual(missing.status, 1);
        assert.match(missing.stderr, /\[gate +\d+\.\ds\] FAILED: on host web-2: the client TLS material of tcp:\/\/10\.0\.0\.12:2376 is missing \(.*web-2\/ca\.pem\); pulumi up writes it from hostsTls/);
        fs.mkdirSync(dir, { recursive: true });
        for (const f of ["ca.pem", "cert.pem", "key.pem"]) fs.writeFileSync(path.join(dir, f), "x");
        const found = stepDockerEnv(env);
        assert.strictEqual(found.problem, undefined);
        assert.strictEqual(`${found.env.DOCKER_CERT_PATH} ${found.env.DOCKER_TLS_VERIFY}`, `${dir} 1`);
    });

    it("bad tcp:// config is refused with the key and what is allowed, never the material; nothing is declared", async () => {
        const cases: [Record<string, unknown>, string[], RegExp][] = [
            [{ hostsTls: undefined }, [], /switchyard:hosts\.1\.dockerHost = "tcp:\/\/10\.0\.0\.12:2376": is a TCP engine, which needs TLS: set its client material with pulumi config set --secret --path 'hostsTls\["web-2"\]\.ca' < ca\.pem/],
            [{}, [], /switchyard:hostsTls: is stored in plaintext; set it with `pulumi config set --secret --path 'hostsTls\["<host>"\]\.key' < key\.pem/],
            [{ hostsTls: { "web-1": material, "web-2": material } }, ["hostsTls"], /switchyard:hostsTls\.web-1 = \[secret\]: is for a tcp:\/\/ host; web-1 is reached as ssh:\/\/deploy@web-1/],
            [{ hostsTls: { "web-9": material, "web-2": material } }, ["hostsTls"], /switchyard:hostsTls\.web-9 = \[secret\]: names no host of hosts \(web-1, web-2\)/],
            [{ hostsTls: { "web-2": { ...material, ca: "not a pem" } } }, ["hostsTls"], /switchyard:hostsTls\.web-2\.ca = \[secret\]: must be a PEM certificate \(-----BEGIN CERTIFICATE-----\), the CA that signed the engine's certificate/],
            [{ hostsTls: { "web-2": { ...material, key: OTHER_CA.key } } }, ["hostsTls"], /switchyard:hostsTls\.web-2\.key = \[secret\]: does not belong to hostsTls\.web-2\.certificate/],
            [{ hostsTls: { "web-2": { ca: CA.certificate, certificate: CLIENT.certificate } } }, ["hostsTls"], /switchyard:hostsTls\.web-2\.key = \(not set\): is required/],
            [{ hosts: [HOSTS[0], { name: "web-2", dockerHost: "tcp://10.0.0.12" }] }, ["hostsTls"], /switchyard:hosts\.1\.dockerHost = "tcp:\/\/10\.0\.0\.12": must be a Docker host URL: ssh:\/\/\[user@\]host\[:port\], tcp:\/\/host:port \(with its client TLS material in hostsTls\) or unix:\/\/\/path/],
        ];
        for (const [change, secrets, expected] of cases) {
            const err = await runProgram({ config: { ...config, ...change }, secrets }).then(
                () => assert.fail(`accepted ${JSON.stringify(Object.keys(change))}`),
                (e) => e,
            );
            const message = String(err.message);
            assert.match(message, expected);
            assert.match(message, /nothing was created or changed/);
            for (const secret of [pemBody(CLIENT.key), pemBody(CA.certificate), pemBody(OTHER_CA.key)]) assert.ok(!message.includes(secret), "the material is never echoed");
            assert.deepStrictEqual(err.registered.filter((n: string) => n !== "switchyard"), [], "nothing declared");
            assert.ok(!fs.existsSync(path.join(home, "docker-tls")), "no material written for a refused config");
        }
    });

    it("every docker provider of a tcp:// stack is the host's own, with TLS (the registry pulls too)", async () => {
        const run = await runProgram({
            config: { ...config, registry: { server: "registry.example.com", username: "ci" }, registryPassword: "s3cret-registry-pass" },
            secrets: ["hostsTls", "registryPassword"],
        });
        const tcpProviders = byType(run, "pulumi:providers:docker").filter((p) => p.inputs.host === "tcp://10.0.0.12:2376");
        assert.deepStrictEqual(tcpProviders.map((p) => p.name).sort(), ["web-2-docker", "web-2-registry"]);
        for (const p of tcpProviders) assert.strictEqual(p.inputs.certPath, path.join(home, "docker-tls", "switchyard-staging", "web-2"), p.name);
    });
});
