// Fixed addresses on a stack's networks, so the proxy reaches every replica
// without asking Docker's DNS per request (issue: an engine restart, or a
// replica stopped from outside, must not fail requests).
//
// Each network gets a /24 of its own. Docker hands out addresses only from the
// lower half (its ip range), for the proxy and one-off containers; Switchyard
// places what must be found by address in the upper half, where Docker never
// puts anything itself: replica i of blue at .130+i and of green at .160+i on
// the frontend network, Postgres at .200 and Redis at .201 on the backend one.
// So an address never changes while its container is re-created, restarted or
// the engine restarts, and nginx's upstreams name addresses, not names.
//
// Pure functions: the program decides the subnets from what the host has
// (lib/host.ts reads it) and everything else follows from them.
import type { Colour } from "./config";

/** Where the /24s of new stacks come from, unless network.pool says otherwise. */
export const DEFAULT_ADDRESS_POOL = "172.30.0.0/16";
/** The label a network with fixed addressing carries (older stacks' networks have none). */
export const ADDRESSING_LABEL = "switchyard.addressing";
export const MAX_REPLICAS_ADDRESSED = 20;

const REPLICA_BASE: Record<Colour, number> = { blue: 130, green: 160 };
const POSTGRES_HOST = 200;
const REDIS_HOST = 201;

/** The two subnets of one host of a stack. */
export interface StackSubnets {
    /** The proxy and the app replicas. */
    frontend: string;
    /** The app replicas, Postgres and Redis. */
    backend: string;
}

