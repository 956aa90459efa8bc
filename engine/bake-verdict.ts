// The bake's decisions, as pure functions: which of the proxy's access records
// are the colour's real traffic, how they are weighed, and whether they fail
// the thresholds. engine/bake.ts feeds them `docker logs` and acts on the
// answer; nothing here touches Docker, so each rule is tested in milliseconds
// (test/unit/bake-verdict.test.ts).
//
// What is judged is what the colour did, robust to a few clients:
// - latency is the upstream's ($upstream_response_time, summed over a
//   request's attempts), not the request's: nginx reads a client's whole
//   request before it asks a replica, so a client that trickles its headers
//   or body is not the colour being slow. WebSockets and event streams last as
//   long as they are open: their status counts, their duration does not.
// - each client (its address; an IPv6 client by its /64) weighs at most
//   `minRequests` requests: one client's flood of cheap requests cannot dilute
//   everyone else's 5xx, nor a few slow ones of its own set the p99. A
//   client's own error rate and latencies keep their proportions, so a stack
//   whose traffic all comes from one address (a balancer not in
//   proxy.trustedProxies) is judged exactly as an unweighted count would.

/** One real request to the colour, as the proxy logged it. */
export interface Sample {
    status: number;
    /** Seconds the upstream took, summed over the request's attempts. */
    upstreamSeconds: number;
    /** The client's key: its address, an IPv6 client's /64. */
    client: string;
    /** A plain HTTP request (not a WebSocket or an event stream): its latency counts. */
    timed: boolean;
}

/**
 * The client key for an address: IPv4 as it is, an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) by its IPv4 address, any other IPv6 address by its /64
 * (one host holds a whole /64), in the uncompressed-groups form `a:b:c:d::/64`.
 */
export function clientKey(address: string): string {
    if (!address.includes(":")) return address;
    if (address.includes(".")) return address.slice(address.lastIndexOf(":") + 1);
    const gap = address.indexOf("::");
    const left = gap >= 0 ? address.slice(0, gap) : address;
    const right = gap >= 0 ? address.slice(gap + 2) : "";
    const l = left === "" ? [] : left.split(":");
    const r = right === "" ? [] : right.split(":");
    const groups = gap >= 0 ? [...l, ...Array(Math.max(0, 8 - l.length - r.length)).fill("0"), ...r] : l;
    return `${groups.slice(0, 4).join(":")}::/64`;
}

/**
 * The access log format (nginx/nginx.conf.template), behind docker's timestamp:
 *   <ts> <addr> [<time>] <listener> "<request>" <status> <bytes> rt=<s> colour=<c> upstream=<addr> ust=<status> urt=<s> kind=<k>
 * nginx writes a " inside the request as \x22, so the quotes split a record in
 * three. A request tried on two replicas has "upstream=a, b" and "urt=x, y"
 * (" : " across an internal redirect): its upstream time is the sum.
 */
export interface ParseOptions {
    /** Only records of this colour count. */
    colour: string;
    /** The proxy's own probes come from this address: "unix:" (host networking) or "127.0.0.1". */
    ownAddress: string;
    /** Docker's timestamp of the newest record already read ("" for none): records at or before it were counted. */
    after: string;
}

/**
 * The colour's real requests among `docker logs --timestamps` lines, and the
 * newest timestamp seen (of any record): the next read starts after it.
 * Docker's timestamps are fixed-width, so they order as strings.
 */
export function parseAccessRecords(text: string, opts: ParseOptions): { samples: Sample[]; newest: string } {
    const samples: Sample[] = [];
    let newest = "";
    for (const line of text.split("\n")) {
        const parts = line.split('"');
        const head = parts[0].trim().split(/\s+/);
        const ts = head[0];
        if (!ts || ts <= opts.after) continue;
        if (ts > newest) newest = ts;
        const tail = parts[2];
        if (parts.length < 3 || head.length < 4 || head[head.length - 1] !== "live" || head[1] === opts.ownAddress) continue;
        const colour = / colour=([a-z]+)/.exec(tail);
        if (!colour || colour[1] !== opts.colour) continue;
        const status = Number(tail.trim().split(/\s+/)[0]);
        const upstream = / upstream=([^ ]+)/.exec(tail)?.[1] ?? "";
        // No upstream: nginx answered itself (maintenance, the HTTPS redirect,
        // /healthz), unless it found no replica to ask.
        if (upstream === "-" && status !== 502 && status !== 504) continue;
        let upstreamSeconds = 0;
        const urt = / urt=(.*) kind=/.exec(tail);
        if (urt) for (const t of urt[1].split(/[ ,:]+/)) if (/^[0-9.]+$/.test(t)) upstreamSeconds += Number(t);
        samples.push({ status, upstreamSeconds, client: clientKey(head[1]), timed: / kind=http/.test(tail) });
    }
    return { samples, newest };
}

