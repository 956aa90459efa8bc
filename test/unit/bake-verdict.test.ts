// The bake's decisions, without Docker: which access records count, how each
// client weighs, the weighted p99, the verdict and its wording, and the
// failed-bake record. The real step is driven against nginx and Docker in
// test/scripts/bake.test.ts.
import * as assert from "assert";
import { clientKey, describe as describeSummary, failedBefore, failedRecord, nextCheckMs, parseAccessRecords, Sample, summarise, verdict, weightedP99Ms } from "../../engine/bake-verdict";

/** One record as `docker logs --timestamps` prints the proxy's access log. */
function record(o: { ts?: string; addr?: string; listener?: string; status?: number; colour?: string; upstream?: string; urt?: string; kind?: string; request?: string }): string {
    const ts = o.ts ?? "2026-12-03T06:00:00.000000001Z";
    return (
        `${ts} ${o.addr ?? "10.0.0.7"} [2026-12-03T06:00:00+00:00] ${o.listener ?? "live"} "${o.request ?? "GET /visits HTTP/1.1"}" ${o.status ?? 200} 12 ` +
        `rt=0.010 colour=${o.colour ?? "green"} upstream=${o.upstream ?? "172.20.0.5:8080"} ust=${o.status ?? 200} urt=${o.urt ?? "0.008"} kind=${o.kind ?? "http"}`
    );
}
const opts = { colour: "green", ownAddress: "127.0.0.1", after: "" };
const sample = (status: number, ms: number, client = "a", timed = true): Sample => ({ status, upstreamSeconds: ms / 1000, client, timed });

