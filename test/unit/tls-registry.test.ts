// HTTPS on the proxy and a private registry (issue 15), on the resources the
// program declares under Pulumi's mocks, and the checks that refuse a bad
// certificate or a plaintext password before anything is declared.
import * as assert from "assert";
import { tlsProblems } from "../../lib/tls";
import { makeCert } from "../certs";
import { byType, get, runProgram, RunResult, SECRET_SIG, unwrapSecrets } from "./mocks";

const base = { liveColor: "blue", slots: { blue: { image: "127.0.0.1:5000/scratch-app:1.0.0" } }, appPort: 8000, health: { path: "/healthz" } };
const cert = makeCert();
const other = makeCert();
const registry = { server: "127.0.0.1:5000", username: "deploy" };
const registryPassword = "registry-pass-0123456789";

function plaintextIn(run: RunResult, value: string): string[] {
    return [...run.resources.values()]
        .filter((r) => JSON.stringify(r.inputs, (_k, v) => (v && typeof v === "object" && v[SECRET_SIG] ? "[secret]" : v)).includes(value))
        .map((r) => r.name);
}

async function refusal(config: Record<string, unknown>, secrets: string[]): Promise<Error & { registered?: string[] }> {
    try {
        await runProgram({ config, secrets });
    } catch (err) {
        return err as Error & { registered?: string[] };
    }
    throw new Error("the program must refuse this config");
}

