// Any image, HTTPS and the data services' secrets, against a real Docker
// engine and a real nginx, Postgres and Redis (issues 15 and 16):
//   - a FROM scratch app (no shell, no curl, no cat) is gated, switched,
//     drained and retired under load, and migrated through its entrypoint;
//   - Redis takes a password full of special characters from stdin: never on
//     a command line, and the app reaches it through the encoded REDIS_URL;
//   - the certificate is installed and replaced under HTTPS load with no
//     reload, and under a stream of new handshakes none fails (its two
//     copies); a pair that does not fit is refused; plain HTTP redirects.
import * as assert from "assert";
import { X509Certificate } from "crypto";
import { spawnSync } from "child_process";
import * as http2 from "http2";
import * as tls from "tls";
import * as path from "path";
import { REDIS_COMMAND } from "../../components/redis";
import { CLOSING_MARKER, STATE_DIR, TLS_FILES, TLS_SINGLE_FILE } from "../../lib/routemarker";
import { combinedPem } from "../../lib/tls";
import { makeCa, makeCert, TestCert } from "../certs";
import { docker, dockerAvailable, IMAGES, runStep, runStepAsync, TestStack } from "./fixture";
import { describeFailures, get, startLoadProcess } from "./load";

const TOKEN = "app-secret-token-0123456789";

/** The certificate a fresh TLS connection to 127.0.0.1:port is shown. */
function servedCertificate(port: number, ca: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
            const raw = socket.getPeerCertificate().raw;
            socket.end();
            resolve(new X509Certificate(raw).fingerprint256);
        });
        socket.on("error", reject);
    });
}

