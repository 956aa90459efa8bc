// Self-signed certificates for the TLS tests, made by the openssl CLI (the
// same PEM any CA or ACME client hands a user). No ACME server is reachable
// here; these stand in only for the certificate files, not for renewal.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface TestCert {
    certificate: string;
    key: string;
}

/** A fresh key pair and a certificate for localhost and 127.0.0.1, valid for `days`. */
export function makeCert(commonName = "switchyard.test", days = 30): TestCert {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-cert-"));
    try {
        const key = path.join(dir, "key.pem");
        const cert = path.join(dir, "cert.pem");
        const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
            "-subj", `/CN=${commonName}`, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", String(days)];
        execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
        return { certificate: fs.readFileSync(cert, "utf8"), key: fs.readFileSync(key, "utf8") };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
