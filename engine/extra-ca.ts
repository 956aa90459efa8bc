// NODE_EXTRA_CA_CERTS, held aside while a step runs. Node reads and parses the
// whole bundle it names before a process's first line: 45-50 ms a process for
// Debian's 144 certificates on a 2-core host, and a release starts five to
// seven steps one after the other. scripts/release/engine.sh therefore starts
// a step without it and keeps its value in HELD_EXTRA_CA. A step needs those
// CAs only where it opens TLS towards something the user runs: the webhook
// (notify.js, its own process, gets the variable back) and a tcp:// Docker
// host that brings no ca.pem of its own (its roots get the file added).
import * as fs from "fs";
import * as tls from "tls";

/** Where engine.sh keeps the user's NODE_EXTRA_CA_CERTS for the step's children. */
export const HELD_EXTRA_CA = "SWITCHYARD_NODE_EXTRA_CA_CERTS";

/** A child node process's environment (notify.js): the held extra CAs back where Node reads them. */
export function withExtraCa(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
    const held = env[HELD_EXTRA_CA];
    return held && !env.NODE_EXTRA_CA_CERTS ? { ...env, NODE_EXTRA_CA_CERTS: held } : env;
}

/**
 * The roots for a TLS connection that names no CA of its own: Node's bundled
 * roots plus the held file's certificates, as NODE_EXTRA_CA_CERTS would have
 * made them. Undefined (Node's default roots) when nothing is held, or when
 * the file cannot be read: Node itself only warns about an unreadable one.
 */
export function rootsWithExtraCa(held: string | undefined): string[] | undefined {
    if (!held) return undefined;
    let pem: string;
    try {
        pem = fs.readFileSync(held, "utf8");
    } catch {
        return undefined;
    }
    const extra = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    return extra.length ? [...tls.rootCertificates, ...extra] : undefined;
}
