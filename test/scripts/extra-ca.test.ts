// NODE_EXTRA_CA_CERTS held aside while a step runs (scripts/release/engine.sh,
// engine/extra-ca.ts): the step's own node process starts without it, and
// the places a step opens TLS towards something the user runs still trust
// those CAs. Real processes, a real HTTPS webhook and a real TLS listener on
// 127.0.0.1, with a test CA that only the held file names.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { endpointOf } from "../../engine/dockerapi";
import { HELD_EXTRA_CA, rootsWithExtraCa, withExtraCa } from "../../engine/extra-ca";
import { Step } from "../../engine/step";
import { makeCa, makeCert } from "../certs";

const ENGINE_SH = path.resolve(__dirname, "..", "..", "scripts", "release", "engine.sh");

describe("NODE_EXTRA_CA_CERTS while a release step runs", function () {
    this.timeout(30000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-extra-ca-"));
    const ca = makeCa("Switchyard Extra CA");
    const server = makeCert("localhost", 30, ca);
    const caFile = path.join(dir, "extra-ca.pem");
    fs.writeFileSync(caFile, ca.certificate);
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** The environment of this test without the machine's own NODE_EXTRA_CA_CERTS: only what a case gives counts. */
    const clean = (): NodeJS.ProcessEnv => {
        const env = { ...process.env };
        delete env.NODE_EXTRA_CA_CERTS;
        delete env[HELD_EXTRA_CA];
        return env;
    };

    it("engine.sh starts the step's node without it and keeps its value for the step; without it, neither is set", () => {
        // engine.sh as it is, in a package layout whose one step prints what its node sees.
        const pkg = path.join(dir, "pkg");
        fs.mkdirSync(path.join(pkg, "scripts", "release"), { recursive: true });
        fs.mkdirSync(path.join(pkg, "dist", "engine"), { recursive: true });
        fs.copyFileSync(ENGINE_SH, path.join(pkg, "scripts", "release", "engine.sh"));
        fs.writeFileSync(path.join(pkg, "scripts", "release", "env-probe.sh"), 'source "$(dirname "$0")/engine.sh" env-probe\n');
        fs.writeFileSync(path.join(pkg, "dist", "engine", "env-probe.js"), `process.stdout.write(JSON.stringify({ node: process.env.NODE_EXTRA_CA_CERTS ?? null, held: process.env.${HELD_EXTRA_CA} ?? null }));\n`);
        const run = (env: NodeJS.ProcessEnv) => {
            const r = spawnSync("bash", [path.join(pkg, "scripts", "release", "env-probe.sh")], { env, encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stderr);
            return JSON.parse(r.stdout);
        };
        assert.deepStrictEqual(run({ ...clean(), NODE_EXTRA_CA_CERTS: caFile }), { node: null, held: caFile });
        assert.deepStrictEqual(run(clean()), { node: null, held: null });
    });

    it("the webhook over HTTPS, signed by a CA only the held file names, gets the step's notification", async () => {
        const received: string[] = [];
        const hook = https.createServer({ cert: server.certificate, key: server.key }, (req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => (received.push(body), res.writeHead(200).end("ok")));
        });
        await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
        const url = `https://localhost:${(hook.address() as net.AddressInfo).port}/hook`;
        // As engine.sh leaves a step's environment: the value held, NODE_EXTRA_CA_CERTS unset.
        const notify = async (env: NodeJS.ProcessEnv) => {
            const lines: string[] = [];
            const step = new Step("migrate", { ...env, SWITCHYARD_PROXY: "p1", SWITCHYARD_STACK: "local", SWITCHYARD_COLOR: "green" });
            step.say = (m: string) => void lines.push(m);
            await step.notify("failure", "migration failed", "app:1", { url, toImage: "app:2" });
            return lines.join("\n");
        };
        try {
            const out = await notify({ ...clean(), [HELD_EXTRA_CA]: caFile });
            assert.match(out, /notified the webhook/);
            assert.strictEqual(received.length, 1);
            assert.strictEqual(JSON.parse(received[0]).step, "migrate");
            // Without the held file the same webhook is not trusted: the case above depends on it.
            const without = await notify(clean());
            assert.match(without, /failed/);
            assert.strictEqual(received.length, 1, "nothing more arrived");
        } finally {
            hook.close();
        }
    });

    it("a TLS connection that names no CA of its own trusts Node's roots and the held file's, as NODE_EXTRA_CA_CERTS would", async () => {
        const listener = tls.createServer({ cert: server.certificate, key: server.key }, (s) => s.end("hello\n"));
        await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
        const port = (listener.address() as net.AddressInfo).port;
        const connect = (ca: string[] | undefined) =>
            new Promise<string>((resolve) => {
                const s = tls.connect({ host: "localhost", port, ca }, () => s.once("data", (d) => (resolve(`ok ${String(d).trim()}`), s.end())));
                s.on("error", (e) => resolve(`error ${e.message}`));
            });
        try {
            const roots = rootsWithExtraCa(caFile)!;
            assert.strictEqual(roots.length, tls.rootCertificates.length + 1);
            assert.strictEqual(roots[roots.length - 1].trim(), ca.certificate.trim());
            assert.strictEqual(await connect(roots), "ok hello");
            assert.match(await connect(undefined), /^error .*(self.signed|unable to get local issuer|unable to verify)/i);
            // A tcp:// Docker host without a ca.pem of its own is reached with these roots (engine/dockerapi.ts).
            const certs = path.join(dir, "docker-certs");
            fs.mkdirSync(certs, { recursive: true });
            const tcp = (env: NodeJS.ProcessEnv) => endpointOf({ DOCKER_HOST: "tcp://127.0.0.1:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: certs, ...env });
            assert.deepStrictEqual(tcp({ [HELD_EXTRA_CA]: caFile }), { kind: "tcp", host: "127.0.0.1", port: 2376, tls: { ca: undefined, extraCa: caFile, cert: path.join(certs, "cert.pem"), key: path.join(certs, "key.pem"), verify: true } });
            assert.deepStrictEqual(tcp({}), { kind: "tcp", host: "127.0.0.1", port: 2376, tls: { ca: undefined, cert: path.join(certs, "cert.pem"), key: path.join(certs, "key.pem"), verify: true } });
            // Nothing held, or a file that cannot be read: Node's own roots (undefined), as Node only warns about such a file.
            assert.strictEqual(rootsWithExtraCa(undefined), undefined);
            assert.strictEqual(rootsWithExtraCa(path.join(dir, "missing.pem")), undefined);
        } finally {
            listener.close();
        }
    });

    it("a child node process gets the held value back; one given its own keeps it", () => {
        assert.deepStrictEqual(withExtraCa({ [HELD_EXTRA_CA]: caFile }), { [HELD_EXTRA_CA]: caFile, NODE_EXTRA_CA_CERTS: caFile });
        assert.deepStrictEqual(withExtraCa({ [HELD_EXTRA_CA]: caFile, NODE_EXTRA_CA_CERTS: "/other.pem" }).NODE_EXTRA_CA_CERTS, "/other.pem");
        assert.deepStrictEqual(withExtraCa({ PATH: "/bin" }), { PATH: "/bin" });
    });
});
