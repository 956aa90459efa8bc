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

/**
 * Problems with a certificate and key, as config problem lines (key: what is
 * wrong), each naming its key as `${keyPrefix}${at}.certificate` / `.key`;
 * empty when the pair is usable.
 */
export function tlsProblems(t: TlsMaterial, now = new Date(), keyPrefix = "switchyard:", at = "tls"): string[] {
    const problems: string[] = [];
    const cert = readCertificate(t.certificate, `${keyPrefix}${at}.certificate`, "the server's first, then its chain", problems);
    let key: ReturnType<typeof createPrivateKey> | undefined;
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(t.key)) problems.push(`${keyPrefix}${at}.key = [secret]: must be an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)`);
    else {
        try {
            key = createPrivateKey(t.key);
        } catch {
            problems.push(`${keyPrefix}${at}.key = [secret]: is not a readable unencrypted PEM private key`);
        }
    }
    if (cert && key && !cert.checkPrivateKey(key)) problems.push(`${keyPrefix}${at}.key = [secret]: does not belong to ${at}.certificate (their public keys differ)`);
    if (cert && new Date(cert.validTo) < now) problems.push(`${keyPrefix}${at}.certificate = [secret]: expired on ${new Date(cert.validTo).toISOString()}; renew it`);
    return problems;
}

/** A tcp:// host's client material: the engine's CA, and a client certificate and key that belong together. */
export function clientTlsProblems(hostName: string, m: TlsMaterial & { ca: string }, now = new Date(), keyPrefix = "switchyard:"): string[] {
    const at = `hostsTls.${hostName}`;
    const problems: string[] = [];
    const ca = readCertificate(m.ca, `${keyPrefix}${at}.ca`, "the CA that signed the engine's certificate", problems);
    if (ca && new Date(ca.validTo) < now) problems.push(`${keyPrefix}${at}.ca = [secret]: expired on ${new Date(ca.validTo).toISOString()}`);
    return [...problems, ...tlsProblems(m, now, keyPrefix, at)];
}

/** Every certificate and key of the settings (the proxy's, each tcp:// host's), checked. */
export function materialProblems(cfg: { tls?: TlsMaterial; hostsTls?: Record<string, TlsMaterial & { ca: string }> }, keyPrefix: string, now = new Date()): string[] {
    return [
        ...(cfg.tls ? tlsProblems(cfg.tls, now, keyPrefix) : []),
        ...Object.entries(cfg.hostsTls ?? {}).flatMap(([host, m]) => clientTlsProblems(host, m, now, keyPrefix)),
    ];
}

function readCertificate(pem: string, key: string, what: string, problems: string[]): X509Certificate | undefined {
    if (!/-----BEGIN CERTIFICATE-----/.test(pem)) {
        problems.push(`${key} = [secret]: must be a PEM certificate (-----BEGIN CERTIFICATE-----), ${what}`);
        return undefined;
    }
    try {
        return new X509Certificate(pem);
    } catch (err) {
        problems.push(`${key} = [secret]: is not a readable PEM certificate (${(err as Error).message})`);
        return undefined;
    }
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
