// What the program declares runs on the real engine. The program runs under
// Pulumi's mocks (as in test/unit); every docker.Network, Volume and Container
// it declares is started from its recorded inputs with the docker CLI, and its
// command resources' scripts run with their recorded environment and stdin.
// This checks the container specs themselves (healthchecks, secrets in env,
// users, capabilities, networks, the proxy wrapper) and the wiring between
// the steps; it does not stand in for the Docker provider in a deployment.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { FactsAnswer } from "../../engine/host-facts";
import { dockerCliEnv, resolveDockerEndpoint } from "../../lib/dockerhost";
import { factsRequest, readFactsSync, startFactsReader } from "../../lib/factsreader";
import { docker, dockerAvailable, runStep, TestStack } from "./fixture";
import { describeFailures, get, startLoadProcess } from "./load";
import { diffRuns, Recorded, runProgram, RunResult, SECRET_SIG, unwrapSecrets } from "../unit/mocks";
import { dockerHostProbe, liveRoute, readRoute } from "../../lib/host";
import { refuseDelete } from "../../lib/guard";

const STACK = "sytest-specs";
const PREFIX = `switchyard-${STACK}`;
const config = {
    environment: "local",
    liveColor: "blue",
    slots: { blue: { image: "switchyard/app:1.0.0" } },
    replicas: 2,
    drainSeconds: 5,
    health: { intervalSeconds: 1, timeoutSeconds: 60, healthyThreshold: 2 },
    proxy: { image: "switchyard/nginx:local", livePort: 18080, previewPort: 18081, bindAddress: "127.0.0.1" },
    postgres: { image: "switchyard/postgres:local" },
    // The local Redis image with root as its user, as the official image has it:
    // what the program declares must still run redis-server unprivileged.
    redis: { image: "switchyard/redis:root-default" },
};
const ROOT_DEFAULT_REDIS = `FROM switchyard/redis:local\nUSER root\n`;

// Secrets arrive wrapped in the engine's wire form; the values are what the container gets.
const plain = unwrapSecrets;

function imageOf(c: Recorded): string {
    // The program passes RemoteImage.imageId; the mock makes that "sha256:<name>".
    const image = String(c.inputs.image).replace(/^sha256:/, "");
    assert.ok(image, `${c.name}: no image`);
    return image;
}

function startContainer(c: Recorded): void {
    const i = plain(c.inputs);
    const args = ["create", "--name", i.name];
    for (const e of i.envs ?? []) args.push("-e", e);
    for (const l of i.labels ?? []) args.push("--label", `${l.label}=${l.value}`);
    const [first, ...more] = i.networksAdvanced ?? [];
    if (first) args.push("--network", first.name, ...(first.aliases ?? []).flatMap((a: string) => ["--network-alias", a]), ...(first.ipv4Address ? ["--ip", first.ipv4Address] : []));
    for (const p of i.ports ?? []) args.push("-p", `${p.ip}:${p.external}:${p.internal}`);
    for (const m of i.mounts ?? []) args.push("-v", `${m.source}:${m.target}`);
    if (i.healthcheck) {
        const [kind, ...test] = i.healthcheck.tests;
        assert.ok(kind === "CMD" || kind === "CMD-SHELL", `${i.name}: healthcheck kind ${kind}`);
        // The docker CLI writes only the shell form; for the exec form the
        // shell exec's the same program with the same arguments.
        const command = kind === "CMD" ? `exec ${test.map((a: string) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ")}` : test.join(" ");
        args.push("--health-cmd", command, "--health-interval", i.healthcheck.interval, "--health-timeout", i.healthcheck.timeout, "--health-retries", String(i.healthcheck.retries), "--health-start-period", i.healthcheck.startPeriod);
    }
    if (i.user) args.push("--user", i.user);
    if (i.memory) args.push("--memory", `${i.memory}m`);
    if (i.memorySwap) args.push("--memory-swap", i.memorySwap === -1 ? "-1" : `${i.memorySwap}m`);
    if (i.cpus) args.push("--cpus", i.cpus);
    for (const o of i.securityOpts ?? []) args.push("--security-opt", o);
    for (const d of i.capabilities?.drops ?? []) args.push("--cap-drop", d);
    for (const a of i.capabilities?.adds ?? []) args.push("--cap-add", a);
    if (i.networkMode) args.push("--network", i.networkMode);
    if (i.stopTimeout) args.push("--stop-timeout", String(i.stopTimeout));
    if (i.stopSignal) args.push("--stop-signal", i.stopSignal);
    if (i.restart) args.push("--restart", i.restart);
    args.push(imageOf(c), ...(i.command ?? []));
    docker(...args);
    // Files the provider copies in before the start (Postgres's init script), with their modes.
    if (i.uploads?.length) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-uploads-"));
        for (const u of i.uploads) {
            fs.mkdirSync(path.join(dir, path.dirname(u.file)), { recursive: true });
            fs.writeFileSync(path.join(dir, u.file), u.content, { mode: parseInt(u.permissions ?? "644", 8) });
        }
        docker("cp", `${dir}/.`, `${i.name}:/`);
        fs.rmSync(dir, { recursive: true });
    }
    for (const n of more) docker("network", "connect", ...(n.aliases ?? []).flatMap((a: string) => ["--alias", a]), ...(n.ipv4Address ? ["--ip", n.ipv4Address] : []), n.name, i.name);
    docker("start", i.name);
}

