// Rules about addresses and host names, shared by the config schema, the
// proxy and the notifier: loopback, link-local and metadata addresses, a
// webhook URL's safety, host names a request may carry, CIDRs.
import { z } from "zod";

/** 127.0.0.0/8, ::1 (bracketed or not) and localhost: only this host reaches it. */
export function isLoopback(host: string): boolean {
    const h = host.replace(/^\[|\]$/g, "").toLowerCase();
    return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
/**
 * The IPv4 address an IPv6 one carries, if any: IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d), in dotted or hex
 * form. Each reaches that IPv4 address on a dual-stack host.
 */
export function embeddedIpv4(host: string): string | undefined {
    const h = host.replace(/^\[|\]$/g, "").toLowerCase();
    const m = /^(?:::ffff:|::|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(h);
    if (!m) return undefined;
    if (m[1]) return m[1];
    const [hi, lo] = [parseInt(m[2], 16), parseInt(m[3], 16)];
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}

/** Link-local and cloud metadata addresses (also as an IPv4 address carried in IPv6): never a destination. */
export function isLinkLocalOrMetadata(host: string): boolean {
    const v4 = embeddedIpv4(host);
    if (v4) return isLinkLocalOrMetadata(v4);
    const h = host.replace(/^\[|\]$/g, "").toLowerCase();
    return /^169\.254\./.test(h) || /^fe[89ab][0-9a-f]:/.test(h) || h === "metadata" || h === "metadata.google.internal" || h === "100.100.100.200" || h === "fd00:ec2::254";
}

/** Why a webhook URL is refused, or undefined: https anywhere, plain http only to this machine. */
export function webhookUrlProblem(value: string): string | undefined {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return "must be an https:// URL";
    }
    if (url.username || url.password) return "must not carry credentials in the URL (put a token in the path or query)";
    if (isLinkLocalOrMetadata(url.hostname)) return "must not point at a link-local or cloud metadata address";
    if (url.protocol === "https:") return undefined;
    if (url.protocol === "http:" && isLoopback(url.hostname)) return undefined;
    return "must be an https:// URL (plain http:// only to 127.0.0.1, localhost or ::1)";
}

/** A bind address as a URL host: IPv6 in brackets, the any-address as loopback. */
export function urlHost(bindAddress: string): string {
    if (bindAddress === "0.0.0.0") return "127.0.0.1";
    if (bindAddress === "::") return "[::1]";
    return bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress;
}

/** A DNS name a request's Host may carry (lower case), or an IPv4 address; `*.` in front with wildcards allowed. */
export function hostnameProblem(value: string, wildcard: boolean): string | undefined {
    const name = wildcard && value.startsWith("*.") ? value.slice(2) : value;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return name === value && name.split(".").every((p) => Number(p) <= 255) ? undefined : "is not an IPv4 address";
    if (name.length > 253 || !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(name)) {
        return `must be a lower-case host name such as app.example.com${wildcard ? " (or *.example.com)" : ""}`;
    }
    return undefined;
}

/** Whether a Host (no port) is one of `names` (exact, or `*.domain` for any one or more labels in front). */
export function hostMatches(host: string, names: string[]): boolean {
    return names.some((n) => (n.startsWith("*.") ? host.endsWith(n.slice(1)) && host.length > n.length - 1 : host === n));
}

/** An IPv4 or IPv6 CIDR (or a single address) for nginx's realip and geo: digits, dots, colons and one /bits. */
export function cidrProblem(value: string): string | undefined {
    const [addr, bits, extra] = value.split("/");
    if (extra !== undefined) return "must be an address or CIDR such as 10.0.0.0/8";
    const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(addr) && addr.split(".").every((p) => Number(p) <= 255);
    const v6 = !v4 && /^[0-9a-f:]+$/i.test(addr) && addr.includes(":") && z.string().ip({ version: "v6" }).safeParse(addr).success;
    if (!v4 && !v6) return "must be an address or CIDR such as 10.0.0.0/8 or fd00::/8";
    if (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (v4 ? 32 : 128))) return `has a prefix length outside 0-${v4 ? 32 : 128}`;
    if (v4 && (addr === "0.0.0.0" && bits === "0")) return "must not be 0.0.0.0/0: that trusts every client's forwarded headers";
    if (v6 && bits === "0") return "must not be ::/0: that trusts every client's forwarded headers";
    return undefined;
}
