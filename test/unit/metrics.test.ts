// The metrics sidecar's rules (engine/metrics-exporter.ts) without Docker:
// which access record counts where, the text Prometheus reads, the open
// connections by colour, and the reader of the per-minute files. The sidecar
// runs against a real nginx in test/scripts/metrics.test.ts.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { countConnections, countRecord, emptyMetrics, LogReader, OPEN_FOR_AT_MOST_MS, parseUpstreams, procAddress, renderMetrics } from "../../engine/metrics-exporter";
import { renderNginxConfig } from "../../nginx/render";
import { parseRecordChunks } from "../../engine/watch";

const record = (o: { listener?: string; status?: number; colour?: string; upstream?: string; urt?: string; kind?: string } = {}) =>
    `10.0.0.7 [2026-12-04T22:00:00+00:00] ${o.listener ?? "live"} "GET /visits HTTP/1.1" ${o.status ?? 200} 12 rt=0.004 colour=${o.colour ?? "green"} upstream=${o.upstream ?? "10.0.0.161:3000"} ust=${o.status ?? 200} urt=${o.urt ?? "0.003"} kind=${o.kind ?? "http"}`;

describe("metrics sidecar (engine/metrics-exporter.ts)", () => {
    it("counts each record by listener, colour and status class; nginx's own answers under colour none; latency of plain HTTP only", () => {
        const m = emptyMetrics();
        countRecord(m, record());
        countRecord(m, record({ status: 502, upstream: "10.0.0.161:3000", urt: "0.001, 0.002" }));
        countRecord(m, record({ status: 503, upstream: "-", urt: "-" }));
        countRecord(m, record({ listener: "preview", colour: "blue", upstream: "10.0.0.131:3000" }));
        countRecord(m, record({ kind: "ws", urt: "30.5" }));
        countRecord(m, "garbage line");
        assert.deepStrictEqual(Object.fromEntries(m.requests), { "live|green|2xx": 2, "live|green|5xx": 1, "live|none|5xx": 1, "preview|blue|2xx": 1 });
        assert.strictEqual(m.latency.get("green")!.count, 2, "the WebSocket's duration is not a latency");
        assert.strictEqual(m.latency.get("green")!.sum, 0.006, "a request tried twice: the attempts' times summed");
        assert.deepStrictEqual(Object.fromEntries(m.streams), { "green|ws": 1 });
        assert.strictEqual(m.records, 5);
    });

    it("renders Prometheus's text: cumulative buckets ending in +Inf = count, the live colour and a canary's weight", () => {
        const m = emptyMetrics();
        for (const urt of ["0.003", "0.2", "7"]) countRecord(m, record({ urt }));
        const text = renderMetrics(m, { live: "blue", canary: { colour: "green", weight: 25 }, connections: { blue: 3, green: 1 } });
        assert.match(text, /^# TYPE switchyard_requests_total counter$/m);
        assert.match(text, /^switchyard_requests_total\{listener="live",colour="green",status_class="2xx"\} 3$/m);
        assert.match(text, /^switchyard_upstream_response_seconds_bucket\{colour="green",le="0.005"\} 1$/m);
        assert.match(text, /^switchyard_upstream_response_seconds_bucket\{colour="green",le="0.25"\} 2$/m);
        assert.match(text, /^switchyard_upstream_response_seconds_bucket\{colour="green",le="10"\} 3$/m);
        assert.match(text, /^switchyard_upstream_response_seconds_bucket\{colour="green",le="\+Inf"\} 3$/m);
        assert.match(text, /^switchyard_upstream_response_seconds_count\{colour="green"\} 3$/m);
        assert.match(text, /^switchyard_live_colour\{colour="blue"\} 1$/m);
        assert.match(text, /^switchyard_canary_weight_percent\{colour="green"\} 25$/m);
        assert.match(text, /^switchyard_upstream_connections\{colour="blue"\} 3$/m);
    });

    it("counts established connections to each colour's replicas in /proc/net/tcp", () => {
        assert.strictEqual(procAddress("10.0.0.161:3000"), "A100000A:0BB8");
        const tcp = [
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   0: 0100007F:1F90 A100000A:0BB8 01 00000000:00000000 00:00000000 00000000     0        0 1",
            "   1: 0100007F:1F91 A100000A:0BB8 06 00000000:00000000 00:00000000 00000000     0        0 2",
            "   2: 0100007F:1F92 8300000A:0BB8 01 00000000:00000000 00:00000000 00000000     0        0 3",
        ].join("\n");
        assert.deepStrictEqual(countConnections(tcp, parseUpstreams("blue=10.0.0.131:3000 green=10.0.0.161:3000,10.0.0.162:3000")), { blue: 1, green: 1 });
        assert.deepStrictEqual(parseUpstreams("blue=10.0.0.131:3000 purple=x green=$(id)"), { blue: ["10.0.0.131:3000"], green: [] });
    });

    it("reads each minute's file from where it stopped, whole lines only, and removes files nginx has left once their grace is over", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-metrics-"));
        try {
            const reader = new LogReader(dir, 1000);
            fs.writeFileSync(path.join(dir, "access-2026-12-04T22:00.log"), "a\nb\npar");
            assert.deepStrictEqual(reader.read().lines, ["a", "b"]);
            fs.appendFileSync(path.join(dir, "access-2026-12-04T22:00.log"), "tial\n");
            fs.writeFileSync(path.join(dir, "access-2026-12-04T22:01.log"), "c\n");
            fs.writeFileSync(path.join(dir, "other.txt"), "not a record\n");
            const now = Date.now();
            assert.deepStrictEqual(reader.read(now).lines, ["partial", "c"]);
            assert.ok(fs.existsSync(path.join(dir, "access-2026-12-04T22:00.log")), "within its grace the old minute stays");
            assert.deepStrictEqual(reader.read(now + 5000).lines, []);
            assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["access-2026-12-04T22:01.log", "other.txt"]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the bake's reader of the same files: whole lines only, and where the next read starts, across a new minute's file", () => {
        const out = "\n@@ access-a.log 10 30\nline1\nline2\n\n@@ access-b.log 0 12\nline3\nhalf-";
        assert.deepStrictEqual(parseRecordChunks(out, { file: "access-a.log", offset: 10 }), { lines: ["line1", "line2", "line3"], cursor: { file: "access-b.log", offset: 6 } });
        assert.deepStrictEqual(parseRecordChunks("", { file: "f", offset: 3 }), { lines: [], cursor: { file: "f", offset: 3 } });
        // Nothing new in the file being read: the cursor stays.
        assert.deepStrictEqual(parseRecordChunks("\n@@ access-a.log 30 30\n", { file: "access-a.log", offset: 30 }).cursor, { file: "access-a.log", offset: 30 });
    });

    it("nginx writes the record files only for metrics or records (a bake, a canary): one file a minute in the state volume; start records only for metrics", () => {
        assert.doesNotMatch(renderNginxConfig({ appPort: 3000, drainSeconds: 15 }), /switchyard_log_minute/);
        for (const on of [{ metrics: true }, { records: true }, { metrics: true, records: true }]) {
            const conf = renderNginxConfig({ appPort: 3000, drainSeconds: 15, ...on });
            assert.match(conf, /access_log \/dev\/stdout switchyard;\n    # the same records, one file a minute/);
            assert.match(conf, /access_log \/etc\/switchyard\/state\/logs\/access-\$switchyard_log_minute\.log switchyard_metrics;/);
            assert.strictEqual(/mirror \/_switchyard_start;/.test(conf), on.metrics === true, JSON.stringify(on));
        }
    });

    it("in flight: a start record per request sent to a colour on either listener (a mirror, only with metrics), ended by the record with its id; open streams apart; a start with no end forgotten after a day", () => {
        const id = (n: number) => n.toString(16).padStart(32, "0");
        const m = emptyMetrics();
        const t0 = 1_000_000;
        const starts = [[1, "live", "green", "http"], [2, "live", "green", "http"], [3, "live", "blue", "http"], [4, "live", "green", "ws"], [5, "live", "green", "sse"], [6, "preview", "blue", "http"], [7, "preview", "blue", "ws"]] as const;
        for (const [n, listener, colour, kind] of starts) countRecord(m, `S ${id(n)} ${listener} colour=${colour} kind=${kind}`, t0);
        countRecord(m, `${record()} id=${id(2)}`, t0);
        countRecord(m, `${record({ kind: "ws" })} id=${id(99)}`, t0);
        const at = (ms: number) => renderMetrics(m, { live: "green", connections: {}, nowMs: ms });
        let text = at(t0 + 1000);
        assert.match(text, /^# TYPE switchyard_in_flight_requests gauge$/m);
        assert.match(text, /^switchyard_in_flight_requests\{listener="live",colour="green"\} 1$/m);
        assert.match(text, /^switchyard_in_flight_requests\{listener="live",colour="blue"\} 1$/m);
        assert.match(text, /^switchyard_in_flight_requests\{listener="preview",colour="blue"\} 1$/m);
        assert.match(text, /^switchyard_in_flight_requests\{listener="preview",colour="green"\} 0$/m);
        assert.match(text, /^switchyard_open_streams\{listener="live",colour="green",kind="ws"\} 1$/m);
        assert.match(text, /^switchyard_open_streams\{listener="live",colour="green",kind="sse"\} 1$/m);
        assert.match(text, /^switchyard_open_streams\{listener="live",colour="blue",kind="ws"\} 0$/m);
        assert.match(text, /^switchyard_open_streams\{listener="preview",colour="blue",kind="ws"\} 1$/m);
        assert.strictEqual(m.records, 2, "start records are not requests");
        assert.deepStrictEqual(Object.fromEntries(m.requests), { "live|green|2xx": 2 });
        countRecord(m, `${record({ kind: "ws" })} id=${id(4)}`, t0 + 2000);
        assert.match(at(t0 + 2000), /^switchyard_open_streams\{listener="live",colour="green",kind="ws"\} 0$/m);
        text = at(t0 + OPEN_FOR_AT_MOST_MS + 1);
        assert.match(text, /^switchyard_in_flight_requests\{listener="live",colour="green"\} 0$/m);
        assert.strictEqual(m.open.size, 0);

        assert.doesNotMatch(renderNginxConfig({ appPort: 3000, drainSeconds: 15 }), /mirror|_switchyard_start/);
        const conf = renderNginxConfig({ appPort: 3000, drainSeconds: 15, metrics: true });
        assert.strictEqual(conf.match(/^ {12}mirror \/_switchyard_start;\n {12}mirror_request_body off;$/gm)?.length, 8, "location /, @once, @resend and @stream of each listener");
        assert.strictEqual(conf.match(/location @unsent \{(?:(?!location)[\s\S])*?proxy_pass [^;]+;\n {8}\}/g)?.length, 2, "not in @unsent: the request started in @once");
        assert.strictEqual(conf.match(/location = \/_switchyard_start \{\n {12}internal;\n {12}log_subrequest on;\n {12}access_log \S+ switchyard_start;\n {12}return 204;/g)?.length, 2, "one in each listener's server");
    });
});
