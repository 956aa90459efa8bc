// npm run recover on a file backend whose sidecar file a killed `pulumi up`
// left truncated: Pulumi's file store writes `<stack>.json.attrs` in place,
// so a SIGKILL at that moment makes every command fail with "failed to load
// checkpoint: EOF" (seen once in the e2e kill scenario). Real CLI, real backend.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { missingForPreview } from "../../lib/plugins";
import { baseConfig, E2EStack, freePort } from "../e2e/harness";

describe("npm run recover: what a killed pulumi up leaves", function () {
    this.timeout(180000);
    let s: E2EStack | undefined;
    after(async () => s && (await s.destroy()));

    it("names and removes the truncated .attrs; the checkpoint reads again and nothing else changes", async function () {
        const missing = missingForPreview();
        if (missing.length) {
            console.log(`      SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        s = await E2EStack.create("r", baseConfig(await freePort(), await freePort()));
        const checkpoint = path.join(s.dir, ".state", ".pulumi", "stacks", "switchyard", `${s.name}.json`);
        const before = fs.readFileSync(checkpoint, "utf8");
        fs.writeFileSync(`${checkpoint}.attrs`, ""); // what a kill between create and write leaves
        const broken = s.cli(["stack", "export"]);
        assert.notStrictEqual(broken.status, 0);
        assert.match(broken.out, /failed to load checkpoint: EOF/, "the failure the e2e saw");

        const r = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", s.name], { cwd: s.dir, env: s.env, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`state: removed stacks/switchyard/${s.name}\\.json\\.attrs, cut short by the kill \\(the checkpoint it describes is intact\\)`));
        assert.strictEqual(s.cli(["stack", "export"]).status, 0, "the checkpoint reads again");
        assert.strictEqual(JSON.parse(fs.readFileSync(checkpoint, "utf8")).version, JSON.parse(before).version);

        const again = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", s.name], { cwd: s.dir, env: s.env, encoding: "utf8" });
        assert.match(again.stdout, /state: every file of the file backend reads back/);
    });

    it("a release step the killed update left running holds the recovery until it ends", async function () {
        if (!s) this.skip();
        const stack = s!;
        // A kill -9 of the CLI leaves its plugins, and the step one of them runs,
        // alive (each plugin has its own process group). Here: verify waiting
        // for a proxy that is not there yet, started the way the command
        // plugin starts it, outliving whatever started it.
        const step = spawn("bash", ["scripts/release/verify.sh"], {
            cwd: stack.dir,
            detached: true,
            stdio: "ignore",
            env: { ...stack.env, SWITCHYARD_PROXY: `switchyard-${stack.name}-proxy`, SWITCHYARD_STACK: `switchyard/${stack.name}`, SWITCHYARD_COLOR: "green", STANDBY: "retire", VERIFY_REQUESTS: "3", HEALTH_PATH: "/health", LIVE_SOCKET: "/run/switchyard-live.sock" },
        });
        try {
            await new Promise((r) => setTimeout(r, 500));
            const held = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", stack.name, "--wait-seconds", "3"], { cwd: stack.dir, env: stack.env, encoding: "utf8" });
            assert.strictEqual(held.status, 1, held.stdout + held.stderr);
            assert.match(held.stdout, new RegExp(`steps: the killed update's verify \\(pid ${step.pid}\\) still runs; waiting for it to end \\(0s so far\\)`));
            assert.match(held.stderr, new RegExp(`FAILED: steps of the killed update still run after 3s: verify \\(pid ${step.pid}\\); wait for them`));
            assert.doesNotMatch(held.stdout, /lock:|pending operations/, "nothing past the wait ran");
            const bad = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", stack.name, "--wait-seconds", "soon"], { cwd: stack.dir, env: stack.env, encoding: "utf8" });
            assert.match(bad.stderr, /--wait-seconds must be a whole number of seconds \(got 'soon'\)/);
            // Within the wait: recover goes on once the step ends (here it is stopped
            // 2.5 s after recover began waiting, however long its start took).
            let out = "";
            const waiting = new Promise<{ code: number | null; out: string }>((resolve) => {
                const r = spawn("bash", ["ops/switchyard.sh", "recover", "--stack", stack.name, "--wait-seconds", "60"], { cwd: stack.dir, env: stack.env });
                r.stdout.on("data", (d) => (out += d));
                r.stderr.on("data", (d) => (out += d));
                r.on("close", (code) => resolve({ code, out }));
            });
            for (let i = 0; i < 300 && !out.includes("still runs; waiting for it to end"); i++) await new Promise((r) => setTimeout(r, 100));
            await new Promise((r) => setTimeout(r, 2500));
            process.kill(step.pid!, "SIGKILL");
            const waited = await waiting;
            assert.strictEqual(waited.code, 0, waited.out);
            assert.match(waited.out, /steps: the killed update's last step ended after [2-5]s/);
            assert.match(waited.out, /done: the live listener routes to/);
        } finally {
            spawnSync("kill", ["-9", String(step.pid)]);
        }
        const after = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", stack.name], { cwd: stack.dir, env: stack.env, encoding: "utf8" });
        assert.strictEqual(after.status, 0, after.stdout + after.stderr);
        assert.match(after.stdout, /steps: none of the killed update still runs/);
    });

    it("stops only this project's orphaned plugins, and never cancels a lock it cannot see is dead (issue 16, finding 11)", async function () {
        if (!s) this.skip();
        const stack = s!;
        // Two idle processes named like provider plugins whose CLI is gone: one
        // started in this project's directory, one in another project's.
        const bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-plugin-")), "pulumi-resource-sytest");
        fs.copyFileSync("/bin/sleep", bin);
        fs.chmodSync(bin, 0o755);
        const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-other-project-"));
        const ours = spawn(bin, ["300"], { cwd: stack.dir, detached: true, stdio: "ignore" });
        const theirs = spawn(bin, ["301"], { cwd: elsewhere, detached: true, stdio: "ignore" });
        const alive = (pid: number) => spawnSync("kill", ["-0", String(pid)]).status === 0;
        try {
            await new Promise((r) => setTimeout(r, 300));
            const r = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", stack.name], { cwd: stack.dir, env: stack.env, encoding: "utf8" });
            assert.strictEqual(r.status, 0, r.stdout + r.stderr);
            assert.match(r.stdout, new RegExp(`stopped plugins the killed CLI left running: pulumi-resource-sytest \\(pid ${ours.pid}\\)`));
            await new Promise((res) => setTimeout(res, 200));
            assert.ok(!alive(ours.pid!), "this project's orphan is stopped");
            assert.ok(alive(theirs.pid!), "another project's process is left alone");

            // A backend whose locks this machine cannot inspect: no blind `pulumi cancel`.
            const cloud = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", stack.name], { cwd: stack.dir, env: { ...stack.env, PULUMI_BACKEND_URL: "s3://switchyard-nowhere/state" }, encoding: "utf8" });
            assert.strictEqual(cloud.status, 1, cloud.stdout + cloud.stderr);
            assert.match(cloud.stderr, /the backend \(s3:\/\/switchyard-nowhere\/state\) is not a local file backend, so recover cannot tell whether the update holding .*'s lock is dead; check .*then run recover again with --cancel/);
            assert.doesNotMatch(cloud.stdout, /lock:|pending operations/, "nothing was cancelled or refreshed");
        } finally {
            for (const c of [ours, theirs]) spawnSync("kill", ["-9", String(c.pid)]);
        }
    });

    it("a worker the killed update created but never started is removed; a running one not in the state is left, named", async function () {
        if (!s) this.skip();
        const stack = s!;
        // As the program labels them (components/processes.ts); the state holds neither.
        const label = (colour: string, proc: string) => ["--label", `switchyard.stack=${stack.names.stackLabel}`, "--label", "switchyard.role=process", "--label", `switchyard.colour=${colour}`, "--label", `switchyard.process=${proc}`];
        const created = `${stack.names.namePrefix}-worker-green-1`;
        const running = `${stack.names.namePrefix}-clock-blue-1`;
        const docker = (...args: string[]) => spawnSync("docker", args, { encoding: "utf8" });
        try {
            assert.strictEqual(docker("create", "--name", created, ...label("green", "worker"), "switchyard/debian-base:bookworm", "sleep", "300").status, 0);
            assert.strictEqual(docker("run", "-d", "--name", running, ...label("blue", "clock"), "switchyard/debian-base:bookworm", "sleep", "300").status, 0);
            const r = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", stack.name], { cwd: stack.dir, env: stack.env, encoding: "utf8" });
            assert.strictEqual(r.status, 1, r.stdout + r.stderr);
            assert.match(r.stdout, new RegExp(`orphans: removed ${created} \\(a green process container the killed update created; it never ran\\)`));
            assert.match(r.stderr, new RegExp(`orphans: ${running} \\(process blue\\) is not in the state and may serve traffic; left as is`));
            assert.match(r.stderr, /FAILED: 1 container\(s\) need a look \(above\)/);
            assert.notStrictEqual(docker("inspect", created).status, 0, "the never-started worker is gone");
            assert.strictEqual(docker("inspect", "-f", "{{.State.Running}}", running).stdout.trim(), "true", "the running one is left as it was");
        } finally {
            docker("rm", "-f", created, running);
        }
    });
});
