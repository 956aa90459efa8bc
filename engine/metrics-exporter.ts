// The proxy's metrics for Prometheus, in a sidecar container (components/metrics.ts):
// nginx writes its access records to one file per minute in the proxy's state
// volume (nginx/render.ts, `metrics`), this reads each file from where it left
// off (the work follows the new requests, never the whole log), keeps the
// counters, serves them on METRICS_ADDRESS:METRICS_PORT at /metrics, and removes
// the files it has read once nginx has moved on to the next minute.
//
// It is uploaded into the container as this one compiled file and runs on a
// plain Node image: it imports Node's own modules only. The rules (which
// record counts where, the text Prometheus reads) are pure functions, tested
// in test/unit/metrics.test.ts; the container in test/scripts/metrics.test.ts.
//
// env: METRICS_ADDRESS, METRICS_PORT, LOG_DIR, STATE_DIR, ROUTE_MARKER,
//      CANARY_PREFIX (the route-marker protocol's names: this file imports
//      nothing of ours), WORKER_UID (nginx's workers, who write the files),
//      UPSTREAMS ("blue=10.0.0.131:3000,10.0.0.132:3000 green=…": the
//      replicas' addresses, for the open upstream connections by colour)
import * as fs from "fs";
import * as http from "http";
import * as path from "path";

/** Upper bounds (seconds) of the upstream latency histogram. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface Metrics {
    /** "listener|colour|class" -> requests. */
    requests: Map<string, number>;
    /** colour -> bucket counts (one per LATENCY_BUCKETS bound, then +Inf), sum, count. */
    latency: Map<string, { buckets: number[]; sum: number; count: number }>;
    /** colour|kind -> long-lived requests (WebSockets, event streams) that ended. */
    streams: Map<string, number>;
    /** request id -> a request the proxy sent to a colour that started and has not ended: its listener, colour, kind, and when its start was read. */
    open: Map<string, { listener: string; colour: string; kind: string; seenMs: number }>;
    records: number;
    bytes: number;
}

export function emptyMetrics(): Metrics {
    return { requests: new Map(), latency: new Map(), streams: new Map(), open: new Map(), records: 0, bytes: 0 };
}

/**
 * A start record (nginx/render.ts renderInFlight): `S <request id> <listener> colour=<c> kind=<k>`.
 * Its end is the access record with the same ` id=`.
 */
const START = /^S ([0-9a-f]{32}) (live|preview) colour=(blue|green) kind=([a-z]+)$/;
const END_ID = / id=([0-9a-f]{32})$/;
/**
 * How long a start without an end is believed: nginx killed (not reloaded)
 * writes no end, and such an entry must not count for ever. Longer than any
 * request or stream the proxy lets run (proxy.streamTimeoutSeconds is at most
 * a day).
 */
export const OPEN_FOR_AT_MOST_MS = 26 * 3600 * 1000;

/**
 * Counts one access record (nginx/nginx.conf.template's `switchyard` format):
 *   <addr> [<time>] <listener> "<request>" <status> <bytes> rt=<s> colour=<c> upstream=<a> ust=<s> urt=<s> kind=<k>
 * Answers nginx gave itself (no upstream: maintenance, redirects, /healthz)
 * count by status under colour "none"; the latency is the upstream's.
 */