describe("bake decisions (engine/bake-verdict.ts)", () => {
    it("counts the colour's real requests on the live listener only", () => {
        const text = [
            record({}),
            record({ colour: "blue" }),
            record({ listener: "preview" }),
            record({ addr: "127.0.0.1" }), // the proxy's own probe
            record({ upstream: "-", status: 503 }), // maintenance: nginx answered itself
            record({ upstream: "-", status: 502 }), // no replica to ask: the colour's failure
            "2026-12-03T06:00:00.000000001Z 2026/12/03 06:00:00 [warn] 7#7: an error-log line",
        ].join("\n");
        const { samples } = parseAccessRecords(text, opts);
        assert.deepStrictEqual(samples.map((s) => s.status), [200, 502]);
    });

    it("takes the unix socket as the proxy's own address with host networking", () => {
        const { samples } = parseAccessRecords([record({ addr: "unix:" }), record({ addr: "127.0.0.1" })].join("\n"), { ...opts, ownAddress: "unix:" });
        assert.deepStrictEqual(samples.map((s) => s.client), ["127.0.0.1"]);
    });

    it("sums the upstream time over a request's attempts, across an internal redirect too", () => {
        const { samples } = parseAccessRecords([record({ urt: "0.100, 0.250", upstream: "a:1, b:1" }), record({ urt: "0.100 : 0.300" }), record({ urt: "-" })].join("\n"), opts);
        assert.deepStrictEqual(samples.map((s) => Math.round(s.upstreamSeconds * 1000)), [350, 400, 0]);
    });

    it("times plain HTTP, not WebSockets or event streams", () => {
        const { samples } = parseAccessRecords([record({ kind: "http" }), record({ kind: "websocket" }), record({ kind: "stream" })].join("\n"), opts);
        assert.deepStrictEqual(samples.map((s) => s.timed), [true, false, false]);
    });

    it("reads each record once: only after the newest timestamp already read, which any record advances", () => {
        const t1 = "2026-12-03T06:00:01.000000000Z";
        const t2 = "2026-12-03T06:00:02.000000000Z";
        const text = [record({ ts: t1 }), record({ ts: t2, colour: "blue" })].join("\n");
        const first = parseAccessRecords(text, opts);
        assert.strictEqual(first.samples.length, 1);
        assert.strictEqual(first.newest, t2, "a record of the other colour moves the mark too");
        assert.deepStrictEqual(parseAccessRecords(text, { ...opts, after: first.newest }), { samples: [], newest: "" });
    });

    it("keys a client by its address, an IPv6 one by its /64, an IPv4-mapped one by its IPv4 address", () => {
        assert.strictEqual(clientKey("10.1.2.3"), "10.1.2.3");
        assert.strictEqual(clientKey("::ffff:10.1.2.3"), "10.1.2.3");
        assert.strictEqual(clientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert.strictEqual(clientKey("2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64");
        assert.strictEqual(clientKey("2001:db8::1"), "2001:db8:0:0::/64");
        assert.strictEqual(clientKey("::1"), "0:0:0:0::/64");
    });

    it("caps each client's weight: one client's flood of cheap 200s cannot hide the others' 5xx", () => {
        const flood = Array.from({ length: 1000 }, () => sample(200, 1, "flood"));
        const others = Array.from({ length: 40 }, (_, i) => sample(i < 4 ? 500 : 200, 5, `c${i % 4}`));
        const s = summarise([...flood, ...others], 30);
        assert.strictEqual(s.total, 1040);
        assert.strictEqual(s.errors, 4);
        // 30 of weight for the flood, 40 for the others: 4 / 70.
        assert.strictEqual(s.percent.toFixed(2), "5.71");
        assert.strictEqual(s.heavy, 1);
        assert.strictEqual(s.clients, 5);
        assert.match(verdict(s, { maxErrorPercent: 5, minRequests: 30 }), /^4 of 1040 real requests answered 5xx \(5\.71 %, threshold 5 %; 1 of 5 clients weighed as 30 requests each\)$/);
    });

    it("judges a stack whose traffic all comes from one address exactly as plain counts", () => {
        const one = Array.from({ length: 200 }, (_, i) => sample(i < 20 ? 503 : 200, i, "balancer"));
        const s = summarise(one, 30);
        assert.strictEqual(s.percent, 10);
        assert.strictEqual(verdict(s, { maxErrorPercent: 10, minRequests: 30 }), "", "exactly at the threshold passes");
        assert.strictEqual(describeSummary(s), "200 requests, 20 5xx (10.00 %), p99 197 ms; 1 client(s)");
    });

    it("weighted p99: a few slow requests of one heavy client do not set it; nothing timed is 0", () => {
        const heavy = [...Array.from({ length: 97 }, () => sample(200, 10, "h")), ...Array.from({ length: 3 }, () => sample(200, 900, "h"))];
        const light = Array.from({ length: 30 }, (_, i) => sample(200, 20 + i, `l${i}`));
        assert.strictEqual(weightedP99Ms([...heavy, ...light], 10), 49);
        assert.strictEqual(weightedP99Ms([...heavy, ...light], 1000), 900, "uncapped, the slow three are the p99");
        assert.strictEqual(weightedP99Ms([sample(200, 5000, "ws", false)], 30), 0);
    });

    it("passes too few requests to judge, fails above either threshold, and says both", () => {
        const bad = Array.from({ length: 29 }, () => sample(500, 400));
        assert.strictEqual(verdict(summarise(bad, 30), { maxErrorPercent: 5, maxP99Ms: 200, minRequests: 30 }), "");
        const s = summarise([...bad, sample(500, 400)], 30);
        assert.strictEqual(
            verdict(s, { maxErrorPercent: 5, maxP99Ms: 200, minRequests: 30 }),
            "30 of 30 real requests answered 5xx (100.00 %, threshold 5 %); p99 400 ms of the upstream over 30 real requests (threshold 200 ms)",
        );
        assert.strictEqual(verdict(s, { maxErrorPercent: 100, minRequests: 30 }), "", "no p99 threshold: latency is reported, not judged");
    });

    it("checks every 2 s and last at the window's end", () => {
        assert.strictEqual(nextCheckMs(8000, 0, 2000), 2000);
        assert.strictEqual(nextCheckMs(8000, 7300, 2000), 700);
        assert.strictEqual(nextCheckMs(8000, 8100, 2000), 0);
    });

    it("the failed-bake record names the same containers in any order, and not others", () => {
        const text = failedRecord(["bbb", "aaa"], new Date("2026-12-03T06:00:00.123Z"), "3 of 40 real requests answered 5xx");
        assert.strictEqual(text, "aaa bbb \n2026-12-03T06:00:00Z: 3 of 40 real requests answered 5xx\n");
        assert.strictEqual(failedBefore(text, ["aaa", "bbb"]), "2026-12-03T06:00:00Z: 3 of 40 real requests answered 5xx");
        assert.strictEqual(failedBefore(text, ["aaa", "ccc"]), undefined, "a re-created replica is a new release");
        assert.strictEqual(failedBefore("", []), undefined);
    });
});
