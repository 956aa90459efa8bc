// npm run bench:bake — what one check of the bake (and of each canary step)
// costs as the window grows, the two ways the records are read, side by side
// in one run: `docker logs --since` the last check (Docker reads its whole log
// file, up to the program's 3 × 10 MB, to find them) and the metrics sidecar's
// per-minute files read from a cursor (engine/watch.ts). A live colour under
// BENCH_RATE req/s (default 500) for BENCH_SECONDS (default 600), a check every
// 2 s as the bake makes, alternating which way goes first.
// Prints one line a minute with elapsed seconds, then a Markdown table (per
// minute: the median cost of a check each way, the records it returned), and
// writes bench/results/bake.json and bench/results/bake.md.
import { execFile } from "child_process";
import { parseAccessRecords } from "../engine/bake-verdict";
import { READ_RECORDS, samplesFromChunks } from "../engine/watch";
import { METRICS_LOG_DIR } from "../nginx/render";
import { docker } from "../test/scripts/fixture";
import { startLoadProcess } from "../test/scripts/load";
import { liveBlueStack, median, progress, writeBenchResults } from "./results";

const RATE = Number(process.env.BENCH_RATE ?? 500);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 600);
const CHECK_MS = 2000;
const say = progress();

interface Check {
    /** Seconds since the window started. */
    at: number;
    logsMs: number;
    logsBytes: number;
    logsRecords: number;
    filesMs: number;
    filesBytes: number;
    filesRecords: number;
}

function run(args: string[]): Promise<{ ms: number; out: string }> {
    const t = Date.now();
    return new Promise((resolve, reject) =>
        execFile("docker", args, { maxBuffer: 512 * 1024 * 1024, encoding: "utf8" }, (err, out) => (err ? reject(err) : resolve({ ms: Date.now() - t, out }))),
    );
}

async function main() {
    const stack = liveBlueStack("bench-bake");
    const checks: Check[] = [];
    try {
        say(`stack up: proxy with the metrics sidecar, blue live; ${RATE} req/s for ${SECONDS}s, a check every ${CHECK_MS / 1000}s`);
        const load = startLoadProcess({ port: stack.livePort, rate: RATE, durationMs: (SECONDS + 10) * 1000, postShare: 0, readShare: 0 });
        await new Promise((r) => setTimeout(r, 1000));
        // Both start now: docker logs by the engine's clock, the files by where the newest one ends.
        const since = docker("info", "--format", "{{.SystemTime}}");
        const end = /^@@ (\S+) (\d+)$/m.exec(docker("exec", stack.proxy, "sh", "-c", READ_RECORDS, "sh", METRICS_LOG_DIR, "", "end"))!;
        let cursor = { file: end[1] === "-" ? "" : end[1], offset: end[1] === "-" ? 0 : Number(end[2]) };
        let after = "";
        const opts = { colour: "blue", ownAddress: "unix:" };
        const start = Date.now();
        let minute = 0;
        for (let i = 0; Date.now() - start < SECONDS * 1000; i++) {
            await new Promise((r) => setTimeout(r, Math.max(0, start + (i + 1) * CHECK_MS - Date.now())));
            const viaLogs = async () => {
                const r = await run(["logs", "--timestamps", "--since", after || since, stack.proxy]);
                const got = parseAccessRecords(r.out, { ...opts, after });
                if (got.newest) after = got.newest;
                return { ms: r.ms, bytes: r.out.length, records: got.samples.length };
            };
            const viaFiles = async () => {
                const r = await run(["exec", stack.proxy, "sh", "-c", READ_RECORDS, "sh", METRICS_LOG_DIR, cursor.file, String(cursor.offset)]);
                const got = samplesFromChunks(r.out, cursor, opts);
                cursor = got.cursor;
                return { ms: r.ms, bytes: r.out.length, records: got.samples.length };
            };
            // Alternate which goes first: neither always meets a busier moment.
            const [l, f] = i % 2 === 0 ? [await viaLogs(), await viaFiles()] : await (async () => { const f2 = await viaFiles(); return [await viaLogs(), f2]; })();
            checks.push({ at: (Date.now() - start) / 1000, logsMs: l.ms, logsBytes: l.bytes, logsRecords: l.records, filesMs: f.ms, filesBytes: f.bytes, filesRecords: f.records });
            const m = Math.floor((Date.now() - start) / 60000);
            if (m > minute) {
                minute = m;
                const last = checks.filter((c) => c.at >= (m - 1) * 60 && c.at < m * 60);
                say(`minute ${m}: a check via docker logs ${median(last.map((c) => c.logsMs))} ms, via the files ${median(last.map((c) => c.filesMs))} ms (median of ${last.length})`);
            }
        }
        const rep = await load.stop();
        say(`load: ${rep.requests} requests, ${rep.failed} failed`);
        const minutes = Math.ceil(SECONDS / 60);
        const rows = Array.from({ length: minutes }, (_, m) => {
            const inMinute = checks.filter((c) => c.at >= m * 60 && c.at < (m + 1) * 60);
            return {
                minute: m + 1,
                checks: inMinute.length,
                logsMs: median(inMinute.map((c) => c.logsMs)),
                filesMs: median(inMinute.map((c) => c.filesMs)),
                logsKb: Math.round(median(inMinute.map((c) => c.logsBytes)) / 1024),
                filesKb: Math.round(median(inMinute.map((c) => c.filesBytes)) / 1024),
                records: median(inMinute.map((c) => c.filesRecords)),
                logsRecords: median(inMinute.map((c) => c.logsRecords)),
            };
        });
        const first = rows[0];
        const last = rows[rows.length - 1];
        const summary = {
            rate: RATE,
            seconds: SECONDS,
            requests: rep.requests,
            failed: rep.failed,
            logsFirstMinuteMs: first.logsMs,
            logsLastMinuteMs: last.logsMs,
            filesFirstMinuteMs: first.filesMs,
            filesLastMinuteMs: last.filesMs,
            logsGrowth: Number((last.logsMs / Math.max(1, first.logsMs)).toFixed(2)),
            filesGrowth: Number((last.filesMs / Math.max(1, first.filesMs)).toFixed(2)),
            logsOverFilesLastMinute: Number((last.logsMs / Math.max(1, last.filesMs)).toFixed(2)),
        };
        const md = [
            `The bake's check, two ways, side by side — ${RATE} req/s for ${SECONDS} s, a check every ${CHECK_MS / 1000} s, one run (${new Date().toISOString().slice(0, 10)}).`,
            "",
            "| minute | checks | docker logs --since: ms (median) | sidecar files from a cursor: ms (median) | records per check (files / logs) | bytes read per check (files / logs, KB) |",
            "|---|---|---|---|---|---|",
            ...rows.map((r) => `| ${r.minute} | ${r.checks} | ${r.logsMs} | ${r.filesMs} | ${r.records} / ${r.logsRecords} | ${r.filesKb} / ${r.logsKb} |`),
            "",
            `Last minute over first: docker logs ×${summary.logsGrowth}, the files ×${summary.filesGrowth}; in the last minute docker logs cost ×${summary.logsOverFilesLastMinute} the files. ${rep.requests} requests, ${rep.failed} failed.`,
            "",
        ].join("\n");
        const files = writeBenchResults("bake", { summary, rows, checks }, summary, md);
        say(`wrote ${files.join(" and ")}`);
    } finally {
        stack.down();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
