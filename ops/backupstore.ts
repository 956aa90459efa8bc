// Where a stack's database dumps are and what each one is: the backups volume
// (or backups.hostDir from the stack's config) read through a one-off
// container of the stack's own Postgres image, as the backup step wrote it.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import { DEFAULTS } from "../lib/config";
import { postgresServer } from "../lib/dataservice";
import { readStackFile } from "../lib/stackfile";
import { followStack, secretConfig } from "./cli";

/** The record backup.sh writes next to each dump. */
export interface BackupRecord {
    name: string;
    stack: string;
    time: string;
    fromImage: string;
    toImage: string;
    database: string;
    sizeBytes: number;
    sha256: string;
    tables: number;
    dumpMs: number;
}

export interface BackupStore {
    /** What `docker run -v <store>:/backups` mounts. */
    store: string;
    /** The stack's Postgres container (none with a managed one, postgresUrl), and the image helper containers run. */
    postgres?: string;
    image: string;
    /** With a managed Postgres: how to reach it (secret, read from the stack's config) and the network with a route out. */
    managed?: { server: () => ReturnType<typeof postgresServer>; network: string };
    /** Dump names of this stack start with it. */
    prefix: string;
    stackLabel: string;
    /** The stack's Docker name prefix (PROJECT-STACK). */
    namePrefix: string;
    proxy: string;
}

export function docker(args: string[], input?: string): string {
    return execFileSync("docker", args, { encoding: "utf8", input, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"], maxBuffer: 64 << 20 }).trim();
}

export function openStore(stack: string, stackFile?: string): BackupStore {
    // With several hosts: the data host, where Postgres and the backups store are.
    const { names, file } = followStack(stack, stackFile, "data");
    const raw = fs.existsSync(file) ? readStackFile(file).raw : {};
    const hostDirOf = () => (raw["switchyard:backups"] ? (JSON.parse(raw["switchyard:backups"]) as { hostDir?: string }).hostDir : undefined);
    const common = { store: hostDirOf() ?? `${names.namePrefix}-backups`, prefix: names.stackLabel.replace(/[^A-Za-z0-9._-]/g, "_"), stackLabel: names.stackLabel, namePrefix: names.namePrefix, proxy: names.proxyContainer };
    if (raw["switchyard:postgresUrl"] !== undefined) {
        // A managed Postgres: the helpers run postgres.image (the program pulled it for the backup step).
        const image = (raw["switchyard:postgres"] ? (JSON.parse(raw["switchyard:postgres"]) as { image?: string }).image : undefined) ?? DEFAULTS.postgresImage;
        return { ...common, image, managed: { server: () => postgresServer(secretConfig(stack, file, "switchyard:postgresUrl")), network: `${names.namePrefix}-frontend` } };
    }
    const postgres = `${names.namePrefix}-postgres`;
    const running = spawnSync("docker", ["inspect", "-f", "{{.State.Running}} {{.Image}}", postgres], { encoding: "utf8" });
    if (running.status !== 0) throw new Error(`stack ${stack} has no Postgres container (${postgres}); run pulumi up first`);
    const [isRunning, image] = running.stdout.trim().split(" ");
    if (isRunning !== "true") throw new Error(`${postgres} is not running; start it (pulumi up) before working with backups`);
    return { ...common, postgres, image };
}

/** libpq's environment for a managed Postgres: handed to `docker run -e NAME` by name, so no value is on a command line. */
export function managedEnv(s: BackupStore): { args: string[]; env: NodeJS.ProcessEnv } {
    const server = s.managed!.server();
    const env: NodeJS.ProcessEnv = { ...process.env, PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.user, PGPASSWORD: server.password, PGDATABASE: server.database };
    if (server.sslmode) env.PGSSLMODE = server.sslmode;
    const names = ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", ...(server.sslmode ? ["PGSSLMODE"] : [])];
    return { args: ["--network", s.managed!.network, ...names.flatMap((n) => ["-e", n])], env };
}

/** Runs sh -c SCRIPT in a one-off container with the store at /backups. */
export function inStore(s: BackupStore, script: string, args: string[] = []): string {
    // As root in that container only: the store is root's alone (0700, dumps 0600).
    return docker(["run", "--rm", "--user", "0:0", "--label", `switchyard.stack=${s.stackLabel}`, "--label", "switchyard.role=job", "-v", `${s.store}:/backups`, "--entrypoint", "sh", s.image, "-c", script, "sh", ...args]);
}

/** The stack's backups, oldest first. */
export function listBackups(s: BackupStore): BackupRecord[] {
    const out = inStore(s, 'cd /backups 2>/dev/null || exit 0; for f in "$1"--*.json; do [ -f "$f" ] && [ -f "${f%.json}.dump" ] && { cat "$f"; echo; }; done; exit 0', [s.prefix]);
    return out
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as BackupRecord)
        // The name prefix of stack "local" also starts "local--2"'s dumps: the record says whose it is.
        .filter((r) => r.stack === s.stackLabel)
        .sort((a, b) => a.name.localeCompare(b.name));
}

export function humanSize(bytes: number): string {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
