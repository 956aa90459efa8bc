// The release steps that protect the data — backup, restore, migrations
// (expand and contract), maintenance mode and failure notifications — against
// a real Docker engine, Postgres, nginx and the sample app (versions 1 and 2),
// with constant load where the claim is about traffic.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { migrationFingerprint } from "../../lib/fingerprint";
import { EXPAND_MIGRATED, RESTORE_LOCK, STATE_DIR, WENT_LIVE } from "../../lib/routemarker";
import { docker, dockerAvailable, IMAGES, REPO, runStep, runStepAsync, TestStack } from "./fixture";
import { get, startLoad, LoadReport } from "./load";
import { WebhookReceiver } from "./webhook";

const SCHEMA3_IMAGE = "switchyard/app:test-schema3";

describe("data release steps: backup, restore, migrations, maintenance, notifications (real Docker engine)", function () {
    this.timeout(300000);
    const stack = new TestStack("data");
    const hook = new WebhookReceiver();
    const store = `${stack.prefix}-backups`;
    let blue: string[] = [];
    let green: string[] = [];

    const psql = (sql: string) => docker("exec", `${stack.prefix}-postgres`, "psql", "-U", "app", "-d", "app", "-tAc", sql);
    /** The release key's TARGET_CONTAINER_IDS: the colour's running containers, as the program passes them. */
    const targetIds = (colour: string) => docker("ps", "-q", "--no-trunc", "--filter", `label=switchyard.stack=${stack.stackLabel}`, "--filter", `label=switchyard.colour=${colour}`).split("\n").filter(Boolean).join(",");
    const backupEnv = (extra: Record<string, string> = {}) =>
        stack.env({
            SWITCHYARD_COLOR: "green",
            TARGET_CONTAINER_IDS: targetIds(extra.SWITCHYARD_COLOR ?? "green"),
            POSTGRES_CONTAINER: `${stack.prefix}-postgres`,
            BACKEND_NETWORK: stack.backend,
            BACKUP_STORE: store,
            BACKUPS_KEEP: "3",
            PGUSER: "app",
            PGDATABASE: "app",
            PGPASSWORD: stack.pgPassword,
            ...extra,
        });
    const migrateEnv = (phase: string, image: string, extra: Record<string, string> = {}) =>
        stack.env({
            SWITCHYARD_COLOR: "green",
            PHASE: phase,
            MIGRATION_COMMAND: JSON.stringify(["node", "migrate.js", phase]),
            MIGRATION_IMAGE: image,
            BACKEND_NETWORK: stack.backend,
            MIGRATION_TIMEOUT: "60",
            DATABASE_URL: stack.databaseUrl,
            ...extra,
        });
    const ops = (cmd: "backups" | "restore", ...args: string[]) => opsWith({}, cmd, ...args);
    const opsWith = (env: Record<string, string>, cmd: "backups" | "restore", ...args: string[]) => {
        const t = Date.now();
        const r = spawnSync(process.execPath, ["-r", "ts-node/register", `ops/${cmd}.ts`, "--stack", stack.stack, ...args], {
            cwd: REPO,
            encoding: "utf8",
            env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true", ...env },
        });
        return { status: r.status, out: `${r.stdout}${r.stderr}`, seconds: (Date.now() - t) / 1000 };
    };
    const listBackups = () => JSON.parse(ops("backups", "--json").out) as { name: string; sizeBytes: number; sha256: string; fromImage: string; toImage: string }[];
    const visits = () => psql("SELECT coalesce(string_agg(id || ':' || coalesce(note, ''), ',' ORDER BY id), '') FROM visits");
    async function post(n: number, note: string): Promise<void> {
        for (let i = 0; i < n; i++) assert.strictEqual((await get(stack.livePort, "/visits", { method: "POST", body: `${note} ${i}` })).status, 201);
    }
    const verifyEnv = (colour: string, standby = "keep") => stack.env({ SWITCHYARD_COLOR: colour, STANDBY: standby, VERIFY_REQUESTS: "3", HEALTH_PATH: "/health" });
    /** A file of the proxy's state, "" when absent. */
    const stateFile = (name: string) => spawnSync("docker", ["exec", stack.proxy, "cat", `${STATE_DIR}/${name}`], { encoding: "utf8" }).stdout.trim();
    const imageId = (ref: string) => docker("image", "inspect", "-f", "{{.Id}}", ref);
    const socketErrors = (rep: LoadReport) => rep.samples.filter((s) => s.error !== undefined);
    const notifications = (since: number) => hook.since(since).map((m) => m.body);

    before(async function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        const build = spawnSync("docker", ["build", "-q", "-t", SCHEMA3_IMAGE, "-"], { input: `FROM ${IMAGES.app2}\nENV APP_SCHEMA=3\n`, encoding: "utf8" });
        assert.strictEqual(build.status, 0, build.stderr);
        await hook.start();
        stack.up(5);
        docker("volume", "create", "--label", `switchyard.stack=${stack.stackLabel}`, store);
        blue = stack.startSlot("blue", 2);
        const gate = runStep("gate", stack.gateEnv("blue", blue));
        assert.strictEqual(gate.status, 0, gate.stderr);
        const cfg = runStep("notify-config", stack.env({ NOTIFY_WEBHOOK_URL: hook.url }));
        assert.strictEqual(cfg.status, 0, cfg.stderr);
        assert.ok(!`${cfg.stdout}${cfg.stderr}`.includes("secret-token"), "the webhook URL is never printed");
    });
    after(async () => {
        stack.down();
        await hook.stop();
    });

    // Steps that notify run without blocking this process: the receiver lives in it.
    it("a failed gate posts exactly one Slack-compatible message; a passing gate posts none; the URL never shows", async () => {
        const t = Date.now();
        const broken = stack.startSlot("green", 1, { env: ["SWITCHYARD_FORCE_UNHEALTHY=1"] });
        const r = await runStepAsync("gate", stack.gateEnv("green", broken, 6));
        assert.strictEqual(r.status, 1);
        assert.match(r.stdout, /notified the webhook: failure of gate/);
        const got = notifications(t);
        assert.strictEqual(got.length, 1, JSON.stringify(got));
        const m = got[0];
        assert.match(m.text, /gate failed for green \(switchyard\/app:1\.0\.0 -> switchyard\/app:1\.0\.0\); live traffic stays where it was/);
        assert.deepStrictEqual([m.kind, m.step, m.colour, m.stack], ["failure", "gate", "green", stack.stackLabel]);
        assert.match(m.error, /did not pass its health gate/);
        assert.ok(!Number.isNaN(Date.parse(m.time)));
        assert.ok(!`${r.stdout}${r.stderr}`.includes("secret-token"));
        docker("rm", "-f", ...broken);

        const t2 = Date.now();
        const ok = await runStepAsync("gate", stack.gateEnv("blue", blue));
        assert.strictEqual(ok.status, 0, ok.stderr);
        assert.strictEqual(notifications(t2).length, 0, "no message on success");
    });

    it("a webhook that fails is tried twice, logged, and never changes the step's result", async () => {
        hook.failing = true;
        try {
            const broken = stack.startSlot("green", 1, { env: ["SWITCHYARD_FORCE_UNHEALTHY=1"] });
            const t = Date.now();
            const r = await runStepAsync("gate", stack.gateEnv("green", broken, 5));
            const seconds = (Date.now() - t) / 1000;
            assert.strictEqual(r.status, 1, "the gate's own failure stands");
            assert.match(r.stdout, /notification attempt 1 of 2 failed: webhook answered HTTP 500; retrying once/);
            assert.match(r.stdout, /notification attempt 2 of 2 failed: .*the release is not affected/);
            assert.ok(seconds < 5 + 10 + 10, `gate with a failing webhook took ${seconds}s`);
            assert.ok(!`${r.stdout}${r.stderr}`.includes("secret-token"));
            docker("rm", "-f", ...broken);
        } finally {
            hook.failing = false;
        }
    });

    it("backup: a checked dump with its record; npm run restore brings back exactly the rows it held", async () => {
        green = stack.startSlot("green", 2, { image: IMAGES.app2 });
        stack.passGate("green", green);
        await post(20, "before backup");
        const rowsAtBackup = visits();
        const t = Date.now();
        const r = runStep("backup", backupEnv());
        const seconds = (Date.now() - t) / 1000;
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /wrote switchyard_sytest-data--\d{8}T\d{9}Z--switchyard_app_1\.0\.0--to--switchyard_app_2\.0\.0\.dump: \d+ bytes, 1 table\(s\) with data, sha256 [0-9a-f]{64}/);
        const list = listBackups();
        assert.strictEqual(list.length, 1);
        assert.deepStrictEqual([list[0].fromImage, list[0].toImage], [IMAGES.app, IMAGES.app2]);
        assert.ok(list[0].sizeBytes > 0 && /^[0-9a-f]{64}$/.test(list[0].sha256));
        console.log(`      backup of ${rowsAtBackup.split(",").length} rows: ${list[0].sizeBytes} bytes in ${seconds.toFixed(1)} s (step wall time)`);
        assert.ok(!`${r.stdout}${r.stderr}`.includes(stack.pgPassword), "the password is never printed");

        // Later changes the restore must undo: new rows, and rows deleted.
        await post(5, "after backup");
        psql("DELETE FROM visits WHERE id IN (SELECT id FROM visits ORDER BY id LIMIT 3)");
        assert.notStrictEqual(visits(), rowsAtBackup);

        const dry = ops("restore", "--backup", list[0].name);
        assert.strictEqual(dry.status, 0, dry.out);
        assert.match(dry.out, /would:\n  1\. take the stack's restore lock[^\n]*\n  2\. turn maintenance mode on[\s\S]*Nothing was changed\. Run again with --yes/);
        assert.notStrictEqual(visits(), rowsAtBackup, "without --yes nothing is restored");

        // What went live is a fact about the database as it is: the restore takes it back to before.
        assert.strictEqual(runStep("verify", verifyEnv("blue")).status, 0);
        assert.strictEqual(stateFile(WENT_LIVE), `${imageId(IMAGES.app)} ${IMAGES.app}`, "blue's release is recorded as gone live");
        const restore = ops("restore", "--backup", list[0].name, "--yes");
        assert.strictEqual(restore.status, 0, restore.out);
        assert.strictEqual(stateFile(WENT_LIVE), "", "the restore forgot what went live after the dump");
        assert.match(restore.out, /forgot which releases went live on the database before/);
        for (const line of ["maintenance on: the live and preview listeners answer 503", "checksum matches", "restored database app in one transaction", "rows per table now:", "/health answers 200", "maintenance off: the live listener serves traffic again"]) {
            assert.ok(restore.out.includes(line), `restore output has "${line}":\n${restore.out}`);
        }
        assert.match(restore.out, /^\[restore +\d+\.\ds\] /m, "one line per step with elapsed seconds");
        console.log(`      restore: ${restore.seconds.toFixed(1)} s for the whole command`);
        assert.strictEqual(visits(), rowsAtBackup, "the rows are exactly those of the backup");
        assert.strictEqual((await get(stack.livePort, "/version")).status, 200, "maintenance is off again");
        const missing = ops("restore", "--backup", "no-such-backup", "--yes");
        assert.strictEqual(missing.status, 1);
        assert.match(missing.out, /no backup named "no-such-backup" for stack sytest-data \(have: switchyard_sytest-data--/);
    });

    it("one restore at a time, none under an update: a restore's lock refuses a second restore, the dump, the migration and the re-point; an update's lock refuses a restore; --unlock clears a dead one", async () => {
        const name = listBackups()[0].name;
        const rows = visits();
        const lock = `${STATE_DIR}/${RESTORE_LOCK}`;
        docker("exec", stack.proxy, "sh", "-c", `printf '%s' 'npm run restore by ops@elsewhere (pid 4242) since 2026-12-03T10:00:00.000Z' > ${lock}`);
        try {
            const second = ops("restore", "--backup", name, "--yes");
            assert.strictEqual(second.status, 1, second.out);
            assert.match(second.out, /another restore of stack sytest-data is running \(npm run restore by ops@elsewhere \(pid 4242\) since 2026-12-03T10:00:00\.000Z\); nothing was changed\. If that restore died, .*npm run restore -- --stack sytest-data --unlock/);
            assert.strictEqual(docker("exec", stack.proxy, "cat", lock), "npm run restore by ops@elsewhere (pid 4242) since 2026-12-03T10:00:00.000Z", "the other restore's lock is left as it was");
            assert.strictEqual((await get(stack.livePort, "/version")).status, 200, "no maintenance was turned on");
            const under = /a restore of this stack is running \(npm run restore by ops@elsewhere \(pid 4242\) since [^)]+\); nothing was changed/;
            const dump = runStep("backup", backupEnv());
            assert.strictEqual(dump.status, 1);
            assert.match(dump.stderr, under);
            const expand = runStep("migrate", migrateEnv("expand", IMAGES.app2));
            assert.strictEqual(expand.status, 1);
            assert.match(expand.stderr, under);
            const route = docker("exec", stack.proxy, "sh", "-c", `test -f ${STATE_DIR}/live-green && echo green || echo blue`);
            const repoint = runStep("repoint", stack.env({ SWITCHYARD_COLOR: route === "green" ? "blue" : "green", STANDBY: "keep" }));
            assert.strictEqual(repoint.status, 1);
            assert.match(repoint.stderr, under);
            assert.strictEqual(docker("exec", stack.proxy, "sh", "-c", `test -f ${STATE_DIR}/live-green && echo green || echo blue`), route, "the route did not move");
            const unlock = ops("restore", "--unlock");
            assert.strictEqual(unlock.status, 0, unlock.out);
            assert.match(unlock.out, /removed the restore lock \(npm run restore by ops@elsewhere/);
            assert.strictEqual(spawnSync("docker", ["exec", stack.proxy, "test", "-e", lock]).status, 1, "the lock is gone");
        } finally {
            docker("exec", stack.proxy, "rm", "-f", lock);
        }
        // An update holds the stack's lock (a local file backend keeps it as a file): the restore does not start.
        const backend = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-backend-"));
        try {
            const dir = path.join(backend, ".pulumi", "locks", "organization", "switchyard", stack.stack);
            fs.mkdirSync(dir, { recursive: true });
            fs.writeFileSync(path.join(dir, "a1.json"), JSON.stringify({ pid: 777, username: "ci", hostname: "deployer", timestamp: "2026-12-03T10:01:00Z" }));
            const r = opsWith({ PULUMI_BACKEND_URL: `file://${backend}` }, "restore", "--backup", name, "--yes");
            assert.strictEqual(r.status, 1, r.out);
            assert.match(r.out, /an update of stack sytest-data holds its lock \(pid 777 on deployer since 2026-12-03T10:01:00Z\); nothing was changed/);
            assert.strictEqual(spawnSync("docker", ["exec", stack.proxy, "test", "-e", lock]).status, 1, "the restore let its own lock go");
        } finally {
            fs.rmSync(backend, { recursive: true, force: true });
        }
        assert.strictEqual(visits(), rows, "no refused restore changed a row");
        assert.strictEqual((await get(stack.livePort, "/version")).status, 200, "and no maintenance is left on");
    });

    it("retention keeps exactly backups.keep newest dumps, never the one just taken", () => {
        const taken: string[] = [];
        for (let i = 0; i < 4; i++) {
            const r = runStep("backup", backupEnv({ BACKUPS_KEEP: "3" }));
            assert.strictEqual(r.status, 0, r.stderr);
            taken.push(/wrote (\S+)\.dump/.exec(r.stdout)![1]);
        }
        const names = listBackups().map((b) => b.name);
        assert.deepStrictEqual(names, taken.slice(-3), "the three newest stay");
        const files = docker("run", "--rm", "--user", "0:0", "-v", `${store}:/b`, "--entrypoint", "ls", IMAGES.postgres, "-A", "/b").split("\n").sort();
        assert.strictEqual(files.length, 6, `a .dump and a .json for each of the three, nothing partial: ${files.join(" ")}`);
        const one = runStep("backup", backupEnv({ BACKUPS_KEEP: "1" }));
        assert.strictEqual(one.status, 0, one.stderr);
        assert.deepStrictEqual(listBackups().map((b) => b.name), [/wrote (\S+)\.dump/.exec(one.stdout)![1]]);
    });

    it("backups.hostDir: the dump and its record land in a host directory instead of the volume", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-backups-"));
        try {
            const r = runStep("backup", backupEnv({ BACKUP_STORE: dir, BACKUPS_KEEP: "2" }));
            assert.strictEqual(r.status, 0, r.stderr);
            const files = fs.readdirSync(dir).sort();
            assert.strictEqual(files.length, 2, files.join(" "));
            assert.match(files[0], /^switchyard_sytest-data--\d{8}T\d{9}Z--switchyard_app_1\.0\.0--to--switchyard_app_2\.0\.0\.dump$/);
            const record = JSON.parse(fs.readFileSync(path.join(dir, files[1]), "utf8"));
            assert.strictEqual(record.sizeBytes, fs.statSync(path.join(dir, files[0])).size);
            // Every row is in a dump: root's alone (issue 16, finding 6).
            assert.strictEqual((fs.statSync(dir).mode & 0o777).toString(8), "700", "the store is 0700");
            for (const f of files) assert.strictEqual((fs.statSync(path.join(dir, f)).mode & 0o777).toString(8), "600", `${f} is 0600`);

            // A stack named "<this>--2" sharing the directory: its dumps start
            // with this stack's prefix too, and retention must not count them.
            const neighbour = files[0].replace(/--\d{8}T\d{9}Z--/, "--2--20200101T000000000Z--");
            fs.copyFileSync(path.join(dir, files[0]), path.join(dir, neighbour));
            fs.writeFileSync(path.join(dir, neighbour.replace(/\.dump$/, ".json")), JSON.stringify({ ...record, name: neighbour.replace(/\.dump$/, ""), stack: `${record.stack}--2` }));
            const again = runStep("backup", backupEnv({ BACKUP_STORE: dir, BACKUPS_KEEP: "1" }));
            assert.strictEqual(again.status, 0, again.stderr);
            const after = fs.readdirSync(dir);
            assert.ok(after.includes(neighbour), `the other stack's dump stays: ${after.join(" ")}`);
            assert.ok(!after.includes(files[0]), "this stack's older dump went (keep 1)");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("two stacks whose dump prefixes coincide (\"sy_a/b\" and \"sy/a_b\" both dump as sy_a_b--…) share a directory: each one's retention removes only its own dumps", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-backups-"));
        const take = (label: string) => {
            const r = runStep("backup", backupEnv({ BACKUP_STORE: dir, BACKUPS_KEEP: "1", SWITCHYARD_STACK: label }));
            assert.strictEqual(r.status, 0, r.stderr);
            return /wrote (\S+)\.dump/.exec(r.stdout)![1];
        };
        try {
            const first = take("sy_a/b");
            assert.match(first, /^sy_a_b--/);
            const second = take("sy/a_b");
            assert.match(second, /^sy_a_b--/, "the two stacks' dumps share their prefix");
            const third = take("sy/a_b");
            const after = fs.readdirSync(dir);
            assert.ok(after.includes(`${first}.dump`) && after.includes(`${first}.json`), `stack sy_a/b's dump stays: ${after.join(" ")}`);
            assert.ok(!after.includes(`${second}.dump`), "sy/a_b's own older dump went (keep 1)");
            assert.ok(after.includes(`${third}.dump`));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a database whose name has a quote and a backslash (a managed one's, percent-encoded in its URL): the record is valid JSON naming it", () => {
        const weird = 'shop"\\","name":"evil';
        psql(`CREATE DATABASE "${weird.replace(/"/g, '""')}"`);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-backups-"));
        try {
            const r = runStep("backup", backupEnv({ BACKUP_STORE: dir, BACKUPS_KEEP: "2", PGDATABASE: weird }));
            assert.strictEqual(r.status, 0, r.stderr);
            const record = fs.readdirSync(dir).find((f) => f.endsWith(".json"))!;
            const parsed = JSON.parse(fs.readFileSync(path.join(dir, record), "utf8"));
            assert.strictEqual(parsed.database, weird);
            assert.strictEqual(parsed.name, record.replace(/\.json$/, ""), "the name is the record's own, not one the database name wrote");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
            psql(`DROP DATABASE "${weird.replace(/"/g, '""')}"`);
        }
    });

    it("a host directory everyone may write to (mode 1777, like /tmp) is refused and keeps its mode; nothing is switched", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-shared-"));
        try {
            fs.chmodSync(dir, 0o1777);
            const r = runStep("backup", backupEnv({ BACKUP_STORE: dir, BACKUPS_KEEP: "2" }));
            assert.strictEqual(r.status, 1, r.stdout);
            assert.match(r.stderr, /backup failed: the backups directory is writable by everyone \(mode 1777\): give backups\.hostDir a directory of its own — nothing was switched/);
            assert.strictEqual((fs.statSync(dir).mode & 0o7777).toString(8), "1777", "the directory keeps its mode and sticky bit");
            assert.deepStrictEqual(fs.readdirSync(dir), [], "no dump written");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a failed dump fails the step with its error and leaves no file; the webhook hears of it once", async () => {
        const before = listBackups().map((b) => b.name);
        const t = Date.now();
        const r = await runStepAsync("backup", backupEnv({ PGPASSWORD: "not-the-password-at-all" }));
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /backup failed: .*password authentication failed.*nothing was switched; live traffic stays where it was/);
        assert.ok(!r.stderr.includes("not-the-password-at-all"));
        assert.deepStrictEqual(listBackups().map((b) => b.name), before);
        const files = docker("run", "--rm", "--user", "0:0", "-v", `${store}:/b`, "--entrypoint", "ls", IMAGES.postgres, "-A", "/b").split("\n");
        assert.ok(!files.some((f) => f.startsWith(".")), `no partial file: ${files.join(" ")}`);
        const got = notifications(t);
        assert.deepStrictEqual(got.map((m) => m.step), ["backup"]);
    });

    it("expand migration from the new image under load: old code keeps serving, rows intact, safe to run twice", async () => {
        const rowsBefore = visits();
        const load = startLoad({ port: stack.livePort, rate: 100, durationMs: 60000 });
        await new Promise((r) => setTimeout(r, 1500));
        const r = await runStepAsync("migrate", migrateEnv("expand", IMAGES.app2));
        await new Promise((r) => setTimeout(r, 1500));
        const rep = await load.stop();
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /\[migrate expand\] \| .*applied 002_visits_source/);
        assert.deepStrictEqual(rep.errors, {}, "old code kept serving through the expand");
        console.log(`      expand under load: ${rep.requests} requests, failed ${rep.failed}, p99 ${rep.p99} ms`);
        assert.strictEqual(psql("SELECT column_default FROM information_schema.columns WHERE table_name = 'visits' AND column_name = 'source'"), "'legacy'::text");
        assert.ok(visits().startsWith(rowsBefore), "rows written before are intact");
        assert.strictEqual(psql("SELECT count(*) FROM visits WHERE source IS DISTINCT FROM 'legacy'"), "0", "old code's rows get the default");
        // The same image and command again (a rollback to it): the step knows it finished on this database.
        const again = runStep("migrate", migrateEnv("expand", IMAGES.app2));
        assert.strictEqual(again.status, 0, again.stderr);
        assert.match(again.stdout, /expand migration skipped: it finished on this database for sha256:[0-9a-f]{12} with this command before \(a rollback is not a release\)/);
        assert.doesNotMatch(again.stdout, /running the expand migration/);
        assert.strictEqual(stateFile(EXPAND_MIGRATED), `${imageId(IMAGES.app2)} ${migrationFingerprint(["node", "migrate.js", "expand"], IMAGES.app2, 60)}`);
        // A changed migration (here its timeout) runs again, and the app's migrations are safe to run twice.
        const changed = runStep("migrate", migrateEnv("expand", IMAGES.app2, { MIGRATION_TIMEOUT: "61" }));
        assert.strictEqual(changed.status, 0, changed.stderr);
        assert.match(changed.stdout, /0 expand migration\(s\) to apply/);
        assert.strictEqual(docker("ps", "-aq", "--filter", `name=${stack.prefix}-migrate-`), "", "no migration container left behind");
    });

    it("a failing migration under load: the step fails with its output's tail, nothing changed, traffic untouched, one message", async () => {
        const rowsBefore = psql("SELECT count(*) FROM visits");
        const columns = psql("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'visits'");
        const t = Date.now();
        const load = startLoad({ port: stack.livePort, rate: 100, durationMs: 60000 });
        await new Promise((r) => setTimeout(r, 1500));
        const r = await runStepAsync("migrate", migrateEnv("expand", SCHEMA3_IMAGE));
        await new Promise((r) => setTimeout(r, 1500));
        const rep = await load.stop();
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /the expand migration \(node migrate\.js expand\) exited 1; nothing was switched: live traffic stays on blue, and the idle slot green keeps running for inspection/);
        assert.match(r.stderr, /\| migration failed: 003_visits_checksum_unsafe failed and was rolled back: column "checksum" of relation "visits" contains null values/);
        assert.deepStrictEqual(rep.errors, {});
        console.log(`      failing migration under load: ${rep.requests} requests, failed ${rep.failed}`);
        assert.strictEqual(psql("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'visits'"), columns, "schema unchanged");
        assert.ok(Number(psql("SELECT count(*) FROM visits")) >= Number(rowsBefore), "no row lost");
        assert.strictEqual(stack.running("green").length, 2, "the idle slot stays for inspection");
        assert.deepStrictEqual(notifications(t).map((m) => m.step), ["migrate expand"]);
    });

    it("maintenance on/off under load: 503 with Retry-After (HTML or JSON) and no socket error; health unaffected, the preview closed too (no colour writes); verify passes", async () => {
        const load = startLoad({ port: stack.livePort, rate: 100, durationMs: 60000 });
        const t0 = Date.now();
        await new Promise((r) => setTimeout(r, 2000));
        // In flight when maintenance turns on: it must finish as it started.
        const inFlight = get(stack.livePort, "/slow?ms=3000", { timeoutMs: 20000 });
        await new Promise((r) => setTimeout(r, 300));
        const on = await runStepAsync("maintenance", stack.env({ MAINTENANCE: "on" }));
        const onAt = Date.now() - t0;
        assert.strictEqual(on.status, 0, on.stderr);
        const html = await get(stack.livePort, "/visits");
        const json = await get(stack.livePort, "/version", { headers: { Accept: "application/json" } });
        const health = await get(stack.livePort, "/healthz");
        const preview = await get(stack.previewPort, "/version");
        const verify = runStep("verify", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep", VERIFY_REQUESTS: "3", HEALTH_PATH: "/health" }));
        await new Promise((r) => setTimeout(r, 2000));
        const offStart = Date.now() - t0;
        const off = await runStepAsync("maintenance", stack.env({ MAINTENANCE: "off" }));
        const offAt = Date.now() - t0;
        assert.strictEqual(off.status, 0, off.stderr);
        await new Promise((r) => setTimeout(r, 2000));
        const rep = await load.stop();

        const slow = await inFlight;
        assert.strictEqual(slow.status, 200, "a request in flight when maintenance turned on finished normally");
        assert.strictEqual(html.status, 503);
        assert.strictEqual(html.headers["retry-after"], "120");
        assert.match(String(html.headers["content-type"]), /text\/html/);
        assert.match(html.body, /Down for maintenance/);
        assert.strictEqual(json.status, 503);
        assert.strictEqual(JSON.parse(json.body).error, "maintenance");
        assert.strictEqual(health.status, 200, "the proxy's own health stays up");
        // Maintenance means no writes from outside: the staged colour is closed too (issue 16, finding 13).
        assert.strictEqual(preview.status, 503, "the preview listener is closed during maintenance");
        assert.strictEqual(preview.headers["x-switchyard-maintenance"], "on");
        assert.strictEqual(preview.headers["x-switchyard-color"], undefined, "no colour answered");
        assert.strictEqual(verify.status, 0, `verify from inside the proxy passes during maintenance: ${verify.stderr}`);

        assert.deepStrictEqual(socketErrors(rep), [], "no socket errors");
        const unavailable = rep.samples.filter((s) => s.status === 503);
        const other = rep.samples.filter((s) => s.status !== 503 && (s.status < 200 || s.status > 299));
        assert.deepStrictEqual(other, [], "every answer is 2xx or the maintenance 503");
        assert.ok(unavailable.length > 100, `503s while on: ${unavailable.length}`);
        // Requests sent well before "on" or after "off" were served.
        assert.ok(unavailable.every((s) => s.at >= onAt - 1500 && s.at <= offAt + 200), "503 only while maintenance was on");
        const servedAfter = rep.samples.filter((s) => s.at > offAt + 200);
        assert.ok(servedAfter.length > 100 && servedAfter.every((s) => s.status >= 200 && s.status <= 299), "all served after off");
        console.log(`      maintenance toggles under load: ${rep.requests} requests, ${unavailable.length} answered 503 while on (${((offStart - onAt) / 1000).toFixed(1)} s), ${socketErrors(rep).length} socket errors`);
    });

    it("a switch back to the image live before is one rollback message; undoing it is not another", async () => {
        const env = (colour: string) => stack.env({ SWITCHYARD_COLOR: colour, STANDBY: "keep" });
        const t = Date.now();
        assert.strictEqual((await runStepAsync("repoint", env("green"))).status, 0);
        assert.deepStrictEqual(notifications(t), [], "a release is not a rollback");
        const back = await runStepAsync("repoint", env("blue"));
        assert.strictEqual(back.status, 0, back.stderr);
        assert.match(back.stdout, /rollback: back to switchyard\/app:1\.0\.0 on blue \(from switchyard\/app:2\.0\.0\)/);
        const got = notifications(t);
        assert.strictEqual(got.length, 1, JSON.stringify(got));
        assert.deepStrictEqual([got[0].kind, got[0].step, got[0].colour, got[0].fromImage, got[0].toImage], ["rollback", "repoint", "blue", IMAGES.app2, IMAGES.app]);
        assert.match(got[0].text, /rollback to blue \(switchyard\/app:1\.0\.0, was switchyard\/app:2\.0\.0\)/);
        const t2 = Date.now();
        assert.strictEqual((await runStepAsync("repoint", env("green"))).status, 0);
        assert.strictEqual((await runStepAsync("repoint", env("blue"))).status, 0);
        assert.deepStrictEqual(notifications(t2).map((m) => m.kind), ["rollback"], "green again is a roll forward; blue again a rollback");
    });

    it("verify's auto-undo (the new colour stops answering) puts traffic back and is reported once", async () => {
        assert.strictEqual((await runStepAsync("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "keep" }))).status, 0);
        const t = Date.now();
        for (const c of green) docker("pause", c);
        try {
            const r = await runStepAsync("verify", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "keep", VERIFY_REQUESTS: "3", HEALTH_PATH: "/health" }));
            assert.strictEqual(r.status, 1);
            assert.match(r.stdout, /restored the live listener to blue/);
            assert.match(r.stderr, /verify failed: .*live traffic is back on blue/);
        } finally {
            for (const c of green) docker("unpause", c);
        }
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-color"], "blue");
        const got = hook.since(t).map((m) => m.body);
        assert.deepStrictEqual(got.map((m) => `${m.kind} ${m.step} ${m.colour}`), ["failure verify green"]);
        assert.match(got[0].error, /live traffic is back on blue/);
    });

    it("a rollback is not a release: no dump and no expand for an image that went live here, with its migration; a new image or a changed migration gets both", async () => {
        const before = listBackups().length;
        const dumps = (r: { stdout: string }) => (/wrote \S+\.dump/.test(r.stdout) ? 1 : 0);
        // Green (2.0.0) goes live and passes verify, then traffic goes back to blue (1.0.0).
        for (const colour of ["green", "blue"]) {
            assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: colour, STANDBY: "keep" })).status, 0);
            const v = runStep("verify", verifyEnv(colour));
            assert.strictEqual(v.status, 0, v.stderr);
        }
        assert.deepStrictEqual(stateFile(WENT_LIVE).split("\n"), [`${imageId(IMAGES.app2)} ${IMAGES.app2}`, `${imageId(IMAGES.app)} ${IMAGES.app}`], "both went live, the newest last");
        const expandFp = migrationFingerprint(["node", "migrate.js", "expand"], IMAGES.app2, 60);

        const noMigration = runStep("backup", backupEnv());
        assert.strictEqual(noMigration.status, 0, noMigration.stderr);
        assert.match(noMigration.stdout, /no dump: switchyard\/app:2\.0\.0 \(sha256:[0-9a-f]{12}\) went live on this database before and no migration runs \(a rollback is not a release\)/);
        const withItsMigration = runStep("backup", backupEnv({ MIGRATION_FINGERPRINT: expandFp }));
        assert.match(withItsMigration.stdout, /no dump: .* and its expand migration finished here then/);
        assert.strictEqual(listBackups().length, before, "no dump was taken for the rollback");

        // On a data host that is not the first host the key's containers are elsewhere: the release is unknown, so the dump is taken.
        const elsewhere = runStep("backup", backupEnv({ TARGET_CONTAINER_IDS: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }));
        assert.strictEqual(dumps(elsewhere), 1, `the target's containers not on this engine: a dump: ${elsewhere.stdout}`);
        const changedMigration = runStep("backup", backupEnv({ MIGRATION_FINGERPRINT: "0123456789abcdef" }));
        assert.strictEqual(changedMigration.status, 0, changedMigration.stderr);
        assert.strictEqual(dumps(changedMigration), 1, `a migration that would run gets its dump first: ${changedMigration.stdout}`);
        // A colour whose image never went live here is a release: its dump is taken.
        docker("rm", "-f", ...green);
        green = stack.startSlot("green", 1, { image: SCHEMA3_IMAGE });
        try {
            const release = runStep("backup", backupEnv());
            assert.strictEqual(dumps(release), 1, `a new image gets its dump: ${release.stdout}`);
        } finally {
            green = stack.startSlot("green", 2, { image: IMAGES.app2 });
            stack.passGate("green", green);
        }
    });

    it("after the switch and retire, the contract runs; while old code runs it is deferred; the new colour writes the new column", async () => {
        const columnsBefore = psql("SELECT is_nullable || ',' || coalesce(column_default, 'none') FROM information_schema.columns WHERE table_name = 'visits' AND column_name = 'source'");
        const deferred = runStep("migrate", migrateEnv("contract", IMAGES.app2));
        assert.strictEqual(deferred.status, 0, deferred.stderr);
        assert.match(deferred.stdout, /contract deferred: blue still runs 2 container\(s\) .*it runs with the next release that retires blue/);
        assert.doesNotMatch(deferred.stdout, /running the contract migration/, "nothing ran under old code");
        assert.strictEqual(psql("SELECT is_nullable || ',' || coalesce(column_default, 'none') FROM information_schema.columns WHERE table_name = 'visits' AND column_name = 'source'"), columnsBefore);
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire" })).status, 0);
        assert.strictEqual(runStep("verify", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire", VERIFY_REQUESTS: "3", HEALTH_PATH: "/health" })).status, 0);
        const written = await get(stack.livePort, "/visits", { method: "POST", body: "from version 2" });
        assert.strictEqual(written.status, 201);
        assert.strictEqual(psql(`SELECT source FROM visits WHERE id = ${JSON.parse(written.body).id}`), IMAGES.app2, "the new colour writes visits.source");
        const retire = runStep("retire", stack.env({ RETIRE_COLOR: "blue", DRAIN_SECONDS: "2", APP_PORT: "3000", STOP_GRACE_SECONDS: "5" }));
        assert.strictEqual(retire.status, 0, retire.stderr);
        const contract = runStep("migrate", migrateEnv("contract", IMAGES.app2));
        assert.strictEqual(contract.status, 0, contract.stderr);
        assert.match(contract.stdout, /applied 002_visits_source_required/);
        assert.strictEqual(psql("SELECT is_nullable || ',' || coalesce(column_default, 'none') FROM information_schema.columns WHERE table_name = 'visits' AND column_name = 'source'"), "NO,none");
        assert.strictEqual((await get(stack.livePort, "/visits", { method: "POST", body: "after contract" })).status, 201);
    });
});
