// A self-signed X.509 certificate, made with Node's crypto alone: the data
// services' TLS (engine/data-tls.ts) needs a certificate for an IP address on
// the data host, and neither the machine running Pulumi nor every Postgres or
// Redis image is sure to have openssl. Node signs (ECDSA P-256) but cannot
// build a certificate, so this file writes the DER itself: a few ASN.1 types
// are all a certificate needs.
import { createPublicKey, KeyObject, randomBytes, sign } from "crypto";
import { isIP } from "net";

export interface CertificateRequest {
    /** An EC P-256 private key: it signs, and its public half is the certificate's. */
    key: KeyObject;
    /** The subject's and the issuer's common name (self-signed: the same). */
    commonName: string;
    /** IP addresses the certificate is valid for (subjectAltName). */
    ipAddresses: string[];
    /** DNS names it is valid for (subjectAltName). Defaults to none. */
    dnsNames?: string[];
    notBefore: Date;
    notAfter: Date;
}

/** A DER element: tag, length, content. */
function der(tag: number, content: Buffer): Buffer {
    const n = content.length;
    let length: Buffer;
    if (n < 0x80) length = Buffer.from([n]);
    else {
        const bytes: number[] = [];
        for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
        length = Buffer.from([0x80 | bytes.length, ...bytes]);
    }
    return Buffer.concat([Buffer.from([tag]), length, content]);
}

const seq = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => der(0x31, Buffer.concat(parts));
const explicit = (n: number, inner: Buffer) => der(0xa0 + n, inner);
const octets = (b: Buffer) => der(0x04, b);
const bits = (b: Buffer, unused = 0) => der(0x03, Buffer.concat([Buffer.from([unused]), b]));
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));
const utf8 = (s: string) => der(0x0c, Buffer.from(s, "utf8"));

/** An INTEGER from unsigned big-endian bytes (a leading 0 keeps it positive). */
function integer(b: Buffer): Buffer {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    const trimmed = b.subarray(i);
    return der(0x02, trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
    const [a, b, ...rest] = dotted.split(".").map(Number);
    const out = [a * 40 + b];
    for (const v of rest) {
        const chunk = [v & 0x7f];
        for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128)) chunk.unshift(0x80 | (x & 0x7f));
        out.push(...chunk);
    }
    return der(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
    const iso = d.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:T]/g, "");
    return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2), "ascii")) : der(0x18, Buffer.from(iso, "ascii"));
}

/** The packed bytes of an IPv4 or IPv6 address (subjectAltName's iPAddress). */
export function ipBytes(address: string): Buffer {
    const family = isIP(address);
    if (family === 4) return Buffer.from(address.split(".").map(Number));
    if (family !== 6) throw new Error(`"${address}" is not an IP address`);
    // An IPv4 tail (::ffff:10.0.0.1) is two groups of hex.
    const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
    const text = v4 ? `${v4[1]}${ipBytes(v4[2]).readUInt16BE(0).toString(16)}:${ipBytes(v4[2]).readUInt16BE(2).toString(16)}` : address;
    const [head, tail] = text.split("::");
    const groups = (s: string) => (s === "" ? [] : s.split(":"));
    const left = groups(head);
    const right = tail === undefined ? [] : groups(tail);
    const all = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
    const out = Buffer.alloc(16);
    all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

function name(commonName: string): Buffer {
    return seq(set(seq(oid("2.5.4.3"), utf8(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
    return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

/**
 * A self-signed server certificate, PEM. It is its own trust anchor: a client
 * given it as its CA file trusts this certificate and nothing else, so it is
 * not a CA (basicConstraints cA false): it cannot vouch for any other name.
 */
export function selfSignedCertificate(r: CertificateRequest): string {
    if (r.key.asymmetricKeyType !== "ec") throw new Error("the certificate's key must be an EC key");
    const spki = createPublicKey(r.key).export({ type: "spki", format: "der" });
    const serial = randomBytes(16);
    serial[0] &= 0x7f;
    const altNames = Buffer.concat([
        ...(r.dnsNames ?? []).map((n) => der(0x82, Buffer.from(n, "ascii"))),
        ...r.ipAddresses.map((a) => der(0x87, ipBytes(a))),
    ]);
    const tbs = seq(
        explicit(0, integer(Buffer.from([2]))),
        integer(serial),
        ECDSA_SHA256,
        name(r.commonName),
        seq(time(r.notBefore), time(r.notAfter)),
        name(r.commonName),
        spki,
        explicit(3, seq(
            extension("2.5.29.19", true, seq()), // basicConstraints: not a CA
            extension("2.5.29.15", true, bits(Buffer.from([0x80]), 7)), // keyUsage: digitalSignature
            extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage: serverAuth
            extension("2.5.29.17", false, seq(altNames)), // subjectAltName
        )),
    );
    const signature = sign("sha256", tbs, r.key);
    const cert = seq(tbs, ECDSA_SHA256, bits(signature));
    const b64 = cert.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
    return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}
