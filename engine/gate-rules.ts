// The gate's decisions, as pure functions (engine/gate.ts acts on them): when
// it gives up, what one probe's answer does to a replica's streak, and how a
// probe's output reads. Tested in milliseconds in test/unit/gate-rules.test.ts.

/**
 * When the gate gives up, in ms since the epoch. The timeout runs from the
 * newest replica's start, not from the step's: a new slot gets `timeoutS`
 * from when Docker started it, so a broken release fails that long after its
 * containers came up, however long the update took to get here. A slot that
 * has run a while (re-gated before a switch) still gets a fair chance: at
 * least one full healthy streak and 3 s. Never more than `timeoutS` from now.
 */
export function gateDeadline(o: { nowMs: number; startedMs?: number; timeoutS: number; threshold: number; intervalS: number }): number {
    const started = o.startedMs ?? o.nowMs;
    const floor = o.nowMs + (o.threshold * o.intervalS + 3) * 1000;
    return Math.min(Math.max(started + o.timeoutS * 1000, floor), o.nowMs + o.timeoutS * 1000);
}

/** The newest of docker's StartedAt times (RFC 3339 with ns), in ms; undefined when none reads. */
export function newestStart(startedAt: string[]): number | undefined {
    const ms = startedAt.map((s) => Date.parse(s.trim().replace(/(\.\d{3})\d+/, "$1"))).filter((n) => Number.isFinite(n) && n > 0);
    return ms.length ? Math.max(...ms) : undefined;
}

/** One replica's standing in the gate. */
export interface Standing {
    streak: number;
    /** Unhealthy answers in a row since the last healthy one (the retry's back-off). */
    misses: number;
    /** Its last status as the failure report says it. */
    status: string;
    body: string;
}

export const NO_CONNECTION = "no response (connection failed)";

/** How often a replica not listening yet is probed again, inside one exec (PROBE_ROUND). */
export const WATCH_MS = 100;

/**
 * One probe round, in one exec inside the proxy (engine/gate.ts): each URL,
 * its body, then a line "BOUNDARY CODE" ("000" when no connection was made).
 * A docker exec costs more than the probe itself (a new process in the
 * proxy's namespaces, and over ssh:// a new session), so a round is one exec
 * however many replicas it probes. The boundary is random each round: no body
 * can end another's. The values are arguments, never shell text; POSIX sh,
 * curl and a `sleep` that takes fractions, the proxy image's contract.
 *
 * The first ONCE URLs are probed once. The rest are replicas not listening
 * yet: they are watched, probed again every WATCH_MS for up to TRIES tries
 * (and SECS seconds by the clock), until one of them answers at all. A
 * refused connection costs the app nothing, so the gate sees an app's first
 * answer about when it comes, not up to a back-off later, for one exec.
 * Arguments: boundary host proto once tries secs url...
 */
export const PROBE_ROUND = `b=$1 host=$2 proto=$3 once=$4 tries=$5 secs=$6; shift 6
probe() {
  curl -s --connect-timeout 1 -m 3 -o - -w "\\n$b %{http_code}\\n" \${host:+-H} \${host:+"Host: $host"} \${proto:+-H} \${proto:+"X-Forwarded-Proto: $proto"} "$1"
}
while [ "$once" -gt 0 ]; do probe "$1"; shift; once=$((once - 1)); done
[ $# -gt 0 ] || exit 0
end=$(($(date +%s) + secs)) t=1
while :; do
  out=$(for url do probe "$url"; done)
  case $out in *"
$b "[1-9]*) break ;; esac
  [ "$t" -lt "$tries" ] && [ "$(date +%s)" -lt "$end" ] || break
  t=$((t + 1)); sleep ${WATCH_MS / 1000}
done
printf '%s\\n' "$out"`;

/**
 * PROBE_ROUND's output as one answer per URL, in order: the body (kept to 300
 * characters, for the report) and the code. A URL the output stops before (the
 * exec ended early) had no answer.
 */
