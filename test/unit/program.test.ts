import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { HostState } from "../../lib/host";
import { parseConfig } from "../../lib/config";
import { readStackFile, stackFilePath } from "../../lib/stackfile";
import { byType, diffRuns, get, labelsOf, runProgram, RunResult, SECRET_SIG, unwrapSecrets } from "./mocks";

const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:local:Command";

function stackFile(stack: string): Record<string, unknown> {
    const { raw } = readStackFile(stackFilePath(stack));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.replace(/^switchyard:/, ""), v]));
}

/** What the host runs after `config` was released with `live` routed. */
function hostAfter(config: Record<string, unknown>, live: "blue" | "green", colours: ("blue" | "green")[], retired: HostState["retired"] = {}): HostState {
    const raw = Object.fromEntries(Object.entries(config).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
    const cfg = parseConfig(raw, new Set(), "test");
    const running: HostState["running"] = {};
    for (const c of colours) running[c] = { image: cfg.slots[c]!.image, containers: [] };
    return { route: live, running, retired, swapLimit: true, stopped: [], networks: { taken: [] } };
}

function envOf(run: RunResult, name: string): Record<string, string> {
    return get(run, name).inputs.environment;
}

const base = { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } }, replicas: 2 };
const staged = { ...base, slots: { blue: { image: "app:1.0.0" }, green: { image: "app:2.0.0" } } };
const switched = { ...staged, liveColor: "green" };

