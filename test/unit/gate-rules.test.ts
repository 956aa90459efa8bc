// The gate's decisions, without Docker or a clock (engine/gate-rules.ts). The
// real gate runs against replicas in test/scripts/release-steps.test.ts.
import * as assert from "assert";
import { applyProbe, gateDeadline, NO_CONNECTION, newestStart, PROBE_ROUND, readProbeRound, Standing } from "../../engine/gate-rules";

const now = 1_000_000_000;
const left = (o: { startedAgoS?: number; timeoutS: number; threshold?: number; intervalS?: number }) =>
    (gateDeadline({ nowMs: now, startedMs: o.startedAgoS === undefined ? undefined : now - o.startedAgoS * 1000, timeoutS: o.timeoutS, threshold: o.threshold ?? 3, intervalS: o.intervalS ?? 1 }) - now) / 1000;

describe("gate decisions (engine/gate-rules.ts)", () => {
    it("the timeout runs from the newest replica's start: a slot started 6 s ago with 12 s gets 6 s", () => {
        assert.strictEqual(left({ startedAgoS: 6, timeoutS: 12 }), 6);
        assert.strictEqual(left({ startedAgoS: 0, timeoutS: 60 }), 60);
    });

    it("a slot that has run a while still gets one full streak and 3 s, never more than the timeout", () => {
        assert.strictEqual(left({ startedAgoS: 3600, timeoutS: 60, threshold: 3, intervalS: 2 }), 9);
        assert.strictEqual(left({ startedAgoS: 3600, timeoutS: 5, threshold: 3, intervalS: 2 }), 5, "capped at the timeout");
        assert.strictEqual(left({ timeoutS: 30 }), 30, "no start known: from now");
    });

    it("the newest start of docker's RFC 3339 nanosecond times; none readable is undefined", () => {
        assert.strictEqual(newestStart(["2026-12-03T06:00:00.123456789Z", "2026-12-03T06:00:05.5Z\n"]), Date.parse("2026-12-03T06:00:05.500Z"));
        assert.strictEqual(newestStart(["0001-01-01T00:00:00Z", "garbage"]), undefined);
    });

    it("reads a probe round: each URL's body and code in order, a body that looks like an end is still a body, a URL the output stops before had no answer", () => {
        const b = "0123456789abcdef";
        const out = `{"ok":true}\n${b} 200\nline1\nline2\n${b} 503\n\n${b} 000\n`;
        assert.deepStrictEqual(readProbeRound(out, b, 3), [
            { code: "200", body: '{"ok":true}' },
            { code: "503", body: "line1\nline2" },
            { code: "000", body: "" },
        ]);
        // Another round's boundary in a body (the app cannot know this one's) ends nothing.
        assert.deepStrictEqual(readProbeRound(`fedcba9876543210 200\n\n${b} 500\n`, b, 1), [{ code: "500", body: "fedcba9876543210 200\n" }]);
        assert.deepStrictEqual(readProbeRound(`ok\n${b} 200\n`, b, 3).slice(1), [{ code: "", body: "" }, { code: "", body: "" }], "the exec ended after the first");
        assert.deepStrictEqual(readProbeRound("", b, 2), [{ code: "", body: "" }, { code: "", body: "" }]);
        assert.strictEqual(readProbeRound(`${"x".repeat(1000)}\n${b} 500\n`, b, 1)[0].body.length, 300);
        assert.throws(() => readProbeRound("", "a b", 1), /boundary is hex digits/);
        assert.match(PROBE_ROUND, /"\$url"/, "each URL is an argument");
    });

    it("a 2xx extends the streak and says healthy at the threshold; anything else resets it and says so only if there was one", () => {
        let s: Standing = { streak: 0, status: "no answer yet", body: "" };
        const seen: (string | undefined)[] = [];
        for (const code of ["200", "204", "500", "000", "200", "200", "200"]) {
            const r = applyProbe(s, { code, body: "" }, 3);
            s = r.standing;
            seen.push(r.event);
        }
        assert.deepStrictEqual(seen, [undefined, undefined, "reset", undefined, undefined, undefined, "healthy"]);
        assert.deepStrictEqual(applyProbe(s, { code: "000", body: "" }, 3).standing.status, NO_CONNECTION);
        assert.deepStrictEqual(applyProbe(s, { code: "", body: "" }, 3).standing.status, NO_CONNECTION);
        assert.deepStrictEqual(applyProbe(s, { code: "301", body: "moved" }, 3).standing, { streak: 0, status: "301", body: "moved" });
    });
});