describe("any image, HTTPS, data-service secrets (real Docker engine)", function () {
    this.timeout(300000);
    const stack = new TestStack("anyimage", { appPort: 8000, healthPath: "/healthz", tls: true });
    const ca = makeCa();
    const first = makeCert("first.switchyard.test", 30, ca);
    const second = makeCert("second.switchyard.test", 30, ca);
    const tlsEnv = (pair: TestCert) =>
        stack.env({ TLS_PEM: combinedPem(pair), TLS_FINGERPRINT: new X509Certificate(pair.certificate).fingerprint256.replace(/:/g, "").toLowerCase(), TLS_FILES: `${TLS_FILES.even} ${TLS_FILES.odd}` });
    const appEnv = (greeting: string) => ["APP_GREETING=" + greeting, `APP_SECRET_TOKEN=${TOKEN}`];
    let blue: string[] = [];
    let green: string[] = [];

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        blue = stack.startSlot("blue", 2, { image: IMAGES.scratch, env: appEnv("hello from blue") });
    });
    after(() => stack.down());

    it("Redis: the password (with @ / # ? % \" \\ $ and a space) works, and is on no command line", () => {
        const redis = `${stack.prefix}-redis`;
        assert.deepStrictEqual(JSON.parse(docker("inspect", "-f", "{{json .Config.Cmd}}", redis)), REDIS_COMMAND);
        const ping = docker("exec", redis, "sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping');
        assert.strictEqual(ping, "PONG");
        const wrong = docker("exec", redis, "sh", "-c", "REDISCLI_AUTH=wrong redis-cli ping 2>&1 || true");
        assert.match(wrong, /WRONGPASS|NOAUTH|invalid/i, "a wrong password is refused, so requirepass took effect");
        for (const where of ["{{json .Args}}", "{{json .Path}}"]) assert.ok(!docker("inspect", "-f", where, redis).includes(stack.redisPassword.slice(0, 24)), where);
        const cmdline = docker("exec", redis, "cat", "/proc/1/cmdline");
        assert.ok(!cmdline.includes(stack.redisPassword.slice(0, 24)), `redis-server's command line: ${cmdline}`);
    });

    it("a FROM scratch app has no shell, and passes the gate from the proxy with its own plain and secret variables", async () => {
        const sh = spawnSync("docker", ["exec", blue[0], "sh", "-c", "true"], { encoding: "utf8" });
        assert.notStrictEqual(sh.status, 0, "the image has no sh");
        const r = runStep("gate", stack.gateEnv("blue", blue));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /gate passed: blue is healthy on all 2 replica\(s\)/);
        const v = JSON.parse((await get(stack.livePort, "/version")).body);
        assert.strictEqual(v.greeting, "hello from blue");
        assert.strictEqual(v.tokenSha.length, 12, "the secret variable arrived (only its digest is shown)");
        const visits = await get(stack.livePort, "/visits", { method: "POST", body: "first" });
        assert.strictEqual(visits.status, 201, `Postgres and Redis through the encoded URLs: ${visits.body}`);
    });

    it("the migration runs the image's own entrypoint in exec form (no shell in the image)", () => {
        const r = runStep("migrate", stack.env({
            SWITCHYARD_COLOR: "green", PHASE: "expand", MIGRATION_COMMAND: JSON.stringify(["migrate"]), MIGRATION_IMAGE: IMAGES.scratch,
            BACKEND_NETWORK: stack.backend, MIGRATION_TIMEOUT: "60", DATABASE_URL: stack.databaseUrl,
        }));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /\[migrate expand\] \| migrate: schema ready \(visits, visits_color\)/);
        assert.match(r.stdout, /the expand migration finished \(exit 0\)/);
        const bad = runStep("migrate", stack.env({
            SWITCHYARD_COLOR: "green", PHASE: "expand", MIGRATION_COMMAND: "migrate && rm -rf /", MIGRATION_IMAGE: IMAGES.scratch,
            BACKEND_NETWORK: stack.backend, MIGRATION_TIMEOUT: "60", DATABASE_URL: stack.databaseUrl,
        }));
        assert.strictEqual(bad.status, 1);
        assert.match(bad.stderr, /MIGRATION_COMMAND 'migrate && rm -rf \/' is not a JSON list of arguments/);
    });

    it("HTTPS: the certificate is installed with no reload and answers; plain HTTP redirects when asked", async () => {
        const r = runStep("tls-config", tlsEnv(first));
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /HTTPS answers with certificate [0-9a-f]{16}/);
        assert.strictEqual(await servedCertificate(stack.tlsPort, ca.certificate), new X509Certificate(first.certificate).fingerprint256);
        const a = await get(stack.tlsPort, "/version", { tls: { ca: ca.certificate } });
        assert.strictEqual(a.status, 200);
        assert.strictEqual(a.headers["x-switchyard-color"], "blue");
        for (const file of [TLS_FILES.even, TLS_FILES.odd]) {
            const mode = docker("exec", stack.proxy, "stat", "-c", "%a %U", file);
            assert.match(mode, /^400 (nobody|www-data|nginx)$/, `${file}, with the key, is readable by the worker user alone: ${mode}`);
        }
        assert.strictEqual((await get(stack.previewTlsPort, "/healthz", { tls: { ca: ca.certificate } })).status, 200, "the preview listener serves HTTPS too");

        const redirect = runStep("proxy-config", stack.env(), stack.nginxConfig(5, true));
        try {
            assert.strictEqual(redirect.status, 0, redirect.stderr);
            // A reload is asynchronous: the new workers answer within moments.
            let plain = await get(stack.livePort, "/version?x=1");
            for (let i = 0; i < 50 && plain.status !== 301; i++) {
                await new Promise((r) => setTimeout(r, 100));
                plain = await get(stack.livePort, "/version?x=1");
            }
            assert.strictEqual(plain.status, 301);
            assert.strictEqual(plain.headers.location, `https://127.0.0.1:${stack.tlsPort}/version?x=1`);
            // The proxy's own probes (its socket) stay on plain HTTP; a client on the host's 127.0.0.1 does not count as one.
            const inside = docker("exec", stack.proxy, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", "/run/switchyard-live.sock", "http://localhost/version");
            assert.strictEqual(inside, "200", "the proxy's own probes stay on plain HTTP");
        } finally {
            assert.strictEqual(runStep("proxy-config", stack.env(), stack.nginxConfig(5)).status, 0);
            for (let i = 0; i < 50 && (await get(stack.livePort, "/version")).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
        }
    });

    it("the closing window over HTTPS: HTTP/1.1 answers say Connection: close, HTTP/2 answers carry no Connection header (it is not allowed there)", async () => {
        const marker = `${STATE_DIR}/${CLOSING_MARKER}`;
        docker("exec", stack.proxy, "touch", marker);
        try {
            const h1 = await get(stack.tlsPort, "/version", { tls: { ca: ca.certificate } });
            assert.strictEqual(h1.status, 200);
            assert.match(String(h1.headers.connection), /close/);
            const session = http2.connect(`https://127.0.0.1:${stack.tlsPort}`, { ca: ca.certificate, servername: "localhost" });
            try {
                const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
                    const req = session.request({ ":path": "/version" });
                    req.on("response", (h) => resolve(h));
                    req.on("error", reject);
                    req.resume();
                    req.end();
                });
                assert.strictEqual(headers[":status"], 200);
                assert.strictEqual(headers.connection, undefined);
            } finally {
                session.close();
            }
        } finally {
            docker("exec", stack.proxy, "rm", "-f", marker);
        }
    });

    it("under HTTPS and HTTP load: switch to a scratch green, replace the certificate, retire blue: 0 failed", async () => {
        green = stack.startSlot("green", 2, { image: IMAGES.scratch, env: appEnv("hello from green") });
        stack.passGate("green", green);
        const loadTls = startLoadProcess({ port: stack.tlsPort, rate: 120, durationMs: 60000, tls: { ca: ca.certificate } });
        const loadHttp = startLoadProcess({ port: stack.livePort, rate: 100, durationMs: 60000 });
        await new Promise((r) => setTimeout(r, 2000));
        const slow = Array.from({ length: 4 }, () => get(stack.tlsPort, "/slow?ms=2500", { tls: { ca: ca.certificate } }));
        await new Promise((r) => setTimeout(r, 300));
        const repoint = await runStepAsync("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire" }));
        assert.strictEqual(repoint.status, 0, repoint.stderr);
        const verify = await runStepAsync("verify", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire", VERIFY_REQUESTS: "5", HEALTH_PATH: "/healthz" }));
        assert.strictEqual(verify.status, 0, verify.stderr);
        await new Promise((r) => setTimeout(r, 1500));
        const t0 = Date.now();
        const rotate = await runStepAsync("tls-config", tlsEnv(second));
        const rotateMs = Date.now() - t0;
        assert.strictEqual(rotate.status, 0, rotate.stderr);
        assert.strictEqual(await servedCertificate(stack.tlsPort, ca.certificate), new X509Certificate(second.certificate).fingerprint256, "the next handshake has the new certificate");
        await new Promise((r) => setTimeout(r, 1500));
        // The old colour has requests in flight; retire waits for them, counted from the proxy (the image has no cat).
        const retire = await runStepAsync("retire", stack.env({ RETIRE_COLOR: "blue", DRAIN_SECONDS: "20", APP_PORT: "8000", STOP_GRACE_SECONDS: "10" }));
        assert.strictEqual(retire.status, 0, retire.stderr);
        assert.match(retire.stdout, /drained: no request in flight to blue/);
        const held = await Promise.all(slow);
        assert.deepStrictEqual(held.map((h) => [h.status, h.headers["x-switchyard-color"]]), Array(4).fill([200, "blue"]), "held requests on blue finished");
        await new Promise((r) => setTimeout(r, 2000));
        const [https, http] = await Promise.all([loadTls.stop(), loadHttp.stop()]);
        console.log(`      scratch release over HTTPS: ${https.requests} requests, failed ${https.failed}, p99 ${https.p99} ms; HTTP: ${http.requests}, failed ${http.failed}; certificate replaced in ${rotateMs} ms`);
        assert.strictEqual(https.failed, 0, describeFailures(https));
        assert.strictEqual(http.failed, 0, describeFailures(http));
        assert.ok(https.requests > 1000 && (https.byColour.green ?? 0) > 0 && (https.byColour.blue ?? 0) > 0, JSON.stringify(https.byColour));
        assert.ok(https.samples.some((s) => s.method === "POST" && s.status === 201), "the load wrote to Postgres and Redis");
        for (const name of blue) assert.strictEqual(docker("inspect", "-f", "{{.State.ExitCode}}", name), "0", `${name} stopped on SIGTERM by itself`);
    });

    it("a certificate whose key does not fit is refused before either copy changes: the previous one keeps serving", async () => {
        const before = await servedCertificate(stack.tlsPort, ca.certificate);
        const copies = docker("exec", stack.proxy, "sh", "-c", `sha256sum ${TLS_FILES.even} ${TLS_FILES.odd}`);
        const r = runStep("tls-config", tlsEnv({ certificate: first.certificate, key: second.key }));
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /TLS_PEM = \[secret\]: its key does not belong to its first certificate .*; nothing was installed/);
        assert.ok(!`${r.stdout}${r.stderr}`.includes("PRIVATE KEY"), "no key in the output");
        assert.strictEqual(docker("exec", stack.proxy, "sh", "-c", `sha256sum ${TLS_FILES.even} ${TLS_FILES.odd}`), copies, "neither copy changed");
        assert.strictEqual(await servedCertificate(stack.tlsPort, ca.certificate), before);
        assert.strictEqual((await get(stack.tlsPort, "/version", { tls: { ca: ca.certificate } })).status, 200);
    });

    it("a stream of new handshakes while the certificate is replaced six times, and while a proxy with the one file of before moves to the two copies: none fails", async () => {
        const fingerprints = new Map([[new X509Certificate(first.certificate).fingerprint256, "first"], [new X509Certificate(second.certificate).fingerprint256, "second"]]);
        const seen: { at: number; cert: string }[] = [];
        const failures: string[] = [];
        let running = true;
        // Four clients, each opening a new connection as soon as the last one's handshake ended.
        const clients = Array.from({ length: 4 }, async () => {
            while (running) {
                try {
                    const cert = await servedCertificate(stack.tlsPort, ca.certificate);
                    seen.push({ at: Date.now(), cert: fingerprints.get(cert) ?? cert });
                } catch (e) {
                    failures.push(`${new Date().toISOString()} ${(e as Error).message}`);
                }
            }
        });
        const rotations: { from: number; to: number }[] = [];
        try {
            await new Promise((r) => setTimeout(r, 500));
            // A proxy of before: its config names one file, which serves.
            const single = stack.nginxConfig(5).replace(/ {4}map \$msec \$switchyard_tls_file \{[^}]*\}/, `    map $ssl_server_name $switchyard_tls_file {\n        default ${TLS_SINGLE_FILE};\n    }`);
            assert.ok(single.includes(TLS_SINGLE_FILE), "the config of before names the one file");
            docker("exec", stack.proxy, "sh", "-c", 'cp "$1" "$2" && chmod 400 "$2" && chown "$(stat -c %u "$1")" "$2"', "sh", TLS_FILES.even, TLS_SINGLE_FILE);
            assert.strictEqual(runStep("proxy-config", stack.env(), single).status, 0);
            docker("exec", stack.proxy, "rm", "-f", TLS_FILES.even, TLS_FILES.odd);
            const moved = runStep("proxy-config", stack.env(), stack.nginxConfig(5));
            assert.strictEqual(moved.status, 0, moved.stderr);
            assert.strictEqual(docker("exec", stack.proxy, "sh", "-c", `ls ${path.posix.dirname(TLS_SINGLE_FILE)}`), "server.even.pem\nserver.odd.pem", "both copies, seeded from the one file, which is gone");
            for (const [i, pair] of [first, second, first, second, first, second].entries()) {
                const from = Date.now();
                const r = await runStepAsync("tls-config", tlsEnv(pair));
                rotations.push({ from, to: Date.now() });
                assert.strictEqual(r.status, 0, `rotation ${i + 1}: ${r.stderr}`);
                assert.match(r.stdout, /each copy in a second nginx read the other/);
            }
            await new Promise((r) => setTimeout(r, 500));
        } finally {
            running = false;
            await Promise.all(clients);
        }
        // In a rotation, one second's handshakes show one copy: so each copy changed while nginx read the other.
        // A handshake is stamped when it ends: those early in a second may have had their certificate chosen in the one before.
        const mixed = rotations.flatMap(({ from, to }) => {
            const bySecond = new Map<number, Set<string>>();
            for (const s of seen.filter((s) => s.at >= from && s.at <= to && s.at % 1000 > 300)) {
                bySecond.set(Math.floor(s.at / 1000), (bySecond.get(Math.floor(s.at / 1000)) ?? new Set()).add(s.cert));
            }
            return [...bySecond].filter(([, certs]) => certs.size > 1).map(([second]) => second);
        });
        const during = seen.filter((s) => rotations.some(({ from, to }) => s.at >= from && s.at <= to));
        console.log(`      ${seen.length} handshakes (${during.length} during the six rotations), ${failures.length} failed; rotations took ${rotations.map(({ from, to }) => to - from).join(", ")} ms`);
        assert.deepStrictEqual(failures, [], "every handshake succeeded");
        assert.ok(during.length > 300, `enough handshakes during the rotations: ${during.length}`);
        assert.deepStrictEqual(mixed, [], "no second (past its first 300 ms) served both certificates");
        assert.strictEqual(seen[seen.length - 1].cert, "second", "the last pair installed serves");
    });

    it("HTTPS turned off: once the config without it serves, the certificate and its key are gone from the proxy", async () => {
        assert.strictEqual(docker("exec", stack.proxy, "sh", "-c", `test -f ${TLS_FILES.even} && test -f ${TLS_FILES.odd} && echo present`), "present");
        const off = runStep("proxy-config", stack.env(), stack.nginxConfig(5, false, false));
        assert.strictEqual(off.status, 0, off.stderr);
        assert.match(off.stdout, /no listener serves the certificate from config any more: removed it and its key/);
        assert.strictEqual(spawnSync("docker", ["exec", stack.proxy, "test", "-e", path.posix.dirname(TLS_FILES.even)]).status, 1, "the key's directory is gone");
        assert.strictEqual((await get(stack.livePort, "/version")).status, 200, "plain HTTP keeps serving");
        const again = runStep("proxy-config", stack.env(), stack.nginxConfig(5, false, false));
        assert.doesNotMatch(again.stdout, /removed it and its key/, "nothing to remove the second time");
    });
});
