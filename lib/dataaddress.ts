// Where a stack of several hosts publishes Postgres and Redis (data.address).
// Docker's port rules bypass the host's INPUT rules (ufw), so the address is
// the whole of the protection: a private one, reached only on the network the
// hosts share. Loopback and link-local never reach another host, and a public
// address publishes the database to the internet: refused unless the stack
// says so explicitly (data.allowPublicAddress), for a network whose own
// firewall stands in front.
import { ipToInt } from "./addressing";

const inV4 = (ip: string, base: string, bits: number) => bits === 0 || ipToInt(ip) >>> (32 - bits) === ipToInt(base) >>> (32 - bits);

/** Private ranges a data host may have: RFC 1918, the shared address space (RFC 6598), IPv6 unique-local (fc00::/7). */
function isPrivate(ip: string): boolean {
    if (ip.includes(":")) return /^f[cd][0-9a-f]{0,2}:/i.test(ip);
    return inV4(ip, "10.0.0.0", 8) || inV4(ip, "172.16.0.0", 12) || inV4(ip, "192.168.0.0", 16) || inV4(ip, "100.64.0.0", 10);
}

/** Why `ip` (a valid IP) cannot be data.address, or undefined. */
export function dataAddressProblem(ip: string, allowPublic: boolean): string | undefined {
    const v6 = ip.includes(":");
    if (ip === "0.0.0.0" || ip === "::") return "must not be the any-address: it would publish Postgres and Redis on every interface; name the data host's private address";
    if (v6 ? ip === "::1" : inV4(ip, "127.0.0.0", 8)) return "must not be a loopback address: the other hosts could not reach Postgres and Redis there, and their gates would fail after the canary switched; name the data host's private address";
    if (v6 ? /^fe[89ab][0-9a-f]:/i.test(ip) : inV4(ip, "169.254.0.0", 16)) return "must not be a link-local address: it is not routed between hosts and changes when the interface does; name the data host's private address";
    if (!isPrivate(ip) && !allowPublic) {
        return "is not a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, fc00::/7): Postgres and Redis would be published where the internet may reach them, past the host's firewall; name the data host's private address, or set data.allowPublicAddress true if a firewall of the network stands in front";
    }
    return undefined;
}
