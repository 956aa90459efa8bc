// npm run bench:backup — what the data-protecting steps cost as the database
// grows: for each size, the backup step (pg_dump -Fc in a one-off container,
// checked and recorded) and `npm run restore --yes` (maintenance on, one
// transaction, checks, maintenance off), side by side in one run on one
// machine, with the dump's size. Sizes: BENCH_ROWS (default 10000,100000,1000000)
// rows of the sample app's visits table, about 100 bytes each.
// Prints one line per step with elapsed seconds, then a Markdown table, and
// writes bench/results/backup.json and bench/results/backup.md.
import { spawnSync } from "child_process";
import * as os from "os";
import { docker, dockerAvailable, REPO, runStep, TestStack } from "../test/scripts/fixture";
import { progress, writeBenchResults } from "./results";

const SIZES = (process.env.BENCH_ROWS ?? "10000,100000,1000000").split(",").map(Number);
const say = progress();

interface Row {
    rows: number;
    tableMb: number;
    dumpBytes: number;
    backupSeconds: number;
    restoreSeconds: number;
    rowsAfterRestore: number;
}

function main() {
    const missing = dockerAvailable();
    if (missing) throw new Error(`this benchmark needs a Docker engine and the local images: ${missing}`);
    const stack = new TestStack("bench-backup");
    const store = `${stack.prefix}-backups`;
    const psql = (sql: string) => docker("exec", `${stack.prefix}-postgres`, "psql", "-U", "app", "-d", "app", "-tAc", sql);
    const results: Row[] = [];
    try {
        stack.up(5);
        docker("volume", "create", "--label", `switchyard.stack=${stack.stackLabel}`, store);
        const blue = stack.startSlot("blue", 1);
        if (runStep("gate", stack.gateEnv("blue", blue)).status !== 0) throw new Error("blue did not pass its gate");
        say(`stack up: proxy, Postgres, Redis, blue (${blue.length} replica)`);
        for (const rows of SIZES) {
            psql("TRUNCATE visits");
            psql(`INSERT INTO visits (color, note) SELECT 'blue', 'bench row ' || g || ' ' || md5(g::text) FROM generate_series(1, ${rows}) g`);
            psql("VACUUM ANALYZE visits");
            const tableMb = Number(psql("SELECT pg_total_relation_size('visits')")) / 1024 / 1024;
            say(`${rows} rows seeded (${tableMb.toFixed(1)} MB with indexes)`);
            let t = Date.now();
            const backup = runStep("backup", stack.env({
                SWITCHYARD_COLOR: "green", POSTGRES_CONTAINER: `${stack.prefix}-postgres`, BACKEND_NETWORK: stack.backend, BACKUP_STORE: store,
                BACKUPS_KEEP: "2", PGUSER: "app", PGDATABASE: "app", PGPASSWORD: stack.pgPassword,
            }));
            const backupSeconds = (Date.now() - t) / 1000;
            if (backup.status !== 0) throw new Error(`backup failed: ${backup.stderr}`);
            const m = /wrote (\S+)\.dump: (\d+) bytes/.exec(backup.stdout)!;
            say(`backup: ${m[2]} bytes in ${backupSeconds.toFixed(1)} s`);
            psql("DELETE FROM visits WHERE id % 2 = 0");
            t = Date.now();
            const restore = spawnSync(process.execPath, ["-r", "ts-node/register", "ops/restore.ts", "--stack", stack.stack, "--backup", m[1], "--yes"], {
                cwd: REPO,
                encoding: "utf8",
                env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
            });
            const restoreSeconds = (Date.now() - t) / 1000;
            if (restore.status !== 0) throw new Error(`restore failed: ${restore.stdout}${restore.stderr}`);
            const after = Number(psql("SELECT count(*) FROM visits"));
            say(`restore: ${restoreSeconds.toFixed(1)} s for the whole command; ${after} rows after`);
            if (after !== rows) throw new Error(`restore brought back ${after} rows, the backup held ${rows}`);
            results.push({ rows, tableMb: Number(tableMb.toFixed(1)), dumpBytes: Number(m[2]), backupSeconds, restoreSeconds, rowsAfterRestore: after });
        }
    } finally {
        stack.down();
    }
    const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Docker ${docker("version", "-f", "{{.Server.Version}}")}`;
    const md = [
        `Backup and restore — ${machine}; pg_dump -Fc and pg_restore --single-transaction of the sample app's visits table; one run.`,
        "",
        "| rows | table (MB) | dump | backup step (s) | npm run restore (s) |",
        "|---|---|---|---|---|",
        ...results.map((r) => `| ${r.rows.toLocaleString("en")} | ${r.tableMb} | ${(r.dumpBytes / 1024 / 1024).toFixed(2)} MiB | ${r.backupSeconds.toFixed(1)} | ${r.restoreSeconds.toFixed(1)} |`),
        "",
        "Backup: the release step as a release runs it (one-off container, pg_dump, pg_restore --list check, sha256, retention). Restore: the whole command (ts-node start, maintenance on, checksum, pg_restore in one transaction, row counts, /health, maintenance off).",
        "",
    ].join("\n");
    const files = writeBenchResults("backup", { machine, results }, results, md);
    say(`wrote ${files.join(" and ")}`);
}

try {
    main();
} catch (err) {
    console.error(`bench:backup: ${(err as Error).message}`);
    process.exit(1);
}
