// npm run restore -- --stack NAME --backup BACKUP [--yes] [--stack-file PATH]
// npm run restore -- --stack NAME --unlock   (after a restore that died)
//
// Restores the stack's database from one of its dumps. Never silently under
// live traffic: maintenance mode on (the live listener answers 503 with
// Retry-After; in-flight requests finish), the dump's checksum checked,
// pg_restore --clean in ONE transaction (all or nothing), the tables counted
// and the live colour's /health checked, maintenance back as it was. One line
// per step with elapsed seconds. Without --yes it prints what it would do.
// Redis is not part of a backup and is left as it is. One restore at a time,
// and none under a running update (ops/restorelock.ts).
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import { configSchema, healthHost, healthProto } from "../lib/config";
import { EXPAND_MIGRATED, MAINTENANCE_MARKER, RESTORE_LOCK, STATE_DIR, WENT_LIVE } from "../lib/routemarker";
import { readStackFile } from "../lib/stackfile";
import { APP_ROLE_IN_CONTAINER } from "../lib/dataservice";
import { liveProbe } from "../lib/host";
import { everyHost, parseStackArgs, runCli, stackFilePath } from "./cli";
import { BackupRecord, docker, humanSize, inStore, listBackups, managedEnv, openStore } from "./backupstore";
import { LockedProxy, releaseRestoreLocks, runningUpdate, takeRestoreLocks } from "./restorelock";

const T0 = Date.now();
const step = (line: string) => console.log(`[restore ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${line}`);

export function main(argv = process.argv.slice(2)) {
    const args = parseStackArgs(argv, { values: ["backup"], flags: ["yes", "unlock"] });
    const store = openStore(args.stack, args.stackFile);
    if (args.flags.has("unlock")) return unlock(args.stack, hostsOf(args.stack, args.stackFile, store.namePrefix, store.proxy), store.proxy);
    const wanted = args.values.backup;
    if (!wanted) throw new Error("--backup NAME is required (npm run backups -- --stack NAME lists them)");
    const healthProbe = stackHealthProbe(args.stackFile ?? stackFilePath(args.stack));
    const backups = listBackups(store);
    const backup: BackupRecord | undefined = backups.find((b) => b.name === wanted || `${b.name}.dump` === wanted);
    if (!backup) {
        throw new Error(`no backup named "${wanted}" for stack ${args.stack} (have: ${backups.map((b) => b.name).join(", ") || "none"})`);
    }
    const plan = [
        `take the stack's restore lock (no update and no other restore meanwhile)`,
        `turn maintenance mode on (the live and preview listeners answer 503 with Retry-After: no colour writes during the restore)`,
        `check ${backup.name}.dump against its sha256 ${backup.sha256.slice(0, 12)}`,
        `restore database ${backup.database} from it (${humanSize(backup.sizeBytes)}, taken ${backup.time} before ${backup.fromImage} -> ${backup.toImage}) in one transaction, replacing what is there now`,
        `count the restored tables and check the live colour's ${healthProbe.path}`,
        `turn maintenance mode off (unless it was on before)`,
    ];
    if (!args.flags.has("yes")) {
        console.log(`restore of stack ${args.stack} would:\n${plan.map((p, i) => `  ${i + 1}. ${p}`).join("\n")}\nNothing was changed. Run again with --yes to do it.`);
        return;
    }
    // Every host's proxy goes into maintenance: with several hosts, each one's colour writes to the one database.
    const hosts = hostsOf(args.stack, args.stackFile, store.namePrefix, store.proxy);
    const locked = takeRestoreLocks(hosts, args.stack);
    try {
        const update = runningUpdate(process.env.PULUMI_BACKEND_URL, store.stackLabel.split("/")[0], args.stack);
        if (update) {
            throw new Error(`an update of stack ${args.stack} holds its lock (${update}); nothing was changed. Restore once it has finished (after a killed update: npm run recover -- --stack ${args.stack})`);
        }
        restoreUnderLock(args.stack, store, backup, healthProbe, hosts);
    } finally {
        releaseRestoreLocks(locked);
    }
}