describe("HTTPS and a private registry (Pulumi mocks)", function () {
    this.timeout(30000);

    it("tls: four listeners, the certificate installed by a step that carries the PEM as a secret, no key in plaintext", async () => {
        const run = await runProgram({ config: { ...base, tls: cert, proxy: { redirectHttp: true } }, secrets: ["tls"] });
        // Host networking: nginx itself listens on the four host addresses, each with no Docker port rule.
        const proxy = get(run, "proxy-container").inputs;
        assert.strictEqual(proxy.networkMode, "host");
        assert.strictEqual(proxy.ports, undefined);
        const listens = [...String(get(run, "proxy-config").inputs.stdin).matchAll(/^\s*listen (127\.0\.0\.1:\d+)( ssl http2)?;/gm)].map((m) => `${m[1]}${m[2] ? " tls" : ""}`);
        assert.deepStrictEqual(listens, ["127.0.0.1:8080", "127.0.0.1:8443 tls", "127.0.0.1:8081", "127.0.0.1:8444 tls"]);
        assert.strictEqual(get(run, "proxy-tls").inputs.environment.LIVE_TLS_SOCKET, "/run/switchyard-live-tls.sock", "the step checks HTTPS on the proxy's own socket");
        const step = get(run, "proxy-tls");
        assert.ok(step.inputs.environment.TLS_PEM[SECRET_SIG], "TLS_PEM is secret");
        assert.match(step.inputs.environment.TLS_FINGERPRINT, /^[0-9a-f]{64}$/);
        assert.ok(step.deps.includes("proxy-config"), "after the config with the HTTPS listeners");
        const keyBody = cert.key.split("\n")[1];
        assert.deepStrictEqual(plaintextIn(run, keyBody), [], "the private key is in no input in plaintext");
        assert.ok(!`${step.inputs.create}${step.inputs.update}`.includes("PRIVATE KEY"), "nor in command text");
        assert.strictEqual(run.outputs.liveTlsUrl, "https://127.0.0.1:8443");
        assert.match(String(get(run, "proxy-config").inputs.stdin), /listen 127\.0\.0\.1:8443 ssl http2;[\s\S]*return 301 https:\/\/\$host:8443\$request_uri;/);
    });

    it("a new certificate changes only the tls step (no proxy re-creation, no reload)", async () => {
        const a = await runProgram({ config: { ...base, tls: cert }, secrets: ["tls"] });
        const b = await runProgram({ config: { ...base, tls: other }, secrets: ["tls"] });
        const changed = [...b.resources.keys()].filter((k) => JSON.stringify(a.resources.get(k)?.inputs) !== JSON.stringify(b.resources.get(k)!.inputs));
        assert.deepStrictEqual(changed.filter((n) => !n.startsWith("switchyard-") && n !== "switchyard"), ["proxy-tls"]);
    });

    it("a bad certificate, a key of another certificate and an expired one are refused, naming neither value", async () => {
        for (const [tls, expected] of [
            [{ certificate: "not a cert", key: cert.key }, /switchyard:tls\.certificate = \[secret\]: must be a PEM certificate/],
            [{ certificate: cert.certificate, key: other.key }, /switchyard:tls\.key = \[secret\]: does not belong to tls\.certificate/],
            [{ certificate: cert.certificate, key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }, /switchyard:tls\.key = \[secret\]: is not a readable unencrypted PEM private key/],
        ] as const) {
            const err = await refusal({ ...base, tls }, ["tls"]);
            assert.match(err.message, expected);
            assert.match(err.message, /nothing was created or changed/);
            assert.ok(!err.message.includes(cert.key.split("\n")[1]) && !err.message.includes(other.key.split("\n")[1]), "no key in the message");
            assert.deepStrictEqual(err.registered ?? [], []);
        }
        assert.match(tlsProblems(cert, new Date(Date.now() + 60 * 86400e3)).join(""), /^switchyard:tls\.certificate = \[secret\]: expired on \d{4}-/);
        assert.match((await refusal({ ...base, tls: cert }, [])).message, /switchyard:tls: is stored in plaintext/);
        assert.match((await refusal({ ...base, proxy: { redirectHttp: true } }, [])).message, /switchyard:proxy\.redirectHttp = true: needs tls/);
        assert.match((await refusal({ ...base, tls: cert, proxy: { tlsPort: 8080 } }, ["tls"])).message, /switchyard:proxy\.tlsPort = 8080: must differ from proxy\.livePort and proxy\.previewPort/);
    });

    it("registry: slot images are pulled by a provider of their own with the credentials, all secret; data images are not", async () => {
        const run = await runProgram({ config: { ...base, registry, registryPassword }, secrets: ["registryPassword"] });
        const providers = byType(run, "pulumi:providers:docker");
        const reg = providers.find((p) => p.name === "registry")!;
        assert.ok(reg, `a registry provider: ${providers.map((p) => p.name).join(", ")}`);
        assert.deepStrictEqual(plaintextIn(run, registryPassword), [], "the password is in no input in plaintext");
        assert.strictEqual(JSON.parse(unwrapSecrets(reg.inputs.registryAuth))[0].address, "127.0.0.1:5000", "provider config travels as JSON text");
        assert.match(get(run, "release-app-blue-image").provider, /::switchyard-registry::/, "the slot image uses it");
        assert.doesNotMatch(get(run, "postgres-image").provider, /::switchyard-registry::/, "Postgres's image does not");
        const none = await runProgram({ config: base });
        assert.deepStrictEqual(byType(none, "pulumi:providers:docker").map((p) => p.name), ["docker"], "without registry config, one provider as before");
    });

    it("a registry password in plaintext, missing, or a server that is not a host, are refused", async () => {
        assert.match((await refusal({ ...base, registry, registryPassword }, [])).message, /switchyard:registryPassword: is stored in plaintext; set it with `pulumi config set --secret registryPassword <password>`/);
        assert.match((await refusal({ ...base, registry }, [])).message, /switchyard:registryPassword = \(not set\): is required with registry/);
        const bad = await refusal({ ...base, registry: { ...registry, server: "https://ghcr.io/x" }, registryPassword }, ["registryPassword"]);
        assert.match(bad.message, /switchyard:registry\.server = "https:\/\/ghcr\.io\/x": must be a registry host\[:port\]/);
        assert.ok(!bad.message.includes(registryPassword));
    });
});
