// The gate's decisions, without Docker or a clock (engine/gate-rules.ts). The
// real gate runs against replicas in test/scripts/release-steps.test.ts.
import * as assert from "assert";
import { afterRound, applyProbe, gateDeadline, NO_CONNECTION, newestStart, nextProbeAt, PROBE_ROUND, readProbeRound, RETRY_MS, Standing, WATCH_MS, watchWindow } from "../../engine/gate-rules";

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
        let s: Standing = { streak: 0, misses: 0, status: "no answer yet", body: "" };
        const seen: (string | undefined)[] = [];
        for (const code of ["200", "204", "500", "000", "200", "200", "200"]) {
            const r = applyProbe(s, { code, body: "" }, 3);
            s = r.standing;
            seen.push(r.event);
        }
        assert.deepStrictEqual(seen, [undefined, undefined, "reset", undefined, undefined, undefined, "healthy"]);
        assert.deepStrictEqual(applyProbe(s, { code: "000", body: "" }, 3).standing.status, NO_CONNECTION);
        assert.deepStrictEqual(applyProbe(s, { code: "", body: "" }, 3).standing.status, NO_CONNECTION);
        assert.deepStrictEqual(applyProbe(s, { code: "301", body: "moved" }, 3).standing, { streak: 0, misses: 1, status: "301", body: "moved" });
    });

    /** The gate's schedule for one replica that answers 503 until `readyMs`, healthy from then on: its first 100 probe times, and when it passed. */
    const schedule = (readyMs: number, intervalS: number, threshold: number) => {
        let s: Standing = { streak: 0, misses: 0, status: "no answer yet", body: "" };
        const probes: number[] = [];
        for (let at = 0; probes.length < 100; ) {
            probes.push(at);
            const r = applyProbe(s, { code: at >= readyMs ? "200" : "503", body: "" }, threshold);
            s = r.standing;
            if (r.event === "healthy") return { probes, passedAt: at };
            at = nextProbeAt(at, s, intervalS);
        }
        return { probes, passedAt: undefined };
    };

    it("healthy answers count an interval apart; an answer that is not healthy yet is retried sooner, backing off to the interval", () => {
        // An app that answers 503 until 0.6 s after its start: retried at 0.25 and 0.75 s, then the streak at 1.75 and 2.75 s.
        assert.deepStrictEqual(schedule(600, 1, 3), { probes: [0, 250, 750, 1750, 2750], passedAt: 2750 });
        // Up at once: the streak spans threshold - 1 intervals, never less.
        assert.deepStrictEqual(schedule(0, 2, 3), { probes: [0, 2000, 4000], passedAt: 4000 });
        // Never healthy: 0.25, 0.5, 1, 2 s between retries, then the interval (2 s): a few probes more than one an interval.
        const never = schedule(Infinity, 2, 3).probes.slice(0, 7);
        assert.deepStrictEqual(never, [0, 250, 750, 1750, 3750, 5750, 7750]);
        // A reset streak starts over with the fast retry.
        const afterReset = applyProbe({ streak: 2, misses: 0, status: "200", body: "" }, { code: "503", body: "" }, 3).standing;
        assert.strictEqual(nextProbeAt(10_000, afterReset, 5), 10_000 + RETRY_MS);
        assert.strictEqual(nextProbeAt(10_000, { streak: 1, misses: 0, status: "200", body: "" }, 5), 15_000);
        // An interval shorter than the retry is the retry's bound.
        assert.strictEqual(nextProbeAt(0, { streak: 0, misses: 1, status: NO_CONNECTION, body: "" }, 0.1), 100);
    });

    it("a replica not listening yet is watched: the round waits for its first answer, up to an interval, the deadline or another replica's turn", () => {
        // Nothing else due: a whole interval of tries, WATCH_MS apart, and the clock's bound a second past it.
        assert.deepStrictEqual(watchWindow(0, [], 60_000, 1), { tries: 1 + 1000 / WATCH_MS, secs: 2 });
        // A replica with a streak due in 0.35 s: the watch ends by then, so the streak keeps its cadence.
        assert.deepStrictEqual(watchWindow(10_000, [10_350, 12_000], 60_000, 2), { tries: 4, secs: 2 });
        // The deadline in 0.2 s: no watch past it.
        assert.strictEqual(watchWindow(0, [], 200, 5).tries, 3);
        // Another replica due already (a late round): one try, no wait.
        assert.deepStrictEqual(watchWindow(5_000, [4_900], 60_000, 1), { tries: 1, secs: 1 });
    });

    it("after a round: no connection is watched again at once, a watched healthy answer counts from the round's end, an answer is retried on the back-off", () => {
        const healthy: Standing = { streak: 1, misses: 0, status: "200", body: "" };
        const missed: Standing = { streak: 0, misses: 1, status: NO_CONNECTION, body: "" };
        // Not listening yet: the next round watches it again, straight away.
        assert.deepStrictEqual(afterRound({ roundStartMs: 0, roundEndMs: 900, standing: missed, code: "000", watched: true, intervalS: 1 }), { dueMs: 900, watch: true });
        // A replica with a streak that stops listening (it crashed) is watched too.
        assert.deepStrictEqual(afterRound({ roundStartMs: 0, roundEndMs: 80, standing: missed, code: "000", watched: false, intervalS: 1 }), { dueMs: 80, watch: true });
        // Its first healthy answer came at the latest when the watch ended: the next one an interval after that.
        assert.deepStrictEqual(afterRound({ roundStartMs: 0, roundEndMs: 640, standing: healthy, code: "200", watched: true, intervalS: 1 }), { dueMs: 1640, watch: false });
        // A probe of a replica with a streak: the interval from the round's start, as before.
        assert.deepStrictEqual(afterRound({ roundStartMs: 2000, roundEndMs: 2080, standing: { ...healthy, streak: 2 }, code: "200", watched: false, intervalS: 1 }), { dueMs: 3000, watch: false });
        // Listening, but 503 while it warms up: the back-off, not a watch (a refused connection costs the app nothing; a request does).
        const warming: Standing = { streak: 0, misses: 1, status: "503", body: "" };
        assert.deepStrictEqual(afterRound({ roundStartMs: 0, roundEndMs: 400, standing: warming, code: "503", watched: true, intervalS: 2 }), { dueMs: 400 + RETRY_MS, watch: false });
        // The exec ended before this replica's answer (no code): the back-off, never a tight loop of execs.
        assert.deepStrictEqual(afterRound({ roundStartMs: 0, roundEndMs: 30, standing: missed, code: "", watched: true, intervalS: 2 }), { dueMs: 30 + RETRY_MS, watch: false });
    });
});
