// Certificates for the TLS tests, made by the openssl CLI (the same PEM any
// CA or ACME client hands a user): a test CA, and server certificates for
// localhost and 127.0.0.1 signed by it, so a client that trusts the CA keeps
// trusting the server across a certificate change. No ACME server is
// reachable here; these stand in only for the files, not for renewal.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface TestCert {
    certificate: string;
    key: string;
}

function openssl(args: string[], cwd: string): void {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function inTempDir<T>(fn: (dir: string) => T): T {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-cert-"));
    try {
        return fn(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA. */
export function makeCa(commonName = "Switchyard Test CA"): TestCert {
    return inTempDir((dir) => {
        openssl(["req", "-x509", ...EC, "-keyout", "ca.key", "-out", "ca.pem", "-subj", `/CN=${commonName}`, "-days", "30"], dir);
        return { certificate: fs.readFileSync(path.join(dir, "ca.pem"), "utf8"), key: fs.readFileSync(path.join(dir, "ca.key"), "utf8") };
    });
}

/** A server certificate for localhost and 127.0.0.1, valid for `days`: signed by `ca`, or self-signed without one. */
export function makeCert(commonName = "switchyard.test", days = 30, ca?: TestCert): TestCert {
    return inTempDir((dir) => {
        const san = "subjectAltName=DNS:localhost,IP:127.0.0.1";
        if (!ca) {
            openssl(["req", "-x509", ...EC, "-keyout", "key.pem", "-out", "cert.pem", "-subj", `/CN=${commonName}`, "-addext", san, "-days", String(days)], dir);
        } else {
            fs.writeFileSync(path.join(dir, "ca.pem"), ca.certificate);
            fs.writeFileSync(path.join(dir, "ca.key"), ca.key);
            fs.writeFileSync(path.join(dir, "ext.cnf"), `${san}\n`);
            openssl(["req", ...EC, "-keyout", "key.pem", "-out", "req.csr", "-subj", `/CN=${commonName}`], dir);
            openssl(["x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", String(days), "-extfile", "ext.cnf"], dir);
        }
        return { certificate: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"), key: fs.readFileSync(path.join(dir, "key.pem"), "utf8") };
    });
}