describe("program (Pulumi mocks)", function () {
    this.timeout(20000);

    it("staging: the resource graph", async () => {
        const run = await runProgram({ config: stackFile("staging"), stack: "staging" });
        const types = [...run.resources.values()].map((r) => `${r.type} ${r.name}`).sort();
        for (const expected of [
            "switchyard:net:Networks networks",
            "switchyard:data:Postgres postgres",
            "switchyard:data:Redis redis",
            "switchyard:proxy:Nginx proxy",
            "switchyard:index:BlueGreenApp switchyard",
            "switchyard:app:Slot release-app-blue",
            "switchyard:release:Release release",
            `${CONTAINER} release-app-blue-1`,
            `${CONTAINER} release-app-blue-2`,
            `${CONTAINER} postgres-container`,
            `${CONTAINER} redis-container`,
            `${CONTAINER} proxy-container`,
            `${COMMAND} proxy-config`,
            `${COMMAND} release-app-blue-gate`,
            `${COMMAND} release-gate`,
            `${COMMAND} release-repoint`,
            `${COMMAND} release-verify`,
            `${COMMAND} release-retire`,
            "random:index/randomPassword:RandomPassword postgres-password",
            "random:index/randomPassword:RandomPassword redis-password",
            "docker:index/volume:Volume postgres-data",
            "docker:index/volume:Volume redis-data",
            "docker:index/network:Network networks-backend",
        ]) {
            assert.ok(types.includes(expected), `missing ${expected}`);
        }
        assert.ok(!run.resources.has("release-app-green"), "green has no image: no slot");
        assert.strictEqual(get(run, "networks-backend").inputs.internal, true);
        assert.strictEqual(get(run, "postgres-data").protect, false);
        assert.deepStrictEqual(run.outputs.liveColor, "blue");
        assert.deepStrictEqual(run.outputs.idleState, "empty");
        assert.deepStrictEqual(run.outputs.liveUrl, "http://127.0.0.1:8080");
    });

    it("production: three replicas, data protected, pinned images, a bake before the old colour is let go", async () => {
        const run = await runProgram({ config: stackFile("production"), stack: "production" });
        assert.strictEqual(envOf(run, "release-bake").BAKE_SECONDS, "120");
        assert.strictEqual(byType(run, CONTAINER).filter((c) => labelsOf(c)["switchyard.role"] === "app").length, 3);
        for (const name of ["postgres-data", "redis-data", "postgres-container", "redis-container"]) {
            assert.strictEqual(get(run, name).protect, true, `${name} must be protected`);
        }
        assert.strictEqual(get(run, "proxy-container").protect, false);
        assert.strictEqual(get(run, "release-app-blue-1").inputs.name, "switchyard-production-app-blue-1");
    });

    it("gate -> re-point -> verify -> retire, each depending on the one before", async () => {
        const run = await runProgram({ config: base });
        assert.ok(get(run, "release-gate").deps.includes("release-app-blue-gate"));
        assert.ok(get(run, "release-gate").deps.includes("proxy-config"));
        // Backups are on by default: the dump runs beside the re-check, once the colour passed its own gate,
        // and the re-point waits for both.
        const dump = get(run, "release-backup-dump").deps;
        for (const before of ["release-app-blue-gate", "release-app-blue-heal", "proxy-config", "release-notify-config"]) assert.ok(dump.includes(before), `the dump waits for ${before}: ${dump.join(" ")}`);
        assert.ok(!dump.includes("release-gate"), "the dump does not wait for the re-check");
        assert.ok(get(run, "release-repoint").deps.includes("release-backup-dump"));
        assert.ok(get(run, "release-repoint").deps.includes("release-gate"));
        assert.ok(get(run, "release-verify").deps.includes("release-repoint"));
        assert.ok(get(run, "release-retire").deps.includes("release-verify"));
        // The slot's gate probes through the configured proxy (the notifier runs after its config).
        assert.ok(get(run, "release-app-blue-gate").deps.includes("release-notify-config"));
        assert.ok(get(run, "release-notify-config").deps.includes("proxy-config"));
        for (const step of ["gate", "repoint", "verify", "retire"]) {
            const cmd = get(run, `release-${step}`).inputs;
            assert.strictEqual(cmd.create, `bash scripts/release/${step}.sh`);
            assert.strictEqual(cmd.update, cmd.create, "a changed input must run the step again");
            assert.strictEqual(cmd.delete, undefined, "no delete: undoing a step on replacement would undo the switch");
            assert.strictEqual(cmd.triggers, undefined, "triggers replace the command (fact 3)");
        }
    });

    it("no bake by default; with bake.seconds the bake sits between verify and retire with its thresholds", async () => {
        const plain = await runProgram({ config: base });
        assert.ok(!plain.resources.has("release-bake"), "no bake step unless one is asked for");
        const run = await runProgram({ config: { ...base, bake: { seconds: 60, maxErrorPercent: 2, maxP99Ms: 800 } } });
        const bake = get(run, "release-bake");
        assert.ok(bake.deps.includes("release-verify"));
        assert.ok(get(run, "release-retire").deps.includes("release-bake"));
        assert.ok(!get(run, "release-retire").deps.includes("release-verify"), "retire waits for the bake, so the old colour is there to go back to");
        assert.strictEqual(bake.inputs.create, "bash scripts/release/bake.sh");
        const env = envOf(run, "release-bake");
        assert.deepStrictEqual(
            { seconds: env.BAKE_SECONDS, errors: env.BAKE_MAX_ERROR_PERCENT, p99: env.BAKE_MAX_P99_MS, min: env.BAKE_MIN_REQUESTS, colour: env.SWITCHYARD_COLOR },
            { seconds: "60", errors: "2", p99: "800", min: "50", colour: "blue" },
        );
        // The release key: the bake runs again exactly when the other steps do.
        assert.strictEqual(env.TARGET_CONTAINER_IDS, envOf(run, "release-verify").TARGET_CONTAINER_IDS);
    });

    it("no canary by default; with canary.steps the canary sits before re-point with the bake's thresholds, and the proxy splits by buckets", async () => {
        const plain = await runProgram({ config: switched });
        assert.ok(!plain.resources.has("release-canary"), "no canary step unless one is asked for");
        assert.doesNotMatch(get(plain, "proxy-config").inputs.stdin, /switchyard_bucket|switchyard_canary/, "the proxy's config is what it was before canaries");
        const run = await runProgram({ config: { ...switched, canary: { steps: [5, 25, 50], stepSeconds: 20 }, bake: { maxErrorPercent: 2 } } });
        const canary = get(run, "release-canary");
        assert.strictEqual(canary.inputs.create, "bash scripts/release/canary.sh");
        assert.ok(canary.deps.includes("release-backup-dump"), `after the gate and the dump: ${canary.deps.join(" ")}`);
        assert.ok(get(run, "release-repoint").deps.includes("release-canary"), "re-point moves the rest only after every step held");
        const env = envOf(run, "release-canary");
        assert.deepStrictEqual(
            { steps: env.CANARY_STEPS, seconds: env.CANARY_STEP_SECONDS, errors: env.BAKE_MAX_ERROR_PERCENT, p99: env.BAKE_MAX_P99_MS, min: env.BAKE_MIN_REQUESTS, colour: env.SWITCHYARD_COLOR },
            { steps: "5,25,50", seconds: "20", errors: "2", p99: "", min: "50", colour: "green" },
        );
        assert.strictEqual(env.TARGET_CONTAINER_IDS, envOf(run, "release-verify").TARGET_CONTAINER_IDS, "it runs again exactly when the other steps do");
        const conf = get(run, "proxy-config").inputs.stdin as string;
        assert.match(conf, /split_clients "\$\{request_id\}" \$switchyard_bucket \{/);
        // 3 steps of 20 s, and five minutes to spare.
        assert.match(conf, /switchyard_canary=\$switchyard_colour; Path=\/; Max-Age=360; HttpOnly; SameSite=Lax/);
    });

    it("metrics: a sidecar beside the proxy on loopback, nginx writing its records for it, the bake and the canary reading them; none by default", async () => {
        const plain = await runProgram({ config: switched });
        assert.ok(!plain.resources.has("proxy-metrics-container"));
        assert.doesNotMatch(get(plain, "proxy-config").inputs.stdin, /switchyard_log_minute/);
        const run = await runProgram({ config: { ...switched, metrics: { port: 9145 }, bake: { seconds: 30 }, canary: { steps: [10] } } });
        const sidecar = get(run, "proxy-metrics-container").inputs;
        assert.strictEqual(sidecar.name, "switchyard-staging-metrics");
        assert.strictEqual(sidecar.networkMode, "host");
        assert.deepStrictEqual(sidecar.command, ["node", "/switchyard/metrics-exporter.js"]);
        assert.match(sidecar.uploads[0].content, /switchyard_requests_total/, "the compiled exporter is uploaded");
        assert.ok(sidecar.envs.includes("METRICS_ADDRESS=127.0.0.1") && sidecar.envs.includes("METRICS_PORT=9145"), sidecar.envs.join(" "));
        assert.ok(sidecar.envs.some((e: string) => /^UPSTREAMS=blue=\S+:3000,\S+:3000 green=\S+:3000,\S+:3000$/.test(e)), sidecar.envs.join(" "));
        assert.deepStrictEqual(sidecar.capabilities, { drops: ["ALL"], adds: ["CAP_CHOWN"] });
        assert.ok(get(run, "proxy-config").deps.includes("proxy-metrics-container"), "the sidecar makes the records' directory before nginx writes into it");
        assert.match(get(run, "proxy-config").inputs.stdin, /access_log \/etc\/switchyard\/state\/logs\/access-\$switchyard_log_minute\.log switchyard_metrics;/);
        for (const step of ["release-bake", "release-canary"]) assert.strictEqual(envOf(run, step).RECORDS_DIR, "/etc/switchyard/state/logs", step);
        assert.strictEqual(envOf(plain, "release-verify").RECORDS_DIR, undefined);
        assert.ok(!run.resources.has("proxy-records-container"), "the metrics sidecar keeps the files: no keeper beside it");
        assert.ok(!plain.resources.has("proxy-records-container"), "no bake, no canary, no metrics: no files, no keeper");
    });

    it("a bake or a canary without metrics: nginx writes the record files, a keeper of the proxy's image removes the old ones", async () => {
        for (const extra of [{ bake: { seconds: 30 } }, { canary: { steps: [10] } }]) {
            const run = await runProgram({ config: { ...switched, ...extra } });
            const keeper = get(run, "proxy-records-container").inputs;
            assert.strictEqual(keeper.name, "switchyard-staging-records");
            assert.strictEqual(keeper.image, get(run, "proxy-container").inputs.image, "the proxy's own image: nothing more to pull");
            assert.strictEqual(keeper.networkMode, "none");
            assert.deepStrictEqual(keeper.capabilities, { drops: ["ALL"], adds: ["CAP_CHOWN"] });
            assert.deepStrictEqual(keeper.command.slice(3), ["sh", "/etc/switchyard/state/logs", "65534", "2", "30"]);
            assert.deepStrictEqual(keeper.mounts.map((m: { target: string }) => m.target), ["/etc/switchyard/state"]);
            assert.ok(!run.resources.has("proxy-metrics-container"));
            assert.ok(get(run, "proxy-config").deps.includes("proxy-records-container"), "the keeper makes the records' directory before nginx writes into it");
            const conf = get(run, "proxy-config").inputs.stdin as string;
            assert.match(conf, /access_log \/etc\/switchyard\/state\/logs\/access-\$switchyard_log_minute\.log switchyard_metrics;/);
            assert.doesNotMatch(conf, /mirror /, "no start records without the metrics sidecar to count them");
            const step = "bake" in extra ? "release-bake" : "release-canary";
            assert.strictEqual(envOf(run, step).RECORDS_DIR, "/etc/switchyard/state/logs", step);
        }
    });

    it("a release with data protection: gate and backup -> expand -> re-point -> verify -> retire -> contract", async () => {
        const config = { ...switched, migrations: { command: "node migrate.js expand", contractCommand: "node migrate.js contract" } };
        const run = await runProgram({ config, host: hostAfter(staged, "blue", ["blue", "green"]) });
        assert.ok(get(run, "release-backup-dump").deps.includes("release-app-green-gate"), "the dump waits for the colour's own gate");
        assert.ok(!get(run, "release-backup-dump").deps.includes("release-gate"), "and runs beside the re-check");
        assert.ok(get(run, "release-migrate-expand-run").deps.includes("release-backup-dump"));
        assert.ok(get(run, "release-migrate-expand-run").deps.includes("release-gate"), "the migration waits for the re-check too");
        assert.ok(get(run, "release-repoint").deps.includes("release-migrate-expand-run"));
        assert.ok(!get(run, "release-repoint").deps.includes("release-gate"), "the re-point waits for the migration, not only the gate");
        assert.ok(get(run, "release-migrate-contract-run").deps.includes("release-retire"));
        const backup = envOf(run, "release-backup-dump");
        const expand = envOf(run, "release-migrate-expand-run");
        const contract = envOf(run, "release-migrate-contract-run");
        // Each carries the release key, so it runs exactly when a release does.
        for (const env of [backup, expand, contract]) {
            for (const k of ["SWITCHYARD_COLOR", "TARGET_CONTAINER_IDS", "SWITCHYARD_STACK", "SWITCHYARD_PROXY"]) assert.deepStrictEqual(env[k], envOf(run, "release-repoint")[k], k);
        }
        assert.deepStrictEqual([expand.PHASE, expand.MIGRATION_IMAGE, expand.MIGRATION_COMMAND], ["expand", "app:2.0.0", '["node","migrate.js","expand"]']);
        assert.deepStrictEqual([contract.PHASE, contract.MIGRATION_IMAGE], ["contract", "app:2.0.0"]);
        assert.deepStrictEqual([backup.BACKUP_STORE, backup.BACKUPS_KEEP, backup.PGUSER, backup.PGDATABASE], ["switchyard-staging-backups", "10", "app", "app"]);
        // Credentials only as secrets in the environment, never in command text.
        assert.ok(JSON.stringify(get(run, "release-backup-dump").inputs.environment).includes(SECRET_SIG));
        assert.ok(JSON.stringify(get(run, "release-migrate-expand-run").inputs.environment).includes(SECRET_SIG));
        for (const name of ["release-backup-dump", "release-migrate-expand-run", "release-migrate-contract-run"]) {
            const cmd = get(run, name).inputs;
            assert.ok(!/pw-|postgres:\/\//.test(`${cmd.create}${cmd.update}`), `${name}: no credential in the command text`);
            assert.strictEqual(cmd.delete, undefined);
            assert.strictEqual(cmd.triggers, undefined);
        }
        assert.strictEqual(get(run, "backups-volume").inputs.name, "switchyard-staging-backups");
        assert.deepStrictEqual(get(run, "backups-volume").beforeDelete, ["switchyard-guard-volume"]);
        assert.strictEqual(run.outputs.liveColor, "green");
        await assert.rejects(
            runProgram({ config, host: hostAfter(staged, "blue", ["blue", "green"]), failing: ["release-migrate-contract-run"] }),
            /migrate-contract-run failed/,
            "the outputs wait for the contract too",
        );
    });

    it("backups off (not production) and no migrations: the re-point follows the gate; a host directory replaces the volume", async () => {
        const run = await runProgram({ config: { ...base, backups: { enabled: false } } });
        assert.ok(!run.resources.has("release-backup-dump") && !run.resources.has("release-migrate-expand-run"));
        assert.ok(get(run, "release-repoint").deps.includes("release-gate"));
        const dir = await runProgram({ config: { ...base, backups: { hostDir: "/srv/backups", keep: 3 } } });
        assert.ok(!dir.resources.has("backups-volume"));
        assert.deepStrictEqual([envOf(dir, "release-backup-dump").BACKUP_STORE, envOf(dir, "release-backup-dump").BACKUPS_KEEP], ["/srv/backups", "3"]);
        const prod = await runProgram({ config: stackFile("production"), stack: "production" });
        assert.strictEqual(get(prod, "backups-volume").protect, true, "production's backups are protected");
    });

    it("maintenance turns on before the gate and off only after verify", async () => {
        const on = await runProgram({ config: { ...base, maintenance: true }, host: hostAfter(base, "blue", ["blue"]) });
        assert.strictEqual(envOf(on, "release-maintenance-toggle").MAINTENANCE, "on");
        assert.ok(get(on, "release-gate").deps.includes("release-maintenance-toggle"));
        const host = { ...hostAfter(staged, "blue", ["blue", "green"]), maintenance: true };
        const off = await runProgram({ config: switched, host });
        assert.strictEqual(envOf(off, "release-maintenance-toggle").MAINTENANCE, "off");
        assert.ok(get(off, "release-maintenance-toggle").deps.includes("release-verify"));
        assert.ok(!get(off, "release-gate").deps.includes("release-maintenance-toggle"));
        // With a bake, maintenance still ends after verify: the bake needs real traffic to judge.
        const baked = await runProgram({ config: { ...switched, bake: { seconds: 30 } }, host });
        assert.ok(get(baked, "release-maintenance-toggle").deps.includes("release-verify"));
        assert.ok(!get(baked, "release-maintenance-toggle").deps.includes("release-bake"));
        const steady = await runProgram({ config: base, host: hostAfter(base, "blue", ["blue"]) });
        assert.strictEqual(envOf(steady, "release-maintenance-toggle").MAINTENANCE, "off");
    });

    it("the webhook URL reaches the notifier step alone, as a secret; gates wait for it", async () => {
        const url = "https://hooks.example.com/services/very-secret-token";
        const run = await runProgram({ config: { ...staged, notify: { webhookUrl: url } }, secrets: ["notify"] });
        const notify = get(run, "release-notify-config");
        assert.ok(notify.deps.includes("proxy-config"));
        assert.ok(JSON.stringify(notify.inputs.environment).includes(SECRET_SIG));
        assert.ok(JSON.stringify(notify.inputs.environment).includes("very-secret-token"), "the notifier gets it");
        for (const r of byType(run, COMMAND)) {
            if (r.name !== "release-notify-config") assert.ok(!JSON.stringify(r.inputs).includes("very-secret-token"), `${r.name} must not carry the URL`);
        }
        for (const gate of ["release-app-blue-gate", "release-app-green-gate", "release-gate"]) assert.ok(get(run, gate).deps.includes("release-notify-config"), gate);
    });

    it("slots wait for the data services, and the proxy config is tested before use", async () => {
        const run = await runProgram({ config: base });
        const slotDeps = get(run, "release-app-blue-1").deps;
        assert.ok(slotDeps.includes("postgres-container") && slotDeps.includes("redis-container"), slotDeps.join(","));
        const cfg = get(run, "proxy-config").inputs;
        assert.strictEqual(cfg.create, "bash scripts/release/proxy-config.sh");
        assert.match(cfg.stdin, /worker_shutdown_timeout 15s;/);
        // Each listener's colour is an upstream of fixed addresses, picked by the route marker per request.
        assert.match(cfg.stdin, /proxy_pass http:\/\/switchyard_live_\$switchyard_colour;/);
        assert.match(cfg.stdin, /proxy_pass http:\/\/switchyard_preview_\$switchyard_colour;/);
    });

    it("data services: healthchecks, named volumes, never published, passwords only in secret envs", async () => {
        const run = await runProgram({ config: base });
        for (const name of ["postgres-container", "redis-container"]) {
            const c = get(run, name).inputs;
            assert.strictEqual(c.ports, undefined, `${name} must not publish ports`);
            assert.ok(c.healthcheck?.tests?.length, `${name} needs a healthcheck`);
            assert.strictEqual(c.wait, true);
            assert.strictEqual(c.mounts[0].type, "volume");
            assert.ok(JSON.stringify(c.envs).includes(SECRET_SIG), `${name} envs must be secret`);
            assert.ok(!JSON.stringify(c.command ?? []).includes("pw-"), "password must not be on the command line");
        }
        const app = get(run, "release-app-blue-1").inputs;
        assert.ok(JSON.stringify(app.envs).includes(SECRET_SIG), "app envs carry DATABASE_URL: secret");
        assert.ok(JSON.stringify(app.networksAdvanced).includes("app-blue"));
        assert.strictEqual(app.stopTimeout, 20, "stop grace = drain + 5");
        assert.deepStrictEqual(labelsOf(get(run, "release-app-blue-1"))["switchyard.colour"], "blue");
        const proxy = get(run, "proxy-container").inputs;
        assert.strictEqual(proxy.networkMode, "host", "nginx binds the host's ports itself: no Docker port rule between client and proxy");
        assert.deepStrictEqual([...String(get(run, "proxy-config").inputs.stdin).matchAll(/^\s*listen (\S+);/gm)].map((m) => m[1]), ["127.0.0.1:8080", "unix:/run/switchyard-live.sock", "127.0.0.1:8081", "unix:/run/switchyard-preview.sock"]);
        // Only the steps that talk to Postgres see its password, and only as a secret.
        const needsPassword = ["release-backup-dump", "release-migrate-expand-run", "release-migrate-contract-run"];
        for (const cmd of byType(run, COMMAND)) {
            const text = JSON.stringify(cmd.inputs);
            if (needsPassword.includes(cmd.name)) assert.ok(text.includes(SECRET_SIG), `${cmd.name}: the password only as a secret`);
            else assert.ok(!text.includes("pw-"), `${cmd.name} must not see a password`);
        }
    });

    it("case 1: a new image on the idle colour creates and gates only the idle slot", async () => {
        const before = await runProgram({ config: base, host: hostAfter(base, "blue", ["blue"]) });
        const after = await runProgram({ config: staged, host: hostAfter(base, "blue", ["blue"]) });
        const d = diffRuns(before, after);
        assert.deepStrictEqual(d.deleted, []);
        assert.deepStrictEqual(d.changed, []);
        assert.deepStrictEqual(d.created, ["release-app-green", "release-app-green-1", "release-app-green-2", "release-app-green-gate", "release-app-green-heal", "release-app-green-image"]);
        assert.strictEqual(after.outputs.idleState, "staged");
    });

    it("case 2: flipping liveColor runs gate, re-point, verify, retire and removes the old slot", async () => {
        const before = await runProgram({ config: staged, host: hostAfter(staged, "blue", ["blue", "green"]) });
        const after = await runProgram({ config: switched, host: hostAfter(staged, "blue", ["blue", "green"]) });
        const d = diffRuns(before, after);
        assert.deepStrictEqual(d.created, []);
        assert.deepStrictEqual(d.changed, ["release-backup-dump", "release-gate", "release-repoint", "release-retire", "release-verify"]);
        assert.deepStrictEqual(d.deleted, ["release-app-blue", "release-app-blue-1", "release-app-blue-2", "release-app-blue-gate", "release-app-blue-heal", "release-app-blue-image"]);
        assert.strictEqual(envOf(after, "release-repoint").SWITCHYARD_COLOR, "green");
        assert.strictEqual(envOf(after, "release-verify").SWITCHYARD_COLOR, "green");
        assert.strictEqual(envOf(after, "release-retire").RETIRE_COLOR, "blue");
    });

    it("case 2, rollback: a retired colour is re-created from its pinned image, then switched to", async () => {
        const host = hostAfter(switched, "green", ["green"], { blue: "app:1.0.0" });
        const before = await runProgram({ config: switched, host });
        const after = await runProgram({ config: { ...switched, liveColor: "blue" }, host });
        const d = diffRuns(before, after);
        assert.deepStrictEqual(d.created, ["release-app-blue", "release-app-blue-1", "release-app-blue-2", "release-app-blue-gate", "release-app-blue-heal", "release-app-blue-image"]);
        assert.deepStrictEqual(d.deleted, ["release-app-green", "release-app-green-1", "release-app-green-2", "release-app-green-gate", "release-app-green-heal", "release-app-green-image"]);
        assert.strictEqual(get(after, "release-app-blue-1").inputs.labels.find((l: any) => l.label === "switchyard.image").value, "app:1.0.0");
        assert.strictEqual(envOf(after, "release-retire").RETIRE_COLOR, "green");
    });

    it("a rollback re-creates the retired colour from the image it ran, not what its tag names now; a running colour keeps the image it runs", async () => {
        const ran = `sha256:${"1".repeat(64)}`;
        const back = { ...switched, liveColor: "blue" };
        const rollback = await runProgram({ config: back, host: { ...hostAfter(switched, "green", ["green"], { blue: "app:1.0.0" }), retiredImageId: { blue: ran } } });
        for (const i of [1, 2]) assert.strictEqual(get(rollback, `release-app-blue-${i}`).inputs.image, ran, `replica ${i}: the image blue ran when it was retired`);
        assert.strictEqual(get(rollback, "release-app-blue-1").inputs.labels.find((l: { label: string }) => l.label === "switchyard.image").value, "app:1.0.0", "it is still named by its tag");
        // The next update, blue live on that image: it stays, though the tag now resolves to another (the mocks' sha256:<name>).
        const live = hostAfter(back, "blue", ["blue"], { green: "app:2.0.0" });
        live.running.blue!.imageId = ran;
        const next = await runProgram({ config: back, host: live });
        assert.strictEqual(get(next, "release-app-blue-1").inputs.image, ran);
        // A new image on blue is a release: what its tag resolves to.
        const release = await runProgram({ config: { ...back, slots: { ...back.slots, blue: { image: "app:3.0.0" } } }, host: live });
        assert.strictEqual(get(release, "release-app-blue-1").inputs.image, "sha256:app:3.0.0");
        // A ledger written before ids, or containers created by name: the tag, as before.
        const before = await runProgram({ config: back, host: hostAfter(switched, "green", ["green"], { blue: "app:1.0.0" }) });
        assert.strictEqual(get(before, "release-app-blue-1").inputs.image, "sha256:app:1.0.0");
    });

    it("case 3: a new idle image and a flip together: create, gate, switch, retire in one update", async () => {
        const host = hostAfter(base, "blue", ["blue"]);
        const before = await runProgram({ config: base, host });
        const after = await runProgram({ config: switched, host });
        const d = diffRuns(before, after);
        assert.deepStrictEqual(d.created, ["release-app-green", "release-app-green-1", "release-app-green-2", "release-app-green-gate", "release-app-green-heal", "release-app-green-image"]);
        assert.deepStrictEqual(d.changed, ["release-backup-dump", "release-gate", "release-repoint", "release-retire", "release-verify"]);
        assert.deepStrictEqual(d.deleted, ["release-app-blue", "release-app-blue-1", "release-app-blue-2", "release-app-blue-gate", "release-app-blue-heal", "release-app-blue-image"]);
        assert.ok(get(after, "release-gate").deps.includes("release-app-green-gate"));
    });

    it("case 4: nothing changed, nothing changes (and no command runs)", async () => {
        const protectedRelease = { ...switched, migrations: { command: "node migrate.js expand", contractCommand: "node migrate.js contract" }, maintenance: true };
        for (const [config, host] of [
            [base, hostAfter(base, "blue", ["blue"])],
            [protectedRelease, { ...hostAfter(switched, "green", ["green"], { blue: "app:1.0.0" }), maintenance: true }],
            [staged, hostAfter(staged, "blue", ["blue", "green"])],
            [switched, hostAfter(switched, "green", ["green"], { blue: "app:1.0.0" })],
        ] as const) {
            const a = await runProgram({ config, host });
            const b = await runProgram({ config, host });
            assert.deepStrictEqual(diffRuns(a, b), { created: [], deleted: [], changed: [] });
        }
    });

    it("case 4: after a switch and retire, the next update plans no change", async () => {
        // The update that switched, as it ended (blue gone, ledger written)...
        const switching = await runProgram({ config: switched, host: hostAfter(staged, "blue", ["blue", "green"]) });
        // ...and the next one, which must match it.
        const next = await runProgram({ config: switched, host: hostAfter(switched, "green", ["green"], { blue: "app:1.0.0" }) });
        assert.deepStrictEqual(diffRuns(switching, next), { created: [], deleted: [], changed: [] });
    });

    it("case 5: every container, data volume, the proxy state volume and the networks are behind the delete guard", async () => {
        const run = await runProgram({ config: staged, host: hostAfter(staged, "blue", ["blue", "green"]) });
        const expect: Record<string, string> = {
            "release-app-blue-1": "switchyard-guard-app",
            "release-app-green-2": "switchyard-guard-app",
            "postgres-container": "switchyard-guard-postgres",
            "redis-container": "switchyard-guard-redis",
            "proxy-container": "switchyard-guard-proxy",
            "postgres-data": "switchyard-guard-volume",
            "redis-data": "switchyard-guard-volume",
            "proxy-state": "switchyard-guard-volume",
            "networks-frontend": "switchyard-guard-network",
            "networks-backend": "switchyard-guard-network",
        };
        for (const [name, hook] of Object.entries(expect)) assert.deepStrictEqual(get(run, name).beforeDelete, [hook], name);
        for (const c of byType(run, CONTAINER)) {
            assert.ok(c.ignoreChanges.includes("logOpts"), `${c.name}: a daemon's default log options must not replace it`);
            assert.ok(c.replaceOnChanges.includes("healthcheck") && c.deleteBeforeReplace, `${c.name}: a new healthcheck is a new container, delete-first (Docker cannot change one in place)`);
            assert.strictEqual(c.inputs.mustRun, false, `${c.name}: refresh must not delete it when stopped`);
            assert.ok(c.inputs.destroyGraceSeconds > 0, `${c.name}: replaced or deleted, it is stopped, not killed`);
            assert.strictEqual(c.inputs.destroyGraceSeconds, c.inputs.stopTimeout, c.name);
        }
        assert.strictEqual(get(run, "postgres-container").inputs.destroyGraceSeconds, 30);
        assert.strictEqual(get(run, "redis-container").inputs.destroyGraceSeconds, 15);
        assert.strictEqual(get(run, "proxy-container").inputs.destroyGraceSeconds, 20, "proxy: drain + 5");
        assert.strictEqual(get(run, "release-app-blue-1").inputs.destroyGraceSeconds, 20, "app: drain + 5");
    });

    it("limits and healthchecks are sent in the provider's read-back form", async () => {
        const run = await runProgram({ config: { ...base, limits: { app: { memoryMb: 300, cpus: 1 }, postgres: { memoryMb: 1024, cpus: 2 } }, health: { intervalSeconds: 60, command: ["/app", "healthcheck"] } } });
        const app = get(run, "release-app-blue-1").inputs;
        assert.deepStrictEqual([app.cpus, app.memory, app.memorySwap], ["1.0", 300, 300]);
        assert.strictEqual(app.healthcheck.interval, "1m0s");
        assert.deepStrictEqual(app.healthcheck.tests, ["CMD", "/app", "healthcheck"], "exec form: no shell");
        assert.strictEqual(get(run, "postgres-container").inputs.cpus, "2.0");
        assert.strictEqual(get(run, "redis-container").inputs.cpus, "0.5");
        const noSwapLimit = await runProgram({ config: base, host: { ...hostAfter(base, "blue", ["blue"]), swapLimit: false } });
        assert.strictEqual(get(noSwapLimit, "release-app-blue-1").inputs.memorySwap, -1, "without swap limit support Docker stores -1");
    });

    it("Postgres's healthcheck is exec form; an existing shell-form one is kept, with a warning, unless its re-create is allowed", async () => {
        const exec = ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "app"];
        // What Switchyard 0.2 created, byte for byte: declaring anything else re-creates Postgres.
        const shell = ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U app -d app"];
        const tests = (run: RunResult) => get(run, "postgres-container").inputs.healthcheck.tests;
        const warnings: string[] = [];
        const warn = pulumi.log.warn;
        pulumi.log.warn = async (msg: string) => void warnings.push(msg);
        try {
            assert.deepStrictEqual(tests(await runProgram({ config: base })), exec, "a new stack: exec form");
            assert.deepStrictEqual(tests(await runProgram({ config: base, host: { ...hostAfter(base, "blue", ["blue"]), postgresHealthcheck: exec } })), exec);
            const handMade = { ...hostAfter(base, "blue", ["blue"]), postgresHealthcheck: ["CMD-SHELL", "pg_isready -U app"] };
            assert.deepStrictEqual(tests(await runProgram({ config: base, host: handMade })), exec, "only 0.2's own shell form is kept");
            assert.deepStrictEqual(warnings, []);
            const old = { ...hostAfter(base, "blue", ["blue"]), postgresHealthcheck: shell };
            assert.deepStrictEqual(tests(await runProgram({ config: base, host: old })), shell, "an upgrade alone must not re-create Postgres");
            assert.strictEqual(warnings.length, 1);
            assert.match(warnings[0], /Postgres \(switchyard-staging-postgres\) keeps the shell-form healthcheck .* SWITCHYARD_ALLOW_DELETE=postgres pulumi up/);
            process.env.SWITCHYARD_ALLOW_DELETE = "postgres";
            assert.deepStrictEqual(tests(await runProgram({ config: base, host: old })), exec, "allowed: the one re-create moves it to exec form");
            assert.strictEqual(warnings.length, 1);
        } finally {
            pulumi.log.warn = warn;
            delete process.env.SWITCHYARD_ALLOW_DELETE;
        }
    });

    it("Redis runs as its own user (redis.user, default redis); an existing root one is kept, with a warning, unless its re-create is allowed", async () => {
        const user = (run: RunResult) => get(run, "redis-container").inputs.user;
        const warnings: string[] = [];
        const warn = pulumi.log.warn;
        pulumi.log.warn = async (msg: string) => void warnings.push(msg);
        try {
            assert.strictEqual(user(await runProgram({ config: base })), "redis", "a new stack: never root");
            assert.strictEqual(user(await runProgram({ config: { ...base, redis: { user: "999:999" } } })), "999:999");
            // A Redis made from an image whose USER is redis (Docker reads it back as the container's user): nothing changes.
            assert.strictEqual(user(await runProgram({ config: base, host: { ...hostAfter(base, "blue", ["blue"]), redisUser: "redis" } })), "redis");
            assert.deepStrictEqual(warnings, []);
            // One made from an image that starts as root (the official redis image, before this): kept as it is.
            for (const root of ["", "0", "root"]) {
                assert.strictEqual(user(await runProgram({ config: base, host: { ...hostAfter(base, "blue", ["blue"]), redisUser: root } })), undefined, `user ${JSON.stringify(root)}: an upgrade alone must not re-create Redis`);
            }
            assert.strictEqual(warnings.length, 3);
            assert.match(warnings[0], /Redis \(switchyard-staging-redis\) keeps running as root.* SWITCHYARD_ALLOW_DELETE=redis pulumi up .*chown -R redis: \/data/);
            process.env.SWITCHYARD_ALLOW_DELETE = "redis";
            assert.strictEqual(user(await runProgram({ config: base, host: { ...hostAfter(base, "blue", ["blue"]), redisUser: "" } })), "redis", "allowed: the one re-create drops root");
            assert.strictEqual(warnings.length, 3);
        } finally {
            pulumi.log.warn = warn;
            delete process.env.SWITCHYARD_ALLOW_DELETE;
        }
    });

    it("the app's Postgres role owns its database only; a stack whose app is the superuser keeps it, with a warning", async () => {
        const envsOf = (run: RunResult) => unwrapSecrets(get(run, "postgres-container").inputs.envs) as string[];
        const warnings: string[] = [];
        const warn = pulumi.log.warn;
        pulumi.log.warn = async (msg: string) => void warnings.push(msg);
        try {
            const fresh = await runProgram({ config: base });
            const envs = envsOf(fresh);
            assert.deepStrictEqual(envs.filter((e) => /^(POSTGRES_USER|POSTGRES_DB|SWITCHYARD_APP_ROLE)=/.test(e)), ["POSTGRES_USER=postgres", "POSTGRES_DB=app", "SWITCHYARD_APP_ROLE=app"]);
            assert.ok(envs.includes("SWITCHYARD_APP_PASSWORD=pw-postgres-password"), "the app role's password is the one its URL carries");
            assert.ok(envs.includes("POSTGRES_PASSWORD=pw-postgres-superuser-password"), "the superuser has a password of its own");
            const uploads = get(fresh, "postgres-container").inputs.uploads;
            assert.deepStrictEqual(uploads.map((u: { file: string; permissions: string }) => [u.file, u.permissions]), [["/docker-entrypoint-initdb.d/10-switchyard-app-role.sh", "0755"]]);
            assert.match(uploads[0].content, /CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';/);
            assert.doesNotMatch(uploads[0].content, /pw-/, "no password in the script (state keeps it in plaintext)");
            assert.match(unwrapSecrets(get(fresh, "release-app-blue-1").inputs.envs).find((e: string) => e.startsWith("DATABASE_URL=")), /^DATABASE_URL=postgres:\/\/app:pw-postgres-password@/);
            // A Postgres initialised with the app's role as its superuser (stacks made before): kept exactly as it was.
            const legacyHost = { ...hostAfter(base, "blue", ["blue"]), postgresUser: "app" };
            const legacy = await runProgram({ config: base, host: legacyHost });
            assert.deepStrictEqual(envsOf(legacy), ["POSTGRES_USER=app", "POSTGRES_DB=app", "PGDATA=/var/lib/postgresql/data", "POSTGRES_PASSWORD=pw-postgres-password"]);
            assert.strictEqual(get(legacy, "postgres-container").inputs.uploads, undefined);
            assert.ok(!legacy.resources.has("postgres-superuser-password"));
            assert.strictEqual(warnings.length, 1);
            assert.match(warnings[0], /the app connects to Postgres \(switchyard-staging-postgres\) as "app", the superuser its data directory was initialised with/);
            // A Postgres made with the new layout stays in it: no warning.
            await runProgram({ config: base, host: { ...hostAfter(base, "blue", ["blue"]), postgresUser: "postgres" } });
            assert.strictEqual(warnings.length, 1);
        } finally {
            pulumi.log.warn = warn;
        }
        // The superuser's name for the app's role: refused before anything is declared, unless that is what already runs.
        const named = { ...base, postgres: { user: "postgres" } };
        await assert.rejects(runProgram({ config: named }), (err: Error & { registered?: string[] }) => {
            assert.match(err.message, /switchyard:postgres\.user = "postgres": is the name of Postgres's superuser.*Allowed: another lower-case SQL identifier \(default "app"\)/);
            assert.deepStrictEqual(err.registered ?? [], []);
            return true;
        });
        const kept = await runProgram({ config: named, host: { ...hostAfter(named, "blue", ["blue"]), postgresUser: "postgres" } });
        assert.ok((unwrapSecrets(get(kept, "postgres-container").inputs.envs) as string[]).includes("POSTGRES_USER=postgres"));
    });

    it("every release step runs against the Docker host the provider deploys to", async () => {
        const run = await runProgram({ config: base });
        const provider = byType(run, "pulumi:providers:docker");
        assert.strictEqual(provider.length, 1, "one explicit docker provider");
        for (const cmd of byType(run, COMMAND)) assert.strictEqual(cmd.inputs.environment.DOCKER_HOST, provider[0].inputs.host, cmd.name);
    });

    it("stack outputs wait for the last release step, so a failed release does not claim the new colour", async () => {
        const ok = await runProgram({ config: switched, host: hostAfter(staged, "blue", ["blue", "green"]) });
        assert.strictEqual(ok.outputs.liveColor, "green");
        // Under the engine a failed step leaves the previous outputs in place;
        // under mocks the outputs that wait on it never resolve to the new ones.
        for (const step of ["release-gate", "release-repoint", "release-verify", "release-retire"]) {
            await assert.rejects(
                runProgram({ config: switched, host: hostAfter(staged, "blue", ["blue", "green"]), failing: [step] }),
                new RegExp(`${step} failed`),
                step,
            );
        }
    });

    it("every config error stops the program with the full list", async () => {
        await assert.rejects(
            runProgram({ config: { liveColor: "teal", slots: { blue: { image: "app:1" } }, replicas: 0, typo: 1 } }),
            (err: Error) =>
                /Invalid Switchyard config for stack "staging" \(3 problems\)/.test(err.message) &&
                /switchyard:liveColor = "teal": must be one of blue \| green/.test(err.message) &&
                /switchyard:replicas = 0: must be >= 1/.test(err.message) &&
                /switchyard:typo: unknown key/.test(err.message),
        );
    });

    it("a password set with --secret is used and stays secret", async () => {
        const run = await runProgram({
            config: { ...base, postgresPassword: "a-very-long-secret-value" },
            secrets: ["postgresPassword"],
        });
        assert.ok(!run.resources.has("postgres-password"), "no generated password when one is configured");
        const env = JSON.stringify(get(run, "postgres-container").inputs.envs);
        assert.ok(env.includes(SECRET_SIG));
    });
});
