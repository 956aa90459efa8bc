// The proxy's TLS material, checked before anything is declared: a PEM
// certificate chain and a private key that belong together. Values are never
// echoed, only what is wrong with them.
import { createHash, createPrivateKey, X509Certificate } from "crypto";

export interface TlsMaterial {
    certificate: string;
    key: string;
}

export interface TlsFacts {
    /** sha256 of the leaf certificate (DER), hex: what a change of certificate changes. */
    fingerprint: string;
    subject: string;
    validTo: string;
}

/** Problems with the pair, as config problem lines (key: what is wrong); empty when it is usable. */
/** Problems with a certificate and key, each naming its key as `${keyPrefix}tls.…`. */
export function tlsProblems(t: TlsMaterial, now = new Date(), keyPrefix = "switchyard:"): string[] {
    const problems: string[] = [];
    let cert: X509Certificate | undefined;
    if (!/-----BEGIN CERTIFICATE-----/.test(t.certificate)) problems.push(`${keyPrefix}tls.certificate = [secret]: must be a PEM certificate (-----BEGIN CERTIFICATE-----), the server's first, then its chain`);
    else {
        try {
            cert = new X509Certificate(t.certificate);
        } catch (err) {
            problems.push(`${keyPrefix}tls.certificate = [secret]: is not a readable PEM certificate (${(err as Error).message})`);
        }
    }
    let key: ReturnType<typeof createPrivateKey> | undefined;
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(t.key)) problems.push(`${keyPrefix}tls.key = [secret]: must be an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)`);
    else {
        try {
            key = createPrivateKey(t.key);
        } catch {
            problems.push(`${keyPrefix}tls.key = [secret]: is not a readable unencrypted PEM private key`);
        }
    }
    if (cert && key && !cert.checkPrivateKey(key)) problems.push(`${keyPrefix}tls.key = [secret]: does not belong to tls.certificate (their public keys differ)`);
    if (cert && new Date(cert.validTo) < now) problems.push(`${keyPrefix}tls.certificate = [secret]: expired on ${new Date(cert.validTo).toISOString()}; renew it`);
    return problems;
}

export function tlsFacts(certificate: string): TlsFacts {
    const cert = new X509Certificate(certificate);
    return { fingerprint: createHash("sha256").update(cert.raw).digest("hex"), subject: cert.subject.replace(/\n/g, ", "), validTo: new Date(cert.validTo).toISOString() };
}

/** One PEM file nginx reads for both the chain and the key: a rename swaps them together. */
export function combinedPem(t: TlsMaterial): string {
    const end = (s: string) => (s.endsWith("\n") ? s : `${s}\n`);
    return end(t.certificate) + end(t.key);
}