interface Host extends LockedProxy {
    probe: (path: string) => string[];
}

function hostsOf(stack: string, stackFile: string | undefined, namePrefix: string, proxy: string): Host[] {
    return everyHost(stack, stackFile ?? stackFilePath(stack), namePrefix).map((h) => {
        const exec = (...cmd: string[]) => spawnSync("docker", ["exec", proxy, ...cmd], { encoding: "utf8", env: h.env });
        return { on: h.name ? ` on host ${h.name}` : "", exec, probe: liveProbe(proxy, h.env) };
    });
}

/** Removes a dead restore's lock from every host, saying what it was and whether maintenance is still on. */
function unlock(stack: string, hosts: Host[], proxyName: string): void {
    for (const h of hosts) {
        const holder = h.exec("cat", `${STATE_DIR}/${RESTORE_LOCK}`).stdout.trim();
        const maintenance = h.exec("test", "-f", `${STATE_DIR}/${MAINTENANCE_MARKER}`).status === 0;
        releaseRestoreLocks([h]);
        step(`${holder ? `removed the restore lock (${holder})` : "no restore lock"}${h.on}${maintenance ? `; maintenance is still on${h.on}: once the database is checked, turn it off with docker exec ${proxyName} rm -f ${STATE_DIR}/${MAINTENANCE_MARKER}` : ""}`);
    }
    step(`stack ${stack}: updates and restores may run again`);
}

