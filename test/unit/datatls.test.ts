// The data services' TLS, its pure parts: the self-signed certificate written
// by hand in DER (read back by Node's own X.509 parser and checked by a real
// TLS handshake), when a pair in service may stay, the other hosts' URLs, and
// when a stack made before TLS keeps its clear connections.
import * as assert from "assert";
import { generateKeyPairSync, X509Certificate } from "crypto";
import * as tls from "tls";
import { ipBytes, selfSignedCertificate } from "../../lib/certificate";
import { certificateFromOutput, certificateUsable, DATA_TLS, dataTlsContainerArgs, keepsClearData, tlsDatabaseUrl, tlsRedisUrl } from "../../lib/datatls";

const DAY = 86_400_000;
const now = new Date("2026-12-04T12:00:00Z");
const key = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const make = (k = key(), ips = ["10.0.0.11"], notAfter = new Date(now.getTime() + 365 * DAY)) =>
    selfSignedCertificate({ key: k, commonName: "switchyard data 10.0.0.11", ipAddresses: ips, dnsNames: ["switchyard-data"], notBefore: new Date(now.getTime() - DAY), notAfter });

describe("the data services' TLS (lib/certificate.ts, lib/datatls.ts)", () => {
    it("a self-signed certificate for IP addresses that X.509 parsers read: names, validity, signature, not a CA", () => {
        const k = key();
        const x = new X509Certificate(make(k, ["10.0.0.11", "fd00::11"]));
        assert.strictEqual(x.subject, "CN=switchyard data 10.0.0.11");
        assert.strictEqual(x.issuer, x.subject);
        assert.strictEqual(x.checkIP("10.0.0.11"), "10.0.0.11");
        assert.strictEqual(x.checkIP("fd00::11"), "fd00::11");
        assert.strictEqual(x.checkIP("10.0.0.12"), undefined);
        assert.strictEqual(x.checkHost("switchyard-data"), "switchyard-data");
        assert.strictEqual(x.checkHost("other"), undefined);
        assert.ok(x.verify(x.publicKey), "signed by its own key");
        assert.ok(x.checkPrivateKey(k));
        assert.strictEqual(x.ca, false);
        assert.deepStrictEqual(x.keyUsage, ["1.3.6.1.5.5.7.3.1"], "server authentication only");
        assert.strictEqual(new Date(x.validTo).toISOString(), new Date(now.getTime() + 365 * DAY).toISOString());
        // After 2049 a validity date is a GeneralizedTime.
        assert.strictEqual(new Date(new X509Certificate(make(k, ["10.0.0.11"], new Date("2051-06-01T00:00:00Z"))).validTo).getUTCFullYear(), 2051);
        assert.throws(() => selfSignedCertificate({ key: generateKeyPairSync("ed25519").privateKey, commonName: "x", ipAddresses: [], notBefore: now, notAfter: now }), /must be an EC key/);
    });

    it("IP addresses as subjectAltName bytes: IPv4, IPv6 in every spelling, IPv4-mapped", () => {
        assert.strictEqual(ipBytes("10.0.0.11").toString("hex"), "0a00000b");
        assert.strictEqual(ipBytes("fd00::11").toString("hex"), "fd000000000000000000000000000011");
        assert.strictEqual(ipBytes("fd00:0:0:0:0:0:0:11").toString("hex"), "fd000000000000000000000000000011");
        assert.strictEqual(ipBytes("::").toString("hex"), "0".repeat(32));
        assert.strictEqual(ipBytes("::ffff:10.0.0.1").toString("hex"), "00000000000000000000ffff0a000001");
        assert.throws(() => ipBytes("db.internal"), /is not an IP address/);
    });

    it("a client that trusts the certificate alone completes a TLS handshake with it, and only for its address", async () => {
        const k = key();
        /** What a client that trusts `ca` reads from a server on 127.0.0.1 with `cert`: its answer, or its error. */
        const handshake = async (cert: string, ca: string) => {
            const server = tls.createServer({ key: k.export({ type: "pkcs8", format: "pem" }), cert }, (s) => s.end("ok"));
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            const port = (server.address() as { port: number }).port;
            try {
                return await new Promise<string>((resolve) => {
                    const c = tls.connect({ host: "127.0.0.1", port, ca }, () => c.once("data", (d) => resolve(String(d))));
                    c.on("error", (e) => resolve(`error: ${e.message}`));
                });
            } finally {
                server.close();
            }
        };
        const cert = make(k, ["127.0.0.1"]);
        assert.strictEqual(await handshake(cert, cert), "ok");
        assert.match(await handshake(cert, make()), /^error: /, "another certificate is not trusted");
        const elsewhere = make(k, ["127.0.0.2"]);
        assert.match(await handshake(elsewhere, elsewhere), /^error: .*127\.0\.0\.1/, "a certificate for another address is refused");
    });

    it("a pair in service stays only while it is a pair, for this address, and further than renewDays from its end", () => {
        const k = key();
        assert.strictEqual(certificateUsable(make(k), k, "10.0.0.11", now), true);
        assert.strictEqual(certificateUsable(make(k), key(), "10.0.0.11", now), false, "another key");
        assert.strictEqual(certificateUsable(make(k), k, "10.0.0.12", now), false, "data.address moved");
        const noName = selfSignedCertificate({ key: k, commonName: "x", ipAddresses: ["10.0.0.11"], notBefore: new Date(now.getTime() - DAY), notAfter: new Date(now.getTime() + 365 * DAY) });
        assert.strictEqual(certificateUsable(noName, k, "10.0.0.11", now), false, "without the name the URLs give");
        assert.strictEqual(certificateUsable(make(k, ["10.0.0.11"], new Date(now.getTime() + (DATA_TLS.renewDays - 1) * DAY)), k, "10.0.0.11", now), false, "near its end");
        assert.strictEqual(certificateUsable("not a certificate", k, "10.0.0.11", now), false);
    });

    it("the step's output: its last certificate, none when it printed none", () => {
        const a = make();
        const b = make();
        assert.strictEqual(certificateFromOutput(`[data-tls   0.1s] made a certificate\n${a}`), a);
        assert.strictEqual(certificateFromOutput(`${a}[data-tls 0.2s] again\n${b}`), b);
        assert.strictEqual(certificateFromOutput(a.trimEnd()), a);
        assert.strictEqual(certificateFromOutput("[data-tls 0.1s] FAILED\n"), "");
    });

    it("the other hosts' URLs ask for TLS and check the server against the certificate", () => {
        assert.strictEqual(tlsDatabaseUrl("postgres://app:p%40ss@switchyard-data:5432/app"), "postgres://app:p%40ss@switchyard-data:5432/app?sslmode=verify-full&sslrootcert=/etc/switchyard/data-ca.pem");
        assert.strictEqual(tlsRedisUrl("redis://:p%40ss@switchyard-data:6379/0"), "rediss://:p%40ss@switchyard-data:6379/0");
        assert.deepStrictEqual(dataTlsContainerArgs({ ca: "PEM", address: "10.0.0.11" }), { uploads: [{ file: "/etc/switchyard/data-ca.pem", content: "PEM" }], hosts: [{ host: "switchyard-data", ip: "10.0.0.11" }] });
        assert.throws(() => tlsRedisUrl("rediss://x@y:1/0"), /starts with redis:\/\//);
    });

    it("a stack made before TLS stays clear until Redis may be re-created; a new one or one made with TLS gets it", () => {
        assert.strictEqual(keepsClearData(false, new Set()), true);
        assert.strictEqual(keepsClearData(false, new Set(["redis"])), false);
        assert.strictEqual(keepsClearData(true, new Set()), false);
        assert.strictEqual(keepsClearData(undefined, new Set()), false, "no Redis yet: a new stack");
    });
});
