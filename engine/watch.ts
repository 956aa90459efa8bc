// Watching a colour's real traffic for a window: the proxy's access records
// read every CHECK_MS, judged by engine/bake-verdict.ts at each check. The bake
// watches the new colour at 100 %, the canary at each weight; each acts on a
// failure its own way.
//
// Where the records come from: the files nginx writes one a minute
// (nginx/render.ts renderMetricsLog), each read from where the last check
// stopped, so a check costs what the traffic since it costs, however long the
// window. Not `docker logs --since` the last check: Docker reads its whole log
// file to find them (the json-file driver has no index by time), which grows
// with the window and the traffic (npm run bench:bake measures both).
//
// A canary on several hosts watches every host's proxy at once: one window,
// the samples of all of them judged together.
import { describe, nextCheckMs, parseAccessRecords, Sample, summarise, Summary, Thresholds, verdict } from "./bake-verdict";
import { Docker, trimmed } from "./docker";
import { sleep, Step } from "./step";

const CHECK_MS = 2000;

/** One proxy whose records are read. */
export interface RecordSource {
    /** The engine the proxy runs on. */
    docker: Docker;
    /** The proxy container. */
    proxy: string;
    /** Its host's name in messages, for a source on another host than the step's. Defaults to none. */
    host?: string;
    /** The proxy's own probes come from here ("unix:" or "127.0.0.1"): not real traffic. */
    ownAddress: string;
    /** Where the window starts (recordsStart). */
    start: RecordStart;
}

export interface Watch {
    colour: "blue" | "green";
    /** The proxies watched: one, or each host's for a canary on every host. */
    sources: RecordSource[];
    thresholds: Thresholds;
    seconds: number;
    /** How each progress line starts, such as "10 %: ". */
    label?: string;
}

export interface WatchResult {
    /** Why a check failed (the verdict), or undefined when the window held. */
    failed?: string;
    summary: Summary;
    /** Whole seconds watched. */
    waited: number;
}

/**
 * Watches `w.colour` for `w.seconds`, saying the figures at each check; stops
 * at the first check whose verdict fails (once `minRequests` were seen). The
 * work per check follows the traffic since the last one.
 */
export async function watchColour(step: Step, w: Watch): Promise<WatchResult> {
    const samples: Sample[] = [];
    const label = w.label ?? "";
    const readers = w.sources.map((source) => recordReader(step, source, w.colour));
    const readSamples = async () => {
        for (const got of await Promise.all(readers.map((read) => read()))) samples.push(...got);
    };
    const windowMs = w.seconds * 1000;
    const start = Date.now();
    for (;;) {
        await sleep(nextCheckMs(windowMs, Date.now() - start, CHECK_MS));
        await readSamples();
        const summary = summarise(samples, w.thresholds.minRequests);
        const waitedMs = Date.now() - start;
        const waited = Math.floor(waitedMs / 1000);
        const failed = verdict(summary, w.thresholds);
        if (failed) return { failed, summary, waited };
        step.say(`${label}${waited}s of ${w.seconds}s: ${describe(summary)}`);
        if (waitedMs >= windowMs) return { summary, waited };
    }
}

/** Where a window starts: a place in the record files. */
export interface RecordStart {
    dir: string;
    file: string;
    offset: number;
}

/**
 * Lists the record files of `dir` (their names carry the minute, so they sort
 * in time) from FILE at OFFSET on: a `@@ FILE START SIZE` line, then that
 * file's bytes from START to SIZE. With START "end" it only says where the
 * newest file ends. Arguments: dir, file, offset. Run in the proxy.
 */
export const READ_RECORDS = `cd "$1" 2>/dev/null || exit 0
for f in $(ls 2>/dev/null | grep -E '^access-[0-9T:-]+[.]log$' | sort); do
  [ "$f" \\< "$2" ] && continue
  size=$(stat -c %s "$f") || continue
  if [ "$3" = end ]; then last="$f $size"; continue; fi
  if [ "$f" = "$2" ]; then start=$3; else start=0; fi
  printf '\\n@@ %s %s %s\\n' "$f" "$start" "$size"
  [ "$size" -gt "$start" ] && tail -c +$((start + 1)) "$f" | head -c $((size - start))
done
[ "$3" = end ] && echo "@@ \${last:-- 0}"
exit 0`;

/** The window's start: now, the end of the newest record file in `dir` (none yet: from the first). */
export async function recordsStart(docker: Docker, proxy: string, dir: string): Promise<RecordStart | undefined> {
    const r = await docker.run(["exec", proxy, "sh", "-c", READ_RECORDS, "sh", dir, "", "end"]);
    const m = /^@@ (\S+) (\d+)$/m.exec(r.stdout);
    if (r.status !== 0 || !m) return undefined;
    return { dir, file: m[1] === "-" ? "" : m[1], offset: m[1] === "-" ? 0 : Number(m[2]) };
}

/** READ_RECORDS's output as whole lines, and where the next read starts (a line still being written is read next time). */
export function parseRecordChunks(out: string, cursor: { file: string; offset: number }): { lines: string[]; cursor: { file: string; offset: number } } {
    const lines: string[] = [];
    let next = cursor;
    for (const chunk of out.split("\n@@ ").slice(1)) {
        const nl = chunk.indexOf("\n");
        const [file, start] = (nl < 0 ? chunk : chunk.slice(0, nl)).split(" ");
        const body = nl < 0 ? "" : chunk.slice(nl + 1);
        const whole = body.slice(0, body.lastIndexOf("\n") + 1);
        lines.push(...whole.split("\n").filter(Boolean));
        next = { file, offset: Number(start) + Buffer.byteLength(whole) };
    }
    return { lines, cursor: next };
}

/** Reads the colour's real requests at one proxy since the last call, from where `w.start` says. */
function recordReader(step: Step, w: RecordSource, colour: "blue" | "green"): () => Promise<Sample[]> {
    const opts = { colour, ownAddress: w.ownAddress };
    const start = w.start;
    let cursor = { file: start.file, offset: start.offset };
    return async () => {
        const r = await w.docker.run(["exec", w.proxy, "sh", "-c", READ_RECORDS, "sh", start.dir, cursor.file, String(cursor.offset)]);
        if (r.status !== 0) step.fail(`could not read the access records in ${start.dir} of the proxy ${w.proxy}${w.host ? ` on ${w.host}` : ""}: ${trimmed(r.stderr)}`);
        const got = samplesFromChunks(r.stdout, cursor, opts);
        cursor = got.cursor;
        return got.samples;
    };
}

/** READ_RECORDS's output as the colour's real requests, and where the next read starts. */
export function samplesFromChunks(out: string, cursor: { file: string; offset: number }, opts: { colour: string; ownAddress: string }): { samples: Sample[]; cursor: { file: string; offset: number } } {
    const got = parseRecordChunks(out, cursor);
    // The files' records carry no docker timestamp: each is stamped "-", and read once by the cursor.
    return { samples: parseAccessRecords(got.lines.map((l) => `- ${l}`).join("\n"), { ...opts, after: "" }).samples, cursor: got.cursor };
}