function waitHealthy(name: string, seconds = 90): void {
    let status = "";
    for (let t = 0; t < seconds * 2; t++) {
        status = docker("inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", name);
        if (status === "healthy") return;
        spawnSync("sleep", ["0.5"]);
    }
    throw new Error(`${name} is ${status} per Docker after ${seconds}s: ${docker("logs", "--tail", "20", name)}`);
}

function runCommand(run: RunResult, name: string): void {
    const c = plain(run.resources.get(name)!.inputs);
    const step = /scripts\/release\/([\w-]+)\.sh$/.exec(c.create)![1];
    const r = runStep(step, c.environment, c.stdin);
    assert.strictEqual(r.status, 0, `${name}: ${r.stdout}${r.stderr}`);
}

// The fixture's teardown removes everything labelled with this stack, the program's volumes included.
const cleanup = () => new TestStack("specs").down();

describe("the program's declared specs on the real engine", function () {
    this.timeout(300000);
    let run: RunResult;

    before(async function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        cleanup();
        const built = spawnSync("docker", ["build", "-q", "-t", config.redis.image, "-"], { input: ROOT_DEFAULT_REDIS, encoding: "utf8" });
        assert.strictEqual(built.status, 0, built.stderr);
        // The engine's networks as the program would read them, so the subnets it picks are free here.
        const { networks } = dockerHostProbe(`switchyard/${STACK}`, `${PREFIX}-proxy`);
        run = await runProgram({ config, stack: STACK, host: { running: {}, retired: {}, swapLimit: true, stopped: [], networks } });
        const of = (type: string) => [...run.resources.values()].filter((r) => r.type === type);
        for (const n of of("docker:index/network:Network")) {
            const ipam = (n.inputs.ipamConfigs ?? []).flatMap((c: any) => ["--subnet", c.subnet, "--ip-range", c.ipRange, "--gateway", c.gateway]);
            docker("network", "create", ...(n.inputs.internal ? ["--internal"] : []), ...ipam, ...n.inputs.labels.flatMap((l: any) => ["--label", `${l.label}=${l.value}`]), n.inputs.name);
        }
        for (const v of of("docker:index/volume:Volume")) docker("volume", "create", ...v.inputs.labels.flatMap((l: any) => ["--label", `${l.label}=${l.value}`]), v.inputs.name);
        // In the engine's order: data services (wait: true), proxy, its config, slots, gates, switch.
        for (const name of ["postgres-container", "redis-container"]) {
            startContainer(run.resources.get(name)!);
            waitHealthy(plain(run.resources.get(name)!.inputs).name);
        }
        startContainer(run.resources.get("proxy-container")!);
        runCommand(run, "proxy-config");
        for (const c of of("docker:index/container:Container").filter((c) => c.name.startsWith("release-app-blue-"))) startContainer(c);
        for (const cmd of ["release-notify-config", "release-maintenance-toggle", "release-app-blue-gate", "release-gate", "release-backup-dump", "release-repoint", "release-verify", "release-retire"]) runCommand(run, cmd);
    });
    after(() => {
        cleanup();
        spawnSync("docker", ["rmi", config.redis.image]);
    });

    it("every container the program declares becomes healthy by its own healthcheck", () => {
        for (const c of [...run.resources.values()].filter((r) => r.type === "docker:index/container:Container")) waitHealthy(c.inputs.name);
    });

    it("the live listener answers from blue with the default security headers (no CSP: the app sends none); preview says no idle colour", async () => {
        const live = await get(18080, "/version");
        assert.strictEqual(live.status, 200);
        assert.strictEqual(live.headers["x-switchyard-color"], "blue");
        assert.deepStrictEqual(
            [live.headers["x-content-type-options"], live.headers["x-frame-options"], live.headers["referrer-policy"], live.headers["content-security-policy"]],
            ["nosniff", "SAMEORIGIN", "strict-origin-when-cross-origin", undefined],
        );
        const preview = await get(18081, "/");
        assert.strictEqual(preview.status, 503);
        assert.match(preview.body, /idle colour \(green\) is not running/);
    });

    it("the app reaches Postgres and Redis with the generated passwords (write, then read)", async () => {
        const w = await get(18080, "/visits", { method: "POST", body: "spec test" });
        assert.strictEqual(w.status, 201, w.body);
        const r = JSON.parse((await get(18080, "/visits?count=1")).body);
        assert.ok(r.rows >= 1 && r.counter >= 1, JSON.stringify(r));
    });

    it("app containers run as non-root with no capabilities; Postgres and Redis publish nothing", () => {
        for (const n of [`${PREFIX}-app-blue-1`, `${PREFIX}-app-blue-2`]) {
            assert.notStrictEqual(docker("exec", n, "id", "-u"), "0", `${n} runs as root`);
            assert.strictEqual(docker("inspect", "-f", "{{.HostConfig.CapDrop}}", n), "[ALL]");
        }
        for (const n of [`${PREFIX}-postgres`, `${PREFIX}-redis`]) {
            assert.strictEqual(docker("port", n), "", `${n} publishes ports`);
            // PID 1 is the server itself (exec form, or exec'd from the shell of REDIS_COMMAND).
            const uid = docker("exec", n, "awk", "/^Uid:/ { print $2 }", "/proc/1/status");
            assert.notStrictEqual(uid, "0", `${n}'s server runs as root (its image's USER is ${docker("image", "inspect", "-f", "{{.Config.User}}", docker("inspect", "-f", "{{.Config.Image}}", n)) || "root"})`);
        }
    });

    it("the app's Postgres role owns its database and is no superuser: it writes its tables, cannot run programs, and its dump passed", () => {
        const psql = (sql: string) => spawnSync("docker", ["exec", `${PREFIX}-postgres`, "psql", "-U", "app", "-d", "app", "-tAc", sql], { encoding: "utf8" });
        assert.strictEqual(psql("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user").stdout.trim(), "f|f|f");
        assert.strictEqual(psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()").stdout.trim(), "app");
        assert.strictEqual(psql("SELECT rolname FROM pg_roles WHERE rolsuper").stdout.trim(), "postgres", "the one superuser");
        assert.strictEqual(psql("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'visits'").stdout.trim(), "app", "the app made its table");
        const program = psql("COPY (SELECT 1) TO PROGRAM 'id'");
        assert.notStrictEqual(program.status, 0);
        assert.match(program.stderr, /permission denied|must be superuser|pg_execute_server_program/);
        // The backup step (in before) dumped as this role: its dump is in the store.
        assert.match(docker("run", "--rm", "--user", "0:0", "-v", `${PREFIX}-backups:/b`, "--entrypoint", "ls", "switchyard/postgres:local", "/b"), /\.dump$/m);
    });

    it("no password appears in any container's command line or in a release step's inputs", () => {
        for (const n of [`${PREFIX}-postgres`, `${PREFIX}-redis`, `${PREFIX}-proxy`]) {
            const cmd = docker("inspect", "-f", "{{json .Config.Cmd}} {{json .Config.Entrypoint}}", n);
            assert.doesNotMatch(cmd, /pw-/, `${n}: ${cmd}`);
        }
        // The backup (and a migration) need the password: only as a secret
        // environment value, never in command text or stdin.
        const needsIt = new Set(["PGPASSWORD", "DATABASE_URL"]);
        for (const c of [...run.resources.values()].filter((r) => r.type === "command:local:Command")) {
            const i = plain(c.inputs);
            assert.doesNotMatch(JSON.stringify([i.create, i.update, i.stdin ?? ""]), /pw-/, c.name);
            for (const [k, v] of Object.entries(i.environment as Record<string, string>)) {
                if (/pw-/.test(v)) assert.ok(needsIt.has(k) && JSON.stringify(c.inputs.environment).includes(SECRET_SIG), `${c.name}: ${k} carries a password`);
            }
        }
    });

    // The program plans each update from the real host (route marker, ledger,
    // labels); the difference to the previous run is applied in the engine's
    // order: new containers, then the changed steps in their dependsOn order,
    // then the containers that left the program (fact 4). Under load.
    const STEP_ORDER = ["proxy-config", "release-notify-config", "release-maintenance-toggle", "release-app-blue-gate", "release-app-green-gate", "release-app-blue-heal", "release-app-green-heal", "release-gate", "release-backup-dump", "release-repoint", "release-verify", "release-retire"];
    async function update(before: RunResult, cfg: Record<string, unknown>) {
        const after = await runProgram({ config: cfg, stack: STACK, host: dockerHostProbe(`switchyard/${STACK}`, `${PREFIX}-proxy`) });
        const d = diffRuns(before, after);
        for (const name of d.created) {
            const r = after.resources.get(name)!;
            if (r.type === "docker:index/container:Container") startContainer(r);
        }
        for (const step of STEP_ORDER) if (d.created.includes(step) || d.changed.includes(step)) runCommand(after, step);
        for (const name of d.deleted) {
            const r = before.resources.get(name)!;
            if (r.type === "docker:index/container:Container") docker("rm", "-f", r.inputs.name);
        }
        return { after, diff: d };
    }

    it("release, no-op, rollback, no-op: each planned from the real host, zero failed requests", async () => {
        const load = startLoadProcess({ port: 18080, rate: 200, durationMs: 120000 });
        await new Promise((r) => setTimeout(r, 3000)); // the worker is up and sending
        const release = { ...config, liveColor: "green", slots: { blue: { image: "switchyard/app:1.0.0" }, green: { image: "switchyard/app:1.1.0" } } };

        const r1 = await update(run, release);
        assert.deepStrictEqual(r1.diff.created, ["release-app-green", "release-app-green-1", "release-app-green-2", "release-app-green-gate", "release-app-green-heal", "release-app-green-image"]);
        assert.deepStrictEqual(r1.diff.changed, ["release-backup-dump", "release-gate", "release-repoint", "release-retire", "release-verify"]);
        assert.deepStrictEqual(r1.diff.deleted, ["release-app-blue", "release-app-blue-1", "release-app-blue-2", "release-app-blue-gate", "release-app-blue-heal", "release-app-blue-image"]);
        assert.strictEqual((await get(18080, "/version")).headers["x-switchyard-color"], "green");

        const r2 = await update(r1.after, release);
        assert.deepStrictEqual(r2.diff, { created: [], changed: [], deleted: [] }, "after a release, the next update changes nothing");
        assert.strictEqual(r2.after.outputs.idleState, "retired");

        const rollback = { ...release, liveColor: "blue" };
        const r3 = await update(r2.after, rollback);
        assert.deepStrictEqual(r3.diff.created, ["release-app-blue", "release-app-blue-1", "release-app-blue-2", "release-app-blue-gate", "release-app-blue-heal", "release-app-blue-image"]);
        assert.deepStrictEqual(r3.diff.deleted, ["release-app-green", "release-app-green-1", "release-app-green-2", "release-app-green-gate", "release-app-green-heal", "release-app-green-image"]);
        const blue = JSON.parse((await get(18080, "/version")).body);
        assert.deepStrictEqual(blue, { color: "blue", image: "switchyard/app:1.0.0", schema: 1 }, "rolled back to the pinned image");

        const r4 = await update(r3.after, rollback);
        assert.deepStrictEqual(r4.diff, { created: [], changed: [], deleted: [] });

        await new Promise((r) => setTimeout(r, 1000));
        const rep = await load.stop();
        console.log(`      load: ${rep.requests} requests, failed ${rep.failed}, p50 ${rep.p50} ms, p99 ${rep.p99} ms, by colour ${JSON.stringify(rep.byColour)}`);
        assert.deepStrictEqual(rep.errors, {}, describeFailures(rep));
        assert.ok(rep.byColour.green > 0 && rep.byColour.blue > 0);
    });

    it("the host read started with the program: its answer is used for the same read, another read is made afresh, and an engine that never answers fails in time", async () => {
        const env = dockerCliEnv(resolveDockerEndpoint(undefined));
        const ours = factsRequest(`switchyard/${STACK}`, `${PREFIX}-proxy`, env);
        const other = factsRequest(`switchyard/${STACK}-other`, `${PREFIX}-other-proxy`, env);
        const read = (answers: FactsAnswer[]) => {
            assert.strictEqual(answers.length, 1);
            assert.ok("facts" in answers[0], JSON.stringify(answers[0]));
            return answers[0].facts;
        };
        // The same read: the early answer, as a fresh one would have it (the proxy runs, its markers read).
        startFactsReader(() => [ours]);
        const early = read(readFactsSync([ours]));
        const fresh = read(readFactsSync([ours]));
        assert.ok(early.proxyRunning && early.markers !== undefined, "the early read found the proxy and its markers");
        assert.deepStrictEqual(early.containers.map((c) => c.name).sort(), fresh.containers.map((c) => c.name).sort());
        assert.strictEqual(early.markers, fresh.markers);
        // Another read than the early one: the answer is for what was asked.
        startFactsReader(() => [other]);
        const asked = read(readFactsSync([ours]));
        assert.ok(asked.proxyRunning, "the answer is for this stack's proxy, not the early read's");
        assert.deepStrictEqual(asked.containers.map((c) => c.name).sort(), fresh.containers.map((c) => c.name).sort());
        // An engine that takes the connection and never answers.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-silent-"));
        const silent = net.createServer(() => undefined);
        await new Promise<void>((r) => silent.listen(path.join(dir, "docker.sock"), r));
        try {
            const started = Date.now();
            assert.throws(() => readFactsSync([factsRequest("switchyard/silent", "silent-proxy", { DOCKER_HOST: `unix://${path.join(dir, "docker.sock")}` })], 500), /no answer within 0\.5 s/);
            assert.ok(Date.now() - started < 5000, `it gave up in ${Date.now() - started} ms`);
        } finally {
            silent.close();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("the delete guard, reading the real route, refuses deleting live blue and allows idle green", async () => {
        // The guard's read over the Engine API agrees with the docker CLI's.
        assert.strictEqual(await liveRoute(`${PREFIX}-proxy`), readRoute(`${PREFIX}-proxy`));
        assert.strictEqual(await liveRoute(`${PREFIX}-no-such-proxy`), undefined, "no proxy: no route");
        const route = () => liveRoute(`${PREFIX}-proxy`);
        const plan = { live: "blue", idle: "green", previousLive: "blue", switching: false, declared: ["blue"], idleState: "retired" } as const;
        const ctx = { stack: STACK, plan: { ...plan, declared: [...plan.declared] }, allow: new Set<never>(), route };
        assert.match((await refuseDelete({ role: "app", dockerName: `${PREFIX}-app-blue-1`, colour: "blue", dryRun: true }, ctx))!, /a container of blue, which serves live traffic now/);
        assert.strictEqual(await refuseDelete({ role: "app", dockerName: `${PREFIX}-app-green-1`, colour: "green", dryRun: false }, ctx), undefined);
    });
});
