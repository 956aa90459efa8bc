// Your own app on Switchyard, under a real `pulumi up` (issue 15): not the
// sample, but a static Go binary in a FROM scratch image (no shell, no curl),
// pulled from a real registry with password auth on 127.0.0.1, given plain and
// secret variables of its own, served over HTTPS (HTTP/2) beside HTTP. Load
// runs on both listeners through every release: GET and POST /visits through
// Postgres and Redis, keep-alive and Connection: close.
//
// One stack, the scenarios in order. Invariants: Postgres, Redis and the proxy
// are never replaced or restarted, no request fails, and no secret (the app's
// token, the registry password, the TLS key) is in state, any operation's
// output or a container's command line.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import { createHash, randomBytes, X509Certificate } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { Colour } from "../../lib/config";
import { RETIRED_PREFIX, STATE_DIR } from "../../lib/routemarker";
import { makeCa, makeCert, TestCert } from "../certs";
import { describeFailures, get, LoadReport, startLoadProcess } from "../scripts/load";
import { baseConfig, changed, E2EStack, freePort, missingParts, say, sleep } from "./harness";

const TOKEN = `tok-${randomBytes(12).toString("hex")}`;
const REGISTRY_PASSWORD = `reg-${randomBytes(12).toString("hex")}`;
/** Requests per second: at least 200 over HTTPS (the issue), and plain HTTP beside it. */
const HTTPS_RATE = 200;
const HTTP_RATE = 100;

interface Figure {
    scenario: string;
    upSeconds?: number;
    changes?: string;
    https?: string;
    http?: string;
    note?: string;
}
const figures: Figure[] = [];

/** The fingerprint of the certificate a new TLS connection is shown. */
function served(port: number, ca: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ALPNProtocols: ["h2", "http/1.1"] }, () => {
            const fp = new X509Certificate(socket.getPeerCertificate().raw).fingerprint256;
            const alpn = socket.alpnProtocol;
            socket.end();
            resolve(`${fp} ${alpn}`);
        });
        socket.on("error", reject);
    });
}