export function ipToInt(ip: string): number {
    const parts = ip.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${ip}`);
    return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function intToIp(n: number): string {
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** An IPv4 CIDR as [first address, size]; throws on anything else (IPv6 subnets are skipped by callers). */
export function parseCidr(cidr: string): { base: number; size: number } {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
    if (!m || Number(m[2]) > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
    const bits = Number(m[2]);
    const size = 2 ** (32 - bits);
    const base = ipToInt(m[1]) - (ipToInt(m[1]) % size);
    return { base, size };
}

function overlaps(a: { base: number; size: number }, b: { base: number; size: number }): boolean {
    return a.base < b.base + b.size && b.base < a.base + a.size;
}

/** Why a pool is refused, or undefined: an IPv4 CIDR from /8 to /23 (room for two /24s at least). */
export function poolProblem(pool: string): string | undefined {
    const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(pool);
    if (!m) return "must be an IPv4 CIDR such as 172.30.0.0/16";
    try {
        ipToInt(m[1]);
    } catch {
        return "must be an IPv4 CIDR such as 172.30.0.0/16";
    }
    const bits = Number(m[2]);
    if (bits < 8 || bits > 23) return "must be a CIDR from /8 to /23 (each network of a stack takes a /24 of it)";
    if (parseCidr(pool).base !== ipToInt(m[1])) return `must start on its boundary (such as ${intToIp(parseCidr(pool).base)}/${bits})`;
    return undefined;
}

/** A small stable number from a text: where a stack starts looking in the pool, so two stacks rarely race for one /24. */
function seedOf(text: string): number {
    let h = 2166136261;
    for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    return h;
}

/**
 * `count` free /24s of `pool`, none overlapping `taken` (every subnet the
 * engine's networks use); the search starts at a place derived from `seed`.
 * Throws naming the pool when it is full.
 */
export function pickSubnets(pool: string, taken: string[], seed: string, count: number): string[] {
    const p = parseCidr(pool);
    const slots = p.size / 256;
    const used = taken.flatMap((c) => {
        try {
            return [parseCidr(c)];
        } catch {
            return []; // IPv6 or malformed: cannot overlap an IPv4 /24
        }
    });
    const picked: string[] = [];
    const start = seedOf(seed) % slots;
    for (let i = 0; i < slots && picked.length < count; i++) {
        const candidate = { base: p.base + ((start + i) % slots) * 256, size: 256 };
        if (used.some((u) => overlaps(u, candidate))) continue;
        used.push(candidate);
        picked.push(`${intToIp(candidate.base)}/24`);
    }
    if (picked.length < count) {
        throw new Error(`no free /24 left in network.pool ${pool} on this Docker host (${taken.length} subnets in use); set network.pool to a range with room`);
    }
    return picked;
}

/** The IPAM settings a network with fixed addressing is created with. */
export function ipamOf(subnet: string): { subnet: string; ipRange: string; gateway: string } {
    const { base } = parseCidr(subnet);
    return { subnet, ipRange: `${intToIp(base)}/25`, gateway: intToIp(base + 1) };
}

/** Replica `replica` (1-based) of `colour` on the frontend network. */
export function replicaAddress(frontend: string, colour: Colour, replica: number): string {
    if (!Number.isInteger(replica) || replica < 1 || replica > MAX_REPLICAS_ADDRESSED) throw new Error(`replica ${replica} is outside 1-${MAX_REPLICAS_ADDRESSED}`);
    return intToIp(parseCidr(frontend).base + REPLICA_BASE[colour] + replica);
}

/** Every replica address of `colour`, in replica order. */
export function colourAddresses(frontend: string, colour: Colour, replicas: number): string[] {
    return Array.from({ length: replicas }, (_, i) => replicaAddress(frontend, colour, i + 1));
}

export function postgresAddress(backend: string): string {
    return intToIp(parseCidr(backend).base + POSTGRES_HOST);
}

export function redisAddress(backend: string): string {
    return intToIp(parseCidr(backend).base + REDIS_HOST);
}

/**
 * How a host's stack addresses its replicas:
 * - `fixed`: networks with their own /24 (made by this version), nginx upstreams of addresses;
 * - `dns`: networks made by Switchyard 0.2 or earlier, without a subnet of ours: nginx
 *   resolves the colours through Docker's DNS, as those versions did, until the
 *   operator moves the stack (README, "Upgrading a stack made by Switchyard 0.2").
 */
export type Addressing = { mode: "fixed"; subnets: StackSubnets } | { mode: "dns" };

/** What the host says about the stack's networks (lib/host.ts). */
/**
 * The bridge driver's option that makes Docker masquerade a network's
 * traffic out to the host's networks (and so the internet). "false" on the
 * data network: published ports still answer (Docker's DNAT, replies by
 * conntrack), but Postgres and Redis cannot open a connection out.
 */
export const MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade";

export interface NetworkFacts {
    /** Subnet of every network on the engine, for picking free ones. */
    taken: string[];
    /** The stack's frontend and backend networks, when they exist: their subnet and whether they carry ADDRESSING_LABEL. */
    frontend?: { subnet?: string; fixed: boolean };
    backend?: { subnet?: string; fixed: boolean };
    /** The stack's data network (several hosts), when it exists: whether Docker masquerades its traffic out (networks made before it had none). */
    data?: { egress: boolean };
}

/**
 * The addressing of one host: what its networks were made with, or for a new
 * stack two free /24s of the pool. `moveToFixed` (SWITCHYARD_ALLOW_DELETE=network)
 * lets a `dns` stack's networks be re-created with fixed addressing.
 */
export function decideAddressing(facts: NetworkFacts, pool: string, seed: string, moveToFixed: boolean): Addressing {
    const { frontend, backend } = facts;
    if (frontend?.fixed && backend?.fixed && frontend.subnet && backend.subnet) {
        return { mode: "fixed", subnets: { frontend: frontend.subnet, backend: backend.subnet } };
    }
    if ((frontend || backend) && !moveToFixed) return { mode: "dns" };
    // Networks about to be re-created do not count as taken.
    const taken = facts.taken.filter((s) => s !== frontend?.subnet && s !== backend?.subnet);
    const [f, b] = pickSubnets(pool, taken, seed, 2);
    return { mode: "fixed", subnets: { frontend: f, backend: b } };
}
