// The drain's decisions, as pure functions (engine/retire.ts acts on them):
// which of the proxy's TCP connections are requests in flight to the old
// colour, and whether an nginx worker of an earlier config still finishes
// requests. Tested in milliseconds in test/unit/drain-rules.test.ts.

/**
 * The local/remote address form of /proc/net/tcp for an IPv4 address and a
 * port: the address as little-endian hex, then the port as hex
 * (10.0.0.5:8080 -> 0500000A:1F90).
 */
export function procTcpAddress(ipv4: string, port: number): string {
    const octets = ipv4.split(".").map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`'${ipv4}' is not an IPv4 address`);
    const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, "0");
    return `${octets.reverse().map((o) => hex(o, 2)).join("")}:${hex(port, 4)}`;
}

/**
 * Connections whose remote end is one of `targets`, established (state 01) or
 * still connecting (02, SYN_SENT: a request routed there just before the
 * switch): requests in flight, and nginx's idle keep-alive connections to
 * the replica, which it closes proxy.upstreamKeepaliveSeconds (0.25 s) after
 * their last request. TCP cannot tell an idle connection from one waiting on
 * a slow answer or a paused stream, so a drain waits out the idle ones too:
 * about that long after the switch, never a request cut.
 */
export function establishedTo(procNetTcp: string, targets: string[]): number {
    const want = new Set(targets);
    let n = 0;
    for (const line of procNetTcp.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length > 3 && (f[3] === "01" || f[3] === "02") && want.has(f[2])) n++;
    }
    return n;
}

/**
 * The nginx workers in "PID title" lines (a process per line, PROCESS_TITLES):
 * those serving, and those of a replaced config still finishing their
 * requests, whose title says "shutting down" (retire's drain waits for them).
 */
export function nginxWorkers(pidTitles: string): { serving: string[]; shutting: string[] } {
    const out = { serving: [] as string[], shutting: [] as string[] };
    for (const line of pidTitles.split("\n")) {
        const m = /^(\d+) nginx: worker process( is shutting down)?/.exec(line.trim());
        if (m) (m[2] ? out.shutting : out.serving).push(m[1]);
    }
    return out;
}

/**
 * After `nginx -s reload`, which only signals the master: "waiting" while a
 * worker from before (`before`, their PIDs) still serves as one (the master has
 * not told it to quit yet: it answers, and it keeps connections it will close
 * when told); then "draining" while one still finishes its requests; "done"
 * when none is left.
 */
export function reloadStage(before: string[], now: { serving: string[]; shutting: string[] }): "waiting" | "draining" | "done" {
    if (now.serving.some((p) => before.includes(p))) return "waiting";
    return now.shutting.some((p) => before.includes(p)) ? "draining" : "done";
}

/** One look at the proxy: connections to the old colour and old workers, or undefined when the proxy could not be read. */
export type DrainLook = { conns: number; shutting: number } | undefined;

/**
 * What the drain does after a look: "drained" when nothing is in flight,
 * "time-up" once the drain time has passed, else "again". A look that could
 * not be read is never "drained": read as empty, it would stop the old
 * colour under requests still in flight.
 */
export function drainNext(look: DrainLook, timeUp: boolean): "drained" | "time-up" | "again" {
    if (look && look.conns === 0 && look.shutting === 0) return "drained";
    return timeUp ? "time-up" : "again";
}

/**
 * How long the drain waits before its next look, `elapsedMs` after its first.
 * The idle keep-alive connections to a retiring colour close on nginx's timer
 * (proxy.upstreamKeepaliveSeconds, 0.25 s by default) after their last request,
 * so in the first seconds the drain looks often and ends soon after they
 * close: every retire waits that long, and a look (two reads in the proxy)
 * costs a few milliseconds. Past that, what is left is a request in flight or
 * a stream, which takes as long as it takes: the drain looks less often.
 */
export function drainPollMs(elapsedMs: number): number {
    return elapsedMs < DRAIN_FAST_MS ? 100 : 250;
}

/** How long the drain looks every 100 ms: a few keep-alive timeouts at the default. */
export const DRAIN_FAST_MS = 2000;