export function countRecord(m: Metrics, line: string, nowMs = Date.now()): void {
    const start = START.exec(line);
    if (start) {
        m.open.set(start[1], { listener: start[2], colour: start[3], kind: start[4], seenMs: nowMs });
        return;
    }
    const ended = END_ID.exec(line);
    if (ended) m.open.delete(ended[1]);
    const parts = line.split('"');
    if (parts.length < 3) return;
    const head = parts[0].trim().split(/\s+/);
    const listener = head[head.length - 1];
    if (listener !== "live" && listener !== "preview") return;
    const tail = parts[parts.length - 1];
    const status = Number(tail.trim().split(/\s+/)[0]);
    if (!Number.isInteger(status)) return;
    const upstream = / upstream=([^ ]+)/.exec(tail)?.[1] ?? "-";
    const colourField = / colour=([a-z]+)/.exec(tail)?.[1] ?? "";
    const colour = upstream === "-" && status !== 502 && status !== 504 ? "none" : colourField === "blue" || colourField === "green" ? colourField : "none";
    const key = `${listener}|${colour}|${Math.floor(status / 100)}xx`;
    m.requests.set(key, (m.requests.get(key) ?? 0) + 1);
    m.records++;
    const kind = / kind=([a-z]+)/.exec(tail)?.[1] ?? "http";
    if (colour === "none") return;
    if (kind !== "http") {
        m.streams.set(`${colour}|${kind}`, (m.streams.get(`${colour}|${kind}`) ?? 0) + 1);
        return;
    }
    let seconds = 0;
    const urt = / urt=(.*) kind=/.exec(tail);
    if (urt) for (const t of urt[1].split(/[ ,:]+/)) if (/^[0-9.]+$/.test(t)) seconds += Number(t);
    const h = m.latency.get(colour) ?? { buckets: Array(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
    const i = LATENCY_BUCKETS.findIndex((b) => seconds <= b);
    h.buckets[i === -1 ? LATENCY_BUCKETS.length : i]++;
    h.sum += seconds;
    h.count++;
    m.latency.set(colour, h);
}

/** What the proxy's state says now: the live colour, a canary's weight, open upstream connections by colour. */
export interface Gauges {
    live: "blue" | "green";
    canary?: { colour: "blue" | "green"; weight: number };
    connections: Record<string, number>;
    /** The clock the open requests are aged by. Defaults to now. */
    nowMs?: number;
}

/** Open requests by "listener|colour|kind"; a start older than OPEN_FOR_AT_MOST_MS is forgotten. */
export function openByColour(m: Metrics, nowMs: number): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [id, o] of m.open) {
        if (nowMs - o.seenMs > OPEN_FOR_AT_MOST_MS) {
            m.open.delete(id);
            continue;
        }
        const key = `${o.listener}|${o.colour}|${o.kind}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
}

/** The Prometheus text exposition of `m` and `g`. */
export function renderMetrics(m: Metrics, g: Gauges): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family("switchyard_requests_total", "counter", "Requests the proxy answered, by listener, the colour it sent them to (none: answered by nginx itself) and status class.");
    for (const [key, n] of [...m.requests].sort()) {
        const [listener, colour, cls] = key.split("|");
        out.push(`switchyard_requests_total{listener="${listener}",colour="${colour}",status_class="${cls}"} ${n}`);
    }
    family("switchyard_upstream_response_seconds", "histogram", "Time the colour's replicas took to answer plain HTTP requests (nginx's $upstream_response_time, summed over a request's attempts).");
    for (const [colour, h] of [...m.latency].sort()) {
        let cumulative = 0;
        LATENCY_BUCKETS.forEach((b, i) => {
            cumulative += h.buckets[i];
            out.push(`switchyard_upstream_response_seconds_bucket{colour="${colour}",le="${b}"} ${cumulative}`);
        });
        out.push(`switchyard_upstream_response_seconds_bucket{colour="${colour}",le="+Inf"} ${h.count}`);
        out.push(`switchyard_upstream_response_seconds_sum{colour="${colour}"} ${Number(h.sum.toFixed(6))}`);
        out.push(`switchyard_upstream_response_seconds_count{colour="${colour}"} ${h.count}`);
    }
    family("switchyard_streams_total", "counter", "WebSockets (ws) and event streams (sse) that ended, by colour.");
    for (const [key, n] of [...m.streams].sort()) {
        const [colour, kind] = key.split("|");
        out.push(`switchyard_streams_total{colour="${colour}",kind="${kind}"} ${n}`);
    }
    family("switchyard_upstream_connections", "gauge", "Open connections from the proxy to the colour's replicas: requests in flight, WebSockets and event streams, and idle keep-alive connections.");
    for (const [colour, n] of Object.entries(g.connections).sort()) out.push(`switchyard_upstream_connections{colour="${colour}"} ${n}`);
    const open = openByColour(m, g.nowMs ?? Date.now());
    const listeners = ["live", "preview"];
    family("switchyard_in_flight_requests", "gauge", "Requests the proxy has sent to the colour and not yet answered, by listener (from each request's start and end record).");
    for (const l of listeners) for (const c of ["blue", "green"]) out.push(`switchyard_in_flight_requests{listener="${l}",colour="${c}"} ${open.get(`${l}|${c}|http`) ?? 0}`);
    family("switchyard_open_streams", "gauge", "WebSockets (ws) and event streams (sse) open now, by listener and colour.");
    for (const l of listeners) for (const c of ["blue", "green"]) for (const k of ["ws", "sse"]) out.push(`switchyard_open_streams{listener="${l}",colour="${c}",kind="${k}"} ${open.get(`${l}|${c}|${k}`) ?? 0}`);
    family("switchyard_live_colour", "gauge", "1 for the colour the live listener routes to.");
    for (const c of ["blue", "green"]) out.push(`switchyard_live_colour{colour="${c}"} ${g.live === c ? 1 : 0}`);
    family("switchyard_canary_weight_percent", "gauge", "The share of new traffic a running canary sends to the colour that is not live (0: no canary).");
    for (const c of ["blue", "green"]) out.push(`switchyard_canary_weight_percent{colour="${c}"} ${g.canary?.colour === c ? g.canary.weight : 0}`);
    family("switchyard_metrics_records_total", "counter", "Access records this exporter has read.");
    out.push(`switchyard_metrics_records_total ${m.records}`);
    family("switchyard_metrics_read_bytes_total", "counter", "Bytes of access records this exporter has read.");
    out.push(`switchyard_metrics_read_bytes_total ${m.bytes}`);
    return `${out.join("\n")}\n`;
}

/** /proc/net/tcp's "0A8300C0:0BB8" for 192.0.131.10:3000 (little-endian IPv4, as the kernel prints it on x86). */
export function procAddress(address: string): string {
    const [ip, port] = address.split(":");
    const hex = ip.split(".").map((o) => Number(o).toString(16).padStart(2, "0").toUpperCase()).reverse().join("");
    return `${hex}:${Number(port).toString(16).padStart(4, "0").toUpperCase()}`;
}

/** Established connections to each colour's replicas in /proc/net/tcp's text. */
export function countConnections(procNetTcp: string, upstreams: Record<string, string[]>): Record<string, number> {
    const byAddress = new Map<string, string>();
    for (const [colour, addresses] of Object.entries(upstreams)) for (const a of addresses) byAddress.set(procAddress(a), colour);
    const counts: Record<string, number> = Object.fromEntries(Object.keys(upstreams).map((c) => [c, 0]));
    for (const line of procNetTcp.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        // f[2]: the remote address; f[3]: the state, 01 = ESTABLISHED.
        const colour = f[3] === "01" ? byAddress.get(f[2]) : undefined;
        if (colour) counts[colour]++;
    }
    return counts;
}

/** UPSTREAMS ("blue=a:p,b:p green=c:p") by colour. */
export function parseUpstreams(text: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const part of text.split(/\s+/).filter(Boolean)) {
        const [colour, list] = part.split("=");
        if ((colour === "blue" || colour === "green") && list) out[colour] = list.split(",").filter((a) => /^\d+\.\d+\.\d+\.\d+:\d+$/.test(a));
    }
    return out;
}

/**
 * The log files in order (their names carry the minute), where reading stopped
 * in the current one, and the complete lines since. A file nginx has left
 * (an older minute, read to its end and untouched for `graceMs`) is removed.
 */
export class LogReader {
    private file = "";
    private offset = 0;
    private partial = "";

    constructor(
        private readonly dir: string,
        private readonly graceMs = 30000,
    ) {}

    /** Every complete line written since the last call. */
    read(now = Date.now()): { lines: string[]; bytes: number } {
        const files = fs.existsSync(this.dir) ? fs.readdirSync(this.dir).filter((f) => /^access-[0-9T:-]+\.log$/.test(f)).sort() : [];
        const lines: string[] = [];
        let bytes = 0;
        for (const f of files) {
            if (f < this.file) continue;
            if (f !== this.file) {
                this.file = f;
                this.offset = 0;
                this.partial = "";
            }
            const full = path.join(this.dir, f);
            let size = 0;
            try {
                size = fs.statSync(full).size;
            } catch {
                continue;
            }
            if (size > this.offset) {
                const fd = fs.openSync(full, "r");
                const buf = Buffer.alloc(size - this.offset);
                const n = fs.readSync(fd, buf, 0, buf.length, this.offset);
                fs.closeSync(fd);
                this.offset += n;
                bytes += n;
                const text = this.partial + buf.subarray(0, n).toString("utf8");
                const cut = text.lastIndexOf("\n");
                this.partial = text.slice(cut + 1);
                if (cut >= 0) lines.push(...text.slice(0, cut).split("\n"));
            }
        }
        // Files before the one being read are done; remove them once nginx has surely left them.
        for (const f of files) {
            if (f >= this.file) break;
            const full = path.join(this.dir, f);
            try {
                if (now - fs.statSync(full).mtimeMs > this.graceMs) fs.unlinkSync(full);
            } catch {
                // gone already
            }
        }
        return { lines, bytes };
    }
}

function gauges(stateDir: string, names: { route: string; canary: string }, upstreams: Record<string, string[]>): Gauges {
    const live = fs.existsSync(path.join(stateDir, names.route)) ? "green" : "blue";
    let canary: Gauges["canary"];
    for (const colour of ["blue", "green"] as const) {
        try {
            const m = /\.w(\d+)$/.exec(fs.readlinkSync(path.join(stateDir, `${names.canary}${colour}`)));
            if (m) canary = { colour, weight: Number(m[1]) };
        } catch {
            // no canary of that colour
        }
    }
    let tcp = "";
    try {
        tcp = fs.readFileSync("/proc/net/tcp", "utf8");
    } catch {
        // no procfs: no connection counts
    }
    return { live, canary, connections: countConnections(tcp, upstreams) };
}

function main(): void {
    const env = process.env;
    const port = Number(env.METRICS_PORT);
    const address = env.METRICS_ADDRESS ?? "127.0.0.1";
    const logDir = env.LOG_DIR ?? "";
    const stateDir = env.STATE_DIR ?? "";
    const names = { route: env.ROUTE_MARKER ?? "", canary: env.CANARY_PREFIX ?? "" };
    const workerUid = Number(env.WORKER_UID);
    if (!Number.isInteger(port) || port < 1 || port > 65535 || !logDir || !stateDir || !names.route || !names.canary || !Number.isInteger(workerUid)) {
        console.error("metrics exporter: METRICS_PORT (1-65535), LOG_DIR, STATE_DIR, ROUTE_MARKER, CANARY_PREFIX and WORKER_UID are required");
        process.exit(2);
    }
    // nginx's workers write the files; this process (root, in group root) reads
    // and removes them: owner the workers, group root, nobody else.
    // The mode first: once the workers own it, root (no FOWNER) may not change it.
    fs.mkdirSync(logDir, { recursive: true });
    const st = fs.statSync(logDir);
    if (st.uid !== workerUid || st.gid !== 0 || (st.mode & 0o777) !== 0o770) {
        if (st.uid === 0) fs.chmodSync(logDir, 0o770);
        fs.chownSync(logDir, workerUid, 0);
    }
    const upstreams = parseUpstreams(env.UPSTREAMS ?? "");
    const m = emptyMetrics();
    const reader = new LogReader(logDir);
    const poll = () => {
        try {
            const got = reader.read();
            for (const line of got.lines) countRecord(m, line);
            m.bytes += got.bytes;
        } catch (e) {
            console.error(`metrics exporter: ${(e as Error).message}`);
        }
    };
    setInterval(poll, 500);
    http.createServer((req, res) => {
        if (req.url !== "/metrics") {
            res.writeHead(404, { "Content-Type": "text/plain" }).end("only /metrics is served here\n");
            return;
        }
        poll();
        res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" }).end(renderMetrics(m, gauges(stateDir, names, upstreams)));
    }).listen(port, address, () => console.log(`metrics exporter: http://${address}:${port}/metrics, records from ${logDir}`));
}

if (require.main === module) main();