/** The figures of a bake so far. */
export interface Summary {
    total: number;
    /** Requests answered 5xx, counted plainly. */
    errors: number;
    /** The weighted share of 5xx, in percent. */
    percent: number;
    /** The weighted p99 of the upstream time of timed requests, in ms (0 with none). */
    p99Ms: number;
    clients: number;
    /** Clients with more than `cap` requests, whose weight was capped. */
    heavy: number;
    /** The cap each client's requests weigh at most. */
    cap: number;
}

/** Each sample's weight: 1, or cap/n for a client with n > cap requests among `samples`. */
function weights(samples: Sample[], cap: number): number[] {
    const per = new Map<string, number>();
    for (const s of samples) per.set(s.client, (per.get(s.client) ?? 0) + 1);
    return samples.map((s) => {
        const n = per.get(s.client)!;
        return n > cap ? cap / n : 1;
    });
}

/** The least upstream time whose cumulative weight reaches 99 % of the timed requests' weight. */
export function weightedP99Ms(samples: Sample[], cap: number): number {
    const timed = samples.filter((s) => s.timed);
    if (timed.length === 0) return 0;
    const w = weights(timed, cap);
    const order = timed.map((s, i) => ({ v: s.upstreamSeconds, w: w[i] })).sort((a, b) => a.v - b.v);
    const all = order.reduce((a, x) => a + x.w, 0);
    let sum = 0;
    for (const x of order) {
        sum += x.w;
        if (sum >= 0.99 * all - 1e-9) return Math.round(x.v * 1000);
    }
    return Math.round(order[order.length - 1].v * 1000);
}

export function summarise(samples: Sample[], cap: number): Summary {
    const w = weights(samples, cap);
    const per = new Map<string, number>();
    for (const s of samples) per.set(s.client, (per.get(s.client) ?? 0) + 1);
    let weight = 0;
    let weighted = 0;
    let errors = 0;
    samples.forEach((s, i) => {
        weight += w[i];
        if (s.status >= 500) {
            errors++;
            weighted += w[i];
        }
    });
    return {
        total: samples.length,
        errors,
        // To 9 decimals: a weighted sum's float error must not make exactly 10 % exceed a 10 % threshold.
        percent: weight ? Math.round((1e11 * weighted) / weight) / 1e9 : 0,
        p99Ms: weightedP99Ms(samples, cap),
        clients: per.size,
        heavy: [...per.values()].filter((n) => n > cap).length,
        cap,
    };
}

/** The bake's thresholds (the `bake` config key, as the step receives them). */
export interface Thresholds {
    maxErrorPercent: number;
    /** Undefined: latency is reported, not judged. */
    maxP99Ms?: number;
    minRequests: number;
}

/** Says when a client's weight was capped: only then do the figures differ from plain counts. */
function weighing(s: Summary): string {
    return s.heavy > 0 && s.clients > 1 ? `; ${s.heavy} of ${s.clients} clients weighed as ${s.cap} requests each` : "";
}

/** The figures, as each check's progress line and the final line say them. */
export function describe(s: Summary): string {
    return `${s.total} requests, ${s.errors} 5xx (${s.percent.toFixed(2)} %), p99 ${s.p99Ms} ms; ${s.clients} client(s)${weighing(s)}`;
}

/**
 * Why the figures fail the thresholds, or "" when they pass. Fewer requests
 * than `minRequests` are too few to judge: they pass (the step says so).
 */
export function verdict(s: Summary, t: Thresholds): string {
    if (s.total < t.minRequests) return "";
    const why: string[] = [];
    if (s.percent > t.maxErrorPercent) {
        why.push(`${s.errors} of ${s.total} real requests answered 5xx (${s.percent.toFixed(2)} %, threshold ${t.maxErrorPercent} %${weighing(s)})`);
    }
    if (t.maxP99Ms !== undefined && s.p99Ms > t.maxP99Ms) {
        why.push(`p99 ${s.p99Ms} ms of the upstream over ${s.total} real requests (threshold ${t.maxP99Ms} ms${weighing(s)})`);
    }
    return why.join("; ");
}

/** How long to sleep before the next check: a check every `checkMs`, the last one at the window's end. */
export function nextCheckMs(windowMs: number, elapsedMs: number, checkMs: number): number {
    return Math.max(0, Math.min(windowMs - elapsedMs, checkMs));
}

/**
 * The failed-bake record (bake-failed-<colour> in the proxy's state): the
 * containers whose bake failed on its first line, why on the rest. The IDs
 * are sorted, each followed by a space, the form the record has always had.
 */
export function failedRecord(containerIds: string[], at: Date, why: string): string {
    return `${containerLine(containerIds)}\n${at.toISOString().replace(/\.\d+Z$/, "Z")}: ${why}\n`;
}

export function containerLine(containerIds: string[]): string {
    return [...containerIds].sort().map((id) => `${id} `).join("");
}

/** A record read back: the same containers failed before (and why), or undefined. */
export function failedBefore(record: string, containerIds: string[]): string | undefined {
    const lines = record.replace(/\n+$/, "").split("\n");
    if (record.trim() === "" || lines[0] !== containerLine(containerIds)) return undefined;
    return lines.slice(1).join("\n");
}