export function readProbeRound(out: string, boundary: string, count: number): { code: string; body: string }[] {
    if (!/^[0-9a-f]{8,}$/.test(boundary)) throw new Error(`a probe round's boundary is hex digits, got ${JSON.stringify(boundary)}`);
    const end = new RegExp(`\\n${boundary} (\\d{3})\\n`);
    const answers: { code: string; body: string }[] = [];
    let rest = out;
    for (let i = 0; i < count; i++) {
        const m = end.exec(rest);
        if (!m) {
            answers.push({ code: "", body: "" });
            continue;
        }
        answers.push({ code: m[1], body: rest.slice(0, m.index).slice(0, 300) });
        rest = rest.slice(m.index + m[0].length);
    }
    return answers;
}

/**
 * A probe's answer applied to a replica's standing: a 2xx extends the streak,
 * anything else resets it. `event` is what the step says: the replica
 * reached the threshold, or lost a streak it had.
 */
export function applyProbe(s: Standing, probe: { code: string; body: string }, threshold: number): { standing: Standing; event?: "healthy" | "reset" } {
    if (/^2\d\d$/.test(probe.code)) {
        const streak = s.streak + 1;
        return { standing: { streak, misses: 0, status: probe.code, body: probe.body }, event: streak >= threshold ? "healthy" : undefined };
    }
    const status = probe.code === "" || probe.code === "000" ? NO_CONNECTION : probe.code;
    return { standing: { streak: 0, misses: s.misses + 1, status, body: probe.body }, event: s.streak > 0 ? "reset" : undefined };
}

/** The first retry of a replica without a healthy answer; each miss in a row doubles it, up to the interval. */
export const RETRY_MS = 250;

/**
 * When a replica is probed next, from the start of the round that probed it.
 * Healthy answers count toward the streak only an interval apart, so a
 * replica with a streak waits the interval. One that answered, but not
 * healthy (still warming up, or failing), is retried sooner: RETRY_MS after
 * its first miss, doubling with each miss in a row, never later than the
 * interval. So the streak starts about when the app first answers healthy,
 * not up to an interval later, still spans threshold - 1 intervals, and a
 * replica that answers 500 for ever costs a few probes more than one an
 * interval, not four a second until the timeout. (One not listening at all
 * is watched instead: afterRound.)
 */
export function nextProbeAt(roundStartMs: number, standing: Standing, intervalS: number): number {
    const intervalMs = intervalS * 1000;
    if (standing.streak > 0) return roundStartMs + intervalMs;
    return roundStartMs + Math.min(RETRY_MS * 2 ** Math.max(0, standing.misses - 1), intervalMs);
}

/**
 * How long a round may watch the replicas not listening yet (PROBE_ROUND's
 * tries and seconds): an interval at most, and never past the deadline or
 * the time another replica is due, so a streak keeps its cadence.
 */
export function watchWindow(roundStartMs: number, othersDueMs: number[], deadlineMs: number, intervalS: number): { tries: number; secs: number } {
    const ms = Math.max(0, Math.min(intervalS * 1000, deadlineMs - roundStartMs, ...othersDueMs.map((d) => d - roundStartMs)));
    return { tries: 1 + Math.floor(ms / WATCH_MS), secs: Math.ceil(ms / 1000) + 1 };
}

/**
 * When a replica probed in a round is probed next, and whether it is watched
 * then. No connection at all (curl's 000: not listening yet) is watched again
 * at once: the round already waited for it. A healthy answer from a watch
 * counts from the round's end, the latest it can have come, so the streak's
 * answers stay an interval apart; otherwise nextProbeAt from the round's start.
 * An exec that ended early (no code) backs off like any miss.
 */
export function afterRound(o: { roundStartMs: number; roundEndMs: number; standing: Standing; code: string; watched: boolean; intervalS: number }): { dueMs: number; watch: boolean } {
    if (o.code === "000") return { dueMs: o.roundEndMs, watch: true };
    if (o.watched && o.standing.streak > 0) return { dueMs: o.roundEndMs + o.intervalS * 1000, watch: false };
    return { dueMs: nextProbeAt(o.watched ? o.roundEndMs : o.roundStartMs, o.standing, o.intervalS), watch: false };
}