describe("e2e: your own app (FROM scratch, private registry, secrets, HTTPS) under a real pulumi up", function () {
    let s: E2EStack;
    const ports = { live: 0, preview: 0, tls: 0, previewTls: 0, registry: 0 };
    let registry = "";
    let shared: Record<string, string> = {};
    const regName = `switchyard-e2e-registry-${randomBytes(3).toString("hex")}`;
    const dockerConfig = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-e2e-docker-"));
    const ca = makeCa();
    const certs: TestCert[] = [makeCert("one.switchyard.test", 30, ca), makeCert("two.switchyard.test", 30, ca)];
    const outputs: string[] = [];

    const image = (tag: string) => `${registry}/scratch-app:${tag}`;
    const dockerAs = (args: string[], input?: string) => execFileSync("docker", args, { encoding: "utf8", input, env: { ...process.env, DOCKER_CONFIG: dockerConfig } }).trim();

    /** Tags the scratch app into the registry and forgets the local tag, so the stack must pull it. */
    function publish(tag: string): string {
        dockerAs(["tag", "switchyard/scratch-app:1.0.0", image(tag)]);
        dockerAs(["push", "-q", image(tag)]);
        const digest = dockerAs(["inspect", "--format", "{{index .RepoDigests 0}}", image(tag)]);
        dockerAs(["rmi", image(tag)]);
        return digest;
    }

    function setConfig(patch: Record<string, unknown>): void {
        s.writeConfig({ ...s.readConfig(), ...patch });
    }
    const slots = () => s.readConfig().slots as Record<Colour, { image: string; env?: Record<string, string> }>;

    async function up(label: string, opts: { expectNoChanges?: boolean } = {}) {
        const r = await s.up(label, opts);
        outputs.push(r.output);
        return r;
    }

    /** fn under constant HTTPS and HTTP load; asserts 0 failed on both and returns the reports. */
    async function underLoad(scenario: string, fn: () => Promise<unknown>): Promise<{ https: LoadReport; http: LoadReport; endedAt: number }> {
        const a = startLoadProcess({ port: ports.tls, rate: HTTPS_RATE, durationMs: 10 * 60 * 1000, tls: { ca: ca.certificate } });
        const b = startLoadProcess({ port: ports.live, rate: HTTP_RATE, durationMs: 10 * 60 * 1000 });
        let endedAt = 0;
        try {
            await sleep(2000);
            await fn();
            endedAt = Date.now();
            await sleep(1500);
        } catch (err) {
            await Promise.all([a.stop().catch(() => undefined), b.stop().catch(() => undefined)]);
            throw err;
        }
        const [https, http] = await Promise.all([a.stop(), b.stop()]);
        const line = (r: LoadReport) => `${r.requests} requests, failed ${r.failed}, p99 ${r.p99} ms`;
        say(`load ${scenario}: HTTPS ${HTTPS_RATE}/s ${line(https)}; HTTP ${HTTP_RATE}/s ${line(http)}; by colour ${JSON.stringify(https.byColour)}`);
        figures.push({ scenario, https: line(https), http: line(http) });
        for (const [name, r] of [["HTTPS", https], ["HTTP", http]] as const) {
            assert.deepStrictEqual(r.errors, {}, `${scenario} over ${name}: failed requests\n${describeFailures(r)}`);
            assert.ok(r.samples.some((x) => x.method === "POST" && x.status === 201) && r.samples.some((x) => x.path === "/visits" && x.method === "GET"), `${scenario} over ${name}: the load reads and writes the database`);
            assert.ok(r.samples.some((x) => !x.keepAlive) && r.samples.some((x) => x.keepAlive), `${scenario} over ${name}: both kinds of connection`);
        }
        return { https, http, endedAt };
    }

    function assertSharedUntouched(when: string): void {
        for (const [name, id] of Object.entries(shared)) assert.strictEqual(s.identity(name), id, `${name} was replaced or restarted (${when})`);
    }

    async function version(): Promise<{ color: string; greeting: string; tokenSha: string; image: string }> {
        const r = await get(ports.tls, "/version", { tls: { ca: ca.certificate } });
        assert.strictEqual(r.status, 200, r.body);
        return JSON.parse(r.body);
    }

    before(async function () {
        const missing = missingParts();
        if (missing.length) {
            console.log(`e2e SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
        registry = `127.0.0.1:${ports.registry}`;
        // A real registry (Debian's distribution 2.8) with bcrypt password auth, on loopback only.
        const auth = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-e2e-auth-"));
        const htpasswd = execFileSync("docker", ["run", "--rm", "-i", "--entrypoint", "htpasswd", "switchyard/registry:local", "-Bin", "deploy"], { input: REGISTRY_PASSWORD, encoding: "utf8" });
        fs.writeFileSync(path.join(auth, "htpasswd"), htpasswd);
        execFileSync("docker", ["run", "-d", "--name", regName, "-p", `127.0.0.1:${ports.registry}:5000`, "-v", `${auth}:/auth:ro`, "switchyard/registry:local"]);
        for (let i = 0; i < 50 && spawnSync("docker", ["exec", regName, "true"]).status !== 0; i++) await sleep(100);
        await sleep(1000);
        dockerAs(["login", registry, "-u", "deploy", "--password-stdin"], REGISTRY_PASSWORD);
        for (const tag of ["1.0.0", "1.1.0"]) publish(tag);
        say(`registry ${registry} (htpasswd auth) holds scratch-app:1.0.0 and 1.1.0`);

        const base = baseConfig(ports.live, ports.preview) as Record<string, any>;
        s = await E2EStack.create("app", {
            ...base,
            appPort: 8000,
            health: { path: "/healthz", intervalSeconds: 1, timeoutSeconds: 20, healthyThreshold: 3 },
            slots: { blue: { image: image("1.0.0"), env: { APP_GREETING: "hello v1" } } },
            proxy: { ...base.proxy, tlsPort: ports.tls, previewTlsPort: ports.previewTls },
            migrations: { command: ["migrate"], timeoutSeconds: 60 },
            registry: { server: registry, username: "deploy" },
        });
        // Secrets the Pulumi way: `pulumi config set --secret --path ...`.
        const secret = (key: string, value: string) => s.stack.setConfig(`switchyard:${key}`, { value, secret: true }, true);
        await s.stack.setConfig("switchyard:registryPassword", { value: REGISTRY_PASSWORD, secret: true });
        for (const colour of ["blue", "green"]) await secret(`slotSecrets.${colour}.APP_SECRET_TOKEN`, TOKEN);
        await secret("tls.certificate", certs[0].certificate);
        await secret("tls.key", certs[0].key);
    });

    after(async function () {
        if (figures.length) {
            console.log("\n      | scenario | up (s) | changes | HTTPS | HTTP | note |\n      |---|---|---|---|---|---|");
            for (const f of figures) console.log(`      | ${f.scenario} | ${f.upSeconds?.toFixed(1) ?? ""} | ${f.changes ?? ""} | ${f.https ?? ""} | ${f.http ?? ""} | ${f.note ?? ""} |`);
            fs.mkdirSync("bench/results", { recursive: true });
            fs.writeFileSync(path.join("bench/results", "e2e-own-app.json"), JSON.stringify(figures, null, 2));
        }
        if (s) await s.destroy();
        spawnSync("docker", ["rm", "-f", "-v", regName], { stdio: "ignore" });
        fs.rmSync(dockerConfig, { recursive: true, force: true });
        if (s) assert.strictEqual(s.containers().length, 0, "the throwaway stack left containers behind");
    });

    it("A. first up: the private image is pulled, the gate passes from the proxy, HTTPS (h2) answers with the app's own variables", async () => {
        const r = await up("first (own app)");
        figures.push({ scenario: "A first up", upSeconds: r.seconds, changes: `+${r.changes.create}` });
        shared = Object.fromEntries(["postgres", "redis", "proxy"].map((svc) => [`${s.names.namePrefix}-${svc}`, s.identity(`${s.names.namePrefix}-${svc}`)]));
        const v = await version();
        assert.deepStrictEqual([v.color, v.greeting, v.tokenSha], ["blue", "hello v1", createHash("sha256").update(TOKEN).digest("hex").slice(0, 12)]);
        assert.match(await served(ports.tls, ca.certificate), / h2$/, "HTTP/2 is offered");
        assert.match(r.output, /\[migrate expand\] \| migrate: schema ready/, "the migration ran the image's entrypoint");
        const blue = s.containers(false).filter((c) => c.role === "app");
        assert.strictEqual(blue.length, 2);
        for (const c of blue) assert.notStrictEqual(spawnSync("docker", ["exec", c.name, "sh", "-c", "true"]).status, 0, `${c.name}: no shell in the image`);
        const out = JSON.parse(s.cli(["stack", "output", "--json"]).out);
        assert.strictEqual(out.liveTlsUrl, `https://127.0.0.1:${ports.tls}`);
    });

    it("B. release and rollback under HTTPS and HTTP load (image by digest): 0 failed", async () => {
        const digest = publish("1.1.1");
        assert.match(digest, /@sha256:[0-9a-f]{64}$/);
        let release = 0;
        let rollback = 0;
        const rep = await underLoad("B release by digest + rollback", async () => {
            setConfig({ slots: { ...slots(), green: { image: digest, env: { APP_GREETING: "hello v1" } } }, liveColor: "green" });
            release = (await up("release green (by digest)")).seconds;
            assert.strictEqual((await version()).color, "green");
            setConfig({ liveColor: "blue" });
            rollback = (await up("rollback to blue")).seconds;
        });
        figures[figures.length - 1].upSeconds = release + rollback;
        figures[figures.length - 1].note = `release ${release.toFixed(1)} s, rollback ${rollback.toFixed(1)} s`;
        assert.ok((rep.https.byColour.green ?? 0) > 0 && (rep.https.byColour.blue ?? 0) > 0, JSON.stringify(rep.https.byColour));
        assert.strictEqual((await version()).color, "blue");
        assertSharedUntouched("release and rollback");
    });

    it("C. an environment-only release goes to the idle colour; the live containers are not re-created until switched away from", async () => {
        const blueBefore = s.containers(false).filter((c) => c.role === "app" && c.colour === "blue").map((c) => s.identity(c.name));
        setConfig({ slots: { ...slots(), green: { image: slots().blue.image, env: { APP_GREETING: "hello v2" } } }, liveColor: "green" });
        const plan = await s.preview("env-only release");
        assert.doesNotMatch(plan.output, /[-+]{2}.*app-blue-\d|replace.*app-blue/, "the plan replaces no blue container");
        assert.match(plan.output, /switchyard\.env[\s\S]*APP_GREETING=hello v2/, "the reviewer sees green's new variable in the plan");
        assert.doesNotMatch(plan.output, new RegExp(TOKEN), "and not the secret");
        // Every blue container seen while the update runs is one of those from before it.
        const seen = new Set<string>();
        const sampler = setInterval(() => {
            for (const c of s.containers(false).filter((x) => x.role === "app" && x.colour === "blue")) seen.add(s.identity(c.name));
        }, 500);
        let upLine: { seconds: number; changes: string } = { seconds: 0, changes: "" };
        try {
            await underLoad("C env-only release", async () => {
                const r = await up("env-only release to green");
                upLine = { seconds: r.seconds, changes: `~${r.changes.update} +${r.changes.create} -${r.changes.delete}` };
            });
        } finally {
            clearInterval(sampler);
        }
        Object.assign(figures[figures.length - 1], { upSeconds: upLine.seconds, changes: upLine.changes });
        const v = await version();
        assert.deepStrictEqual([v.color, v.greeting], ["green", "hello v2"]);
        assert.ok(seen.size > 0, "blue was sampled while it served");
        for (const id of seen) assert.ok(blueBefore.includes(id), `a blue container was re-created during the update: ${id}`);
        assert.deepStrictEqual(s.containers(false).filter((c) => c.role === "app" && c.colour === "blue"), [], "blue is retired after the switch");
        const logged = outputs.at(-1)!;
        assert.doesNotMatch(logged, /replac\w* .*app-blue/, "no blue container was replaced in place");
        assertSharedUntouched("env-only release");
    });

    it("D. the certificate is replaced under load: no reload, no proxy re-creation, 0 failed", async () => {
        const proxy = s.names.proxyContainer;
        const workers = () => execFileSync("docker", ["exec", proxy, "sh", "-c", "for p in /proc/[0-9]*; do tr '\\000' ' ' < $p/cmdline 2>/dev/null | grep -q '^nginx: worker' && basename $p; done | sort"], { encoding: "utf8" }).trim();
        const before = workers();
        const old = await served(ports.tls, ca.certificate);
        let changes = "";
        await underLoad("D certificate replaced", async () => {
            await s.stack.setConfig("switchyard:tls.certificate", { value: certs[1].certificate, secret: true }, true);
            await s.stack.setConfig("switchyard:tls.key", { value: certs[1].key, secret: true }, true);
            const r = await up("new certificate");
            changes = `~${r.changes.update} +${r.changes.create} -${r.changes.delete}`;
        });
        figures[figures.length - 1].changes = changes;
        assert.strictEqual(changes, "~1 +0 -0", "only the tls step runs");
        const now = await served(ports.tls, ca.certificate);
        assert.notStrictEqual(now, old);
        assert.strictEqual(now.split(" ")[0], new X509Certificate(certs[1].certificate).fingerprint256);
        assert.strictEqual(workers(), before, "the same nginx workers: no reload");
        assertSharedUntouched("certificate");
    });

    it("E. a wrong registry password: the up fails before any switch with the registry's answer; live untouched, 0 failed", async () => {
        publish("1.2.0");
        const liveBefore = s.containers(false).filter((c) => c.role === "app" && c.colour === "green").map((c) => s.identity(c.name));
        await s.stack.setConfig("switchyard:registryPassword", { value: "wrong-password-000", secret: true });
        setConfig({ slots: { ...slots(), blue: { image: image("1.2.0"), env: { APP_GREETING: "hello v3" } } }, liveColor: "blue" });
        let failure = { message: "", output: "" };
        await underLoad("E wrong registry password", async () => {
            failure = await s.upFails("release with a wrong registry password");
        });
        outputs.push(failure.output, failure.message);
        assert.match(failure.message, new RegExp(`unable to pull image ${image("1.2.0").replace(/[.]/g, "\\.")}[\\s\\S]*unauthorized: authentication required`), "names the image and the registry's answer");
        assert.doesNotMatch(failure.output, /release-repoint|\[repoint /, "nothing reached the re-point");
        assert.ok(!failure.message.includes("wrong-password-000"), "the password is not in the message");
        assert.strictEqual(s.route(), "green", "live traffic never moved");
        assert.deepStrictEqual(s.containers(false).filter((c) => c.role === "app" && c.colour === "green").map((c) => s.identity(c.name)), liveBefore, "the live containers are untouched");
        assert.strictEqual((await version()).color, "green");
        // The right password, and the same release goes through.
        await s.stack.setConfig("switchyard:registryPassword", { value: REGISTRY_PASSWORD, secret: true });
        await underLoad("E then the right password", async () => {
            await up("the same release, right password");
        });
        const v = await version();
        assert.deepStrictEqual([v.color, v.greeting], ["blue", "hello v3"]);
        assertSharedUntouched("registry password");
    });

    it("F. no secret in state, in any operation's output or in a container's command line; a no-op up changes nothing", async () => {
        const noop = await up("no-op (own app)", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0);
        const state = s.cli(["stack", "export"]).out;
        const log = fs.readFileSync(s.logFile, "utf8") + outputs.join("\n");
        const keyBodies = certs.map((c) => c.key.split("\n").filter((l) => l && !l.startsWith("-----"))[0]);
        for (const [what, value] of [["app secret", TOKEN], ["registry password", REGISTRY_PASSWORD], ["TLS key", keyBodies[0]], ["TLS key (new)", keyBodies[1]]] as const) {
            assert.ok(!state.includes(value), `${what} in plaintext in pulumi stack export`);
            assert.ok(!log.includes(value), `${what} in the output of an operation`);
            for (const c of s.containers(false)) {
                const cmd = execFileSync("docker", ["inspect", "--format", "{{json .Path}} {{json .Args}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}", c.name], { encoding: "utf8" });
                assert.ok(!cmd.includes(value), `${what} on the command line of ${c.name}`);
            }
        }
        figures.push({ scenario: "F secrets and no-op", changes: "0", note: "no app token, registry password or TLS key in state, logs or command lines" });
        assertSharedUntouched("end");
    });

    it("G. the tag a retired colour ran is moved in the registry: the rollback brings back the image it ran, under load 0 failed; then a no-op", async () => {
        // E released blue, so green (image 1.0.0 since C) was retired; the ledger kept the id it ran.
        assert.strictEqual(s.route(), "blue");
        const ledger = execFileSync("docker", ["exec", s.names.proxyContainer, "cat", `${STATE_DIR}/${RETIRED_PREFIX}green`], { encoding: "utf8" }).trim();
        const [tag, ran] = ledger.split(" ");
        assert.strictEqual(tag, slots().green.image);
        assert.match(ran ?? "", /^sha256:[0-9a-f]{64}$/, `the ledger keeps the image id: ${ledger}`);
        // Someone pushes other content under the same tag.
        execFileSync("docker", ["build", "-q", "-t", tag, "-"], { input: `FROM switchyard/scratch-app:1.0.0\nLABEL switchyard.test.moved=true\n`, encoding: "utf8" });
        const moved = dockerAs(["image", "inspect", "--format", "{{.Id}}", tag]);
        assert.notStrictEqual(moved, ran);
        dockerAs(["push", "-q", tag]);
        dockerAs(["rmi", tag]);
        let seconds = 0;
        await underLoad("G rollback after the tag moved", async () => {
            setConfig({ liveColor: "green" });
            seconds = (await up("rollback to green, its tag moved")).seconds;
        });
        figures[figures.length - 1].upSeconds = seconds;
        const green = s.containers(false).filter((c) => c.role === "app" && c.colour === "green");
        assert.strictEqual(green.length, 2);
        for (const c of green) assert.strictEqual(execFileSync("docker", ["inspect", "--format", "{{.Image}}", c.name], { encoding: "utf8" }).trim(), ran, `${c.name} runs what green ran, not what ${tag} names now (${moved})`);
        assert.strictEqual((await version()).color, "green");
        const noop = await up("no-op after the rollback", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0, "green keeps the image it runs though its tag resolves elsewhere");
        figures[figures.length - 1].note = `green back on ${ran.slice(7, 19)}; the tag names ${moved.slice(7, 19)}; no-op ${noop.changes.same} unchanged`;
        assertSharedUntouched("rollback after the tag moved");
    });
});
