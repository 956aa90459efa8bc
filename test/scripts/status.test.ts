// npm run status against a real stack on the Docker engine: what runs, what
// the proxy routes to, and drift against the stack's liveColor.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { docker, dockerAvailable, REPO, runStep, TestStack } from "./fixture";

function waitDockerHealthy(name: string, seconds = 30): void {
    for (let i = 0; i < seconds * 2; i++) {
        if (docker("inspect", "-f", "{{.State.Health.Status}}", name) === "healthy") return;
        spawnSync("sleep", ["0.5"]);
    }
    throw new Error(`${name} is not healthy per Docker after ${seconds}s`);
}

describe("npm run status (real Docker engine)", function () {
    this.timeout(240000);
    const stack = new TestStack("status");
    const stackFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-status-")), "Pulumi.sytest-status.yaml");
    const status = () => {
        const r = spawnSync("npx", ["ts-node", "ops/status.ts", "--stack", stack.stack, "--stack-file", stackFile], { cwd: REPO, encoding: "utf8" });
        return { code: r.status, out: r.stdout, err: r.stderr };
    };
    const psqlCount = (where: string) => docker("exec", `${stack.prefix}-postgres`, "psql", "-U", "app", "-d", "app", "-tAc", `SELECT count(*) FROM visits WHERE ${where}`);
    const writeConfig = (liveColor: string) =>
        fs.writeFileSync(stackFile, `config:\n  switchyard:liveColor: ${liveColor}\n  switchyard:standby: retire\n`);

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        const blue = stack.startSlot("blue", 2);
        const green = stack.startSlot("green", 1, { image: "switchyard/app:1.1.0" });
        stack.passGate("blue", blue);
        stack.passGate("green", green);
        // status counts Docker's own health verdict: wait until Docker has one.
        for (const name of [...blue, ...green]) waitDockerHealthy(name);
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "retire" })).status, 0);
    });
    after(() => stack.down());

    it("shows each colour's state, healthy replicas and image, and exits 0 when config and route agree", () => {
        writeConfig("blue");
        const r = status();
        assert.strictEqual(r.code, 0, r.out + r.err);
        assert.match(r.out, /proxy routes live traffic to: blue/);
        assert.match(r.out, /blue +live +2\/2 +switchyard\/app:1\.0\.0/);
        assert.match(r.out, /green +staged +1\/1 +switchyard\/app:1\.1\.0/);
        assert.match(r.out, /postgres +running/);
        assert.doesNotMatch(r.out, /DRIFT/);
    });

    /** npm run exec / npm run logs on this stack (plain node with ts-node's transpiler, as npm runs them). */
    const opsRun = (cmd: "exec" | "logs", args: string[]) =>
        spawn(process.execPath, ["-r", "ts-node/register/transpile-only", `ops/${cmd}.ts`, "--stack", stack.stack, "--stack-file", stackFile, ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    const finished = (child: ReturnType<typeof opsRun>) =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
            let out = "";
            let err = "";
            child.stdout!.on("data", (d) => (out += d));
            child.stderr!.on("data", (d) => (err += d));
            child.on("close", (code) => resolve({ code, out, err }));
        });
    const jobs = () => docker("ps", "-aq", "--filter", `label=switchyard.stack=${stack.stackLabel}`, "--filter", "label=switchyard.role=job");

    it("npm run exec runs a command in the live release: its variables and secret, a write to Postgres, the exit code; no secret on any command line; nothing left", async () => {
        writeConfig("blue");
        // Reads the live colour's variable and secret (DATABASE_URL), writes a row, then exits with the code asked for.
        const script = `const { Client } = require("pg"); const c = new Client({ connectionString: process.env.DATABASE_URL });
            c.connect().then(() => c.query("INSERT INTO visits (color, note) VALUES ($1, 'from exec') RETURNING id", [process.env.SWITCHYARD_COLOR]))
             .then((r) => { console.log("inserted " + r.rows[0].id + " as " + process.env.SWITCHYARD_COLOR); return c.end(); })
             .then(() => setTimeout(() => process.exit(Number(process.argv[1])), 2500));`;
        const running = opsRun("exec", ["--", "node", "-e", script, "0"]);
        const done = finished(running);
        // While it runs: the one-off is a job (not a replica) and no password is on any command line, ours or docker's.
        let seen = "";
        for (let i = 0; i < 100 && !seen; i++) {
            seen = jobs();
            if (!seen) await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(seen, "the one-off container appeared");
        const commandLines = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout;
        const inspected = docker("inspect", "-f", "{{json .Path}} {{json .Args}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}", seen.split("\n")[0]);
        const r = await done;
        assert.strictEqual(r.code, 0, r.out + r.err);
        assert.match(r.out, /^inserted \d+ as blue$/m);
        assert.match(r.err, new RegExp(`^\\[exec +\\d+\\.\\ds\\] running \\["node","-e",.*\\] in blue's release \\(image sha256:[0-9a-f]{12} of ${stack.prefix}-app-blue-1\\)`, "m"));
        assert.strictEqual(psqlCount("note = 'from exec' AND color = 'blue'"), "1", "the row it wrote");
        assert.ok(!commandLines.includes(stack.pgPassword), "no password in ps");
        assert.ok(!inspected.includes(stack.pgPassword), `no password in the one-off's command: ${inspected}`);
        assert.strictEqual(jobs(), "", "the one-off is removed when it ends");

        const failing = await finished(opsRun("exec", ["--colour", "green", "--", "node", "-e", "console.log(process.env.SWITCHYARD_COLOR); process.exit(7)"]));
        assert.strictEqual(failing.code, 7, "the command's exit code passes through");
        assert.match(failing.out, /^green$/m, "--colour runs in the idle colour's release");
        const none = await finished(opsRun("exec", ["--colour", "purple", "--", "true"]));
        assert.strictEqual(none.code, 1);
        assert.match(none.err, /--colour purple is not a colour \(allowed: blue, green\)/);
        assert.strictEqual(jobs(), "");
    });

    it("npm run logs merges the lines of every replica of a colour, each with its container's name", async () => {
        const r = await finished(opsRun("logs", ["--colour", "blue", "--since", "30m"]));
        assert.strictEqual(r.code, 0, r.err);
        for (const replica of [`${stack.prefix}-app-blue-1`, `${stack.prefix}-app-blue-2`]) assert.match(r.out, new RegExp(`^${replica} \\| \\S+ \\[blue\\] `, "m"), `lines of ${replica}:\n${r.out}`);
        assert.doesNotMatch(r.out, /app-green-/, "only blue's");
        const bad = await finished(opsRun("logs", ["--since", "yesterday"]));
        assert.strictEqual(bad.code, 1);
        assert.match(bad.err, /--since yesterday: must be a duration such as 30s, 10m or 2h/);
    });

    it("marks a colour below its replica count with why each replica stopped, and exits 3", () => {
        writeConfig("blue");
        docker("kill", `${stack.prefix}-app-blue-2`);
        const r = status();
        assert.strictEqual(r.code, 3, r.out + r.err);
        assert.match(r.out, /!! blue runs 1 of 2 replicas; the next pulumi up starts the others again \(gated\):/);
        assert.match(r.out, new RegExp(`${stack.prefix}-app-blue-2: killed \\(SIGKILL, exit 137: stopped from outside, such as docker kill\\)`));
        docker("start", `${stack.prefix}-app-blue-2`);
        waitDockerHealthy(`${stack.prefix}-app-blue-2`);
        assert.strictEqual(status().code, 0, "whole again");
    });

    it("says loudly when the proxy routes elsewhere than liveColor, and exits 2", () => {
        writeConfig("green");
        const r = status();
        assert.strictEqual(r.code, 2);
        assert.match(r.out, /DRIFT: Pulumi\.sytest-status\.yaml says liveColor=green, but the proxy routes to blue\./);
    });

    it("shows a retired colour with the image it was retired with", () => {
        writeConfig("green");
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "retire" })).status, 0);
        assert.strictEqual(runStep("retire", stack.env({ RETIRE_COLOR: "blue", DRAIN_SECONDS: "2", APP_PORT: "3000", STOP_GRACE_SECONDS: "5" })).status, 0);
        const r = status();
        assert.strictEqual(r.code, 0, r.out);
        assert.match(r.out, /green +live +1\/1 +switchyard\/app:1\.1\.0/);
        assert.match(r.out, /blue +retired +0\/2 +switchyard\/app:1\.0\.0/);
    });

    it("follows the stack's docker:host (issue 15): another host is the one it asks", () => {
        const other = fs.readFileSync(stackFile, "utf8") + "  docker:host: unix:///run/switchyard-no-such-engine.sock\n";
        const file = path.join(path.dirname(stackFile), "Pulumi.sytest-status-otherhost.yaml");
        fs.writeFileSync(file, other);
        const r = spawnSync("npx", ["ts-node", "ops/status.ts", "--stack", stack.stack, "--stack-file", file], { cwd: REPO, encoding: "utf8" });
        assert.notStrictEqual(r.status, 0, r.stdout);
        assert.match(`${r.stdout}${r.stderr}`, /switchyard-no-such-engine\.sock/, "it asked the configured engine, not the local one");
    });

    it("follows the project name in Pulumi.yaml (issue 15): a project named otherwise finds its own containers", () => {
        // A copy of the ops commands (and the built engine, which reads the host) in a project named "shop": its stack sytest-status has no containers here.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-project-"));
        for (const f of ["scripts", "ops", "setup", "lib", "engine", "dist", "nginx", "components", "package.json", "tsconfig.json"]) fs.cpSync(path.join(REPO, f), path.join(dir, f), { recursive: true });
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8").replace(/^name: .*$/m, "name: shop"));
        try {
            const r = spawnSync("npx", ["ts-node", "ops/status.ts", "--stack", stack.stack, "--stack-file", stackFile], { cwd: dir, encoding: "utf8" });
            const out = `${r.stdout}${r.stderr}`;
            assert.doesNotMatch(out, /switchyard-sytest-status-app-blue-1/, "the switchyard project's containers are not shop's");
            assert.match(out, /shop-sytest-status|no proxy|not running|none/i, out);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("rejects a missing --stack with a clear message", () => {
        const r = spawnSync("npx", ["ts-node", "ops/status.ts"], { cwd: REPO, encoding: "utf8" });
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /status: --stack NAME is required \(got nothing\)/);
    });
});