function restoreUnderLock(stack: string, store: ReturnType<typeof openStore>, backup: BackupRecord, healthProbe: { path: string; headers: string[] }, hosts: Host[]): void {
    const healthPath = healthProbe.path;
    const proxies = hosts.map((h) => ({ ...h, wasOn: h.exec("test", "-f", `${STATE_DIR}/${MAINTENANCE_MARKER}`).status === 0 }));
    const turnedOn: typeof proxies = [];
    const maintenanceOff = () => turnedOn.forEach((p) => p.exec("rm", "-f", `${STATE_DIR}/${MAINTENANCE_MARKER}`));
    step(`restoring stack ${stack} from ${backup.name}`);
    for (const p of proxies.filter((x) => !x.wasOn)) {
        if (p.exec("sh", "-c", `mkdir -p ${STATE_DIR} && : > ${STATE_DIR}/.${MAINTENANCE_MARKER}.tmp && mv -f ${STATE_DIR}/.${MAINTENANCE_MARKER}.tmp ${STATE_DIR}/${MAINTENANCE_MARKER}`).status !== 0) {
            maintenanceOff();
            throw new Error(`could not turn maintenance on in ${store.proxy}${p.on}; nothing was restored${turnedOn.length ? ", and maintenance is off again where it was turned on" : ""}`);
        }
        turnedOn.push(p);
    }
    const wasOn = turnedOn.length === 0;
    step(wasOn ? "maintenance mode was already on" : `maintenance on${proxies.length > 1 ? ` (${proxies.length} hosts)` : ""}: the live and preview listeners answer 503 with Retry-After`);
    let restored = false;
    try {
        const sum = inStore(store, 'sha256sum "/backups/$1.dump" | cut -d" " -f1', [backup.name]);
        if (sum !== backup.sha256) throw new Error(`${backup.name}.dump has sha256 ${sum}, but ${backup.sha256} was recorded: the file changed; nothing was restored`);
        step("checksum matches");
        // The dump streams from the store into pg_restore: inside the stack's
        // Postgres container over its local socket (no password leaves it), or
        // for a managed Postgres in a one-off container that gets libpq's
        // environment by name (no address or password on a command line).
        const pgRestore = store.managed
            ? 'exec pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error -d "$PGDATABASE"'
            : `pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error -U ${APP_ROLE_IN_CONTAINER} -d "$POSTGRES_DB"`;
        const managed = store.managed ? managedEnv(store) : undefined;
        const into = managed ? `docker run -i --rm ${managed.args.join(" ")} --entrypoint sh "$4" -c '${pgRestore}'` : `docker exec -i "$4" sh -c '${pgRestore}'`;
        const r = spawnSync(
            "sh",
            ["-c", `docker run --rm --user 0:0 -v "$1:/backups" --entrypoint cat "$2" "/backups/$3.dump" | ${into}`, "sh", store.store, store.image, backup.name, store.postgres ?? store.image],
            { encoding: "utf8", env: managed?.env ?? process.env },
        );
        if (r.status !== 0) throw new Error(`pg_restore failed (exit ${r.status}); the transaction was rolled back, the database is as it was: ${(r.stderr || "").trim().split("\n").slice(-5).join(" | ")}`);
        restored = true;
        step(`restored database ${backup.database} in one transaction`);
        // What went live and which expand migrations ran are facts about the database as it was: a
        // later switch back takes its dump and runs its migration again (engine/history-rules.ts).
        for (const p of proxies) p.exec("rm", "-f", `${STATE_DIR}/${WENT_LIVE}`, `${STATE_DIR}/${EXPAND_MIGRATED}`);
        step("forgot which releases went live on the database before: the next switch to any of them takes its dump and runs its migration");
        const countRows = `SELECT string_agg(table_name || '=' || (xpath('/row/n/text()', query_to_xml('SELECT count(*) AS n FROM ' || quote_ident(table_name), false, true, '')))[1]::text, ', ' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`;
        const tables = managed
            ? execFileSync("docker", ["run", "--rm", ...managed.args, "--entrypoint", "psql", store.image, "-tAc", countRows], { encoding: "utf8", env: managed.env }).trim()
            : docker(["exec", store.postgres!, "sh", "-c", `psql -U ${APP_ROLE_IN_CONTAINER} -d "$POSTGRES_DB" -tAc "${countRows}"`]);
        step(`rows per table now: ${tables || "(no tables)"}`);
        for (const p of proxies) {
            const health = p.exec("curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", ...healthProbe.headers, ...p.probe(healthPath));
            if (health.stdout.trim() !== "200") throw new Error(`the live colour's ${healthPath}${p.on} answered ${health.stdout.trim() || "nothing"} after the restore; maintenance stays on until it is fixed`);
        }
        step(`the live colour's ${healthPath} answers 200${proxies.length > 1 ? ` on every host` : ""}`);
    } catch (err) {
        step(`FAILED: ${(err as Error).message}`);
        if (!restored && !wasOn) {
            maintenanceOff();
            step("maintenance off again: nothing was restored");
        }
        throw new Error("restore failed");
    }
    if (!wasOn) {
        maintenanceOff();
        step("maintenance off: the live listener serves traffic again");
    } else {
        step("maintenance stays on (it was on before the restore; the stack config decides)");
    }
    step("done");
}

/** health.path of the stack (its default when unset), validated as the program validates it. */
/** The health path and the headers the gate sends (Host, X-Forwarded-Proto), as curl arguments, from the stack file. */
export function stackHealthProbe(file: string): { path: string; headers: string[] } {
    const raw = fs.existsSync(file) ? readStackFile(file).raw : {};
    const shape = configSchema.innerType().shape;
    const parse = <T>(key: "health" | "proxy", schema: { safeParse: (v: unknown) => { success: boolean; data?: T } }): T => {
        const r = schema.safeParse(raw[`switchyard:${key}`] ? JSON.parse(raw[`switchyard:${key}`]) : {});
        if (!r.success) throw new Error(`switchyard:${key} in ${file} is not valid: run pulumi preview for what is wrong`);
        return r.data!;
    };
    const health = parse("health", shape.health);
    const proxy = parse("proxy", shape.proxy);
    const host = healthHost({ health, proxy });
    const proto = healthProto({ health, tls: raw["switchyard:tls"], acme: raw["switchyard:acme"] });
    return { path: health.path, headers: [...(host ? ["-H", `Host: ${host}`] : []), ...(proto === "https" ? ["-H", "X-Forwarded-Proto: https"] : [])] };
}

if (require.main === module) runCli("restore", main);
