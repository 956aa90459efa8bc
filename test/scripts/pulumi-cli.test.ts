// The program under the real Pulumi CLI and nodejs language host that
// `npm run setup` builds, on a throwaway file backend: invalid config fails
// `pulumi preview` and `pulumi up` with the one message that lists every
// problem, and leaves the stack empty.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PROJECT_FILES, pulumiBin, removeLabelled, REPO } from "./fixture";



describe("program under the real Pulumi CLI", function () {
    this.timeout(240000);
    let dir = "";
    let env: NodeJS.ProcessEnv = {};
    let pulumi = "";

    const run = (...args: string[]) => {
        const r = spawnSync(pulumi, args, { cwd: dir, env, encoding: "utf8", timeout: 180000 });
        return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
    };

    before(function () {
        const bin = pulumiBin();
        if (!bin) throw new Error("no pulumi CLI: run npm run setup (it builds the CLI and the nodejs language host)");
        pulumi = bin;
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-cli-"));
        for (const f of PROJECT_FILES) fs.cpSync(path.join(REPO, f), path.join(dir, f), { recursive: true, preserveTimestamps: true });
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"));
        fs.mkdirSync(path.join(dir, ".state"));
        env = {
            ...process.env,
            PATH: `${path.dirname(bin)}:${process.env.PATH}`,
            PULUMI_BACKEND_URL: `file://${path.join(dir, ".state")}`,
            PULUMI_CONFIG_PASSPHRASE: "switchyard-test-only",
            PULUMI_SKIP_UPDATE_CHECK: "true",
        };
        delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
        const init = run("stack", "init", "cfgcheck", "--secrets-provider", "passphrase");
        assert.strictEqual(init.status, 0, init.out);
    });
    after(() => {
        // The failed release below creates the networks and volumes before its up fails.
        removeLabelled("switchyard/cfgcheck");
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("invalid config: preview and up fail with every problem listed, and nothing is created", () => {
        for (const [key, value] of [["liveColor", "purple"], ["replicas", "0"], ["standbyy", "keep"]]) {
            assert.strictEqual(run("config", "set", `switchyard:${key}`, value).status, 0);
        }
        assert.strictEqual(run("config", "set", "--path", "switchyard:slots.blue.image", "switchyard/app:1.0.0").status, 0);
        for (const cmd of [["preview"], ["up", "--yes", "--skip-preview"]]) {
            const r = run(...cmd);
            assert.notStrictEqual(r.status, 0, r.out);
            assert.match(r.out, /Invalid Switchyard config for stack "cfgcheck" \(3 problems\); nothing was created or changed:/);
            assert.match(r.out, /switchyard:liveColor = "purple": must be one of blue \| green/);
            assert.match(r.out, /switchyard:replicas = 0: must be >= 1/);
            assert.match(r.out, /switchyard:standbyy: unknown key \(allowed here: environment, liveColor/);
            assert.doesNotMatch(r.out, /at Object\.<anonymous>|\.ts:\d+:\d+/, "the message, not a stack trace");
        }
        const exported = JSON.parse(run("stack", "export").out);
        const resources = (exported.deployment?.resources ?? []).filter((r: { type: string }) => !r.type.startsWith("pulumi:"));
        assert.deepStrictEqual(resources, []);
    });

    it("a password in plaintext config is refused without echoing it", () => {
        assert.strictEqual(run("config", "set", "switchyard:liveColor", "blue").status, 0);
        assert.strictEqual(run("config", "set", "switchyard:replicas", "2").status, 0);
        assert.strictEqual(run("config", "rm", "switchyard:standbyy").status, 0);
        assert.strictEqual(run("config", "set", "switchyard:postgresPassword", "plaintext-password-123").status, 0);
        const r = run("preview");
        assert.notStrictEqual(r.status, 0);
        assert.match(r.out, /switchyard:postgresPassword: is stored in plaintext; set it with `pulumi config set --secret postgresPassword <value>`/);
        assert.doesNotMatch(r.out, /plaintext-password-123/);
    });

    it("npm run release: when pulumi up fails before traffic moves, the config is put back and the exit is non-zero", () => {
        assert.strictEqual(run("config", "rm", "switchyard:postgresPassword").status, 0);
        const r = spawnSync("bash", ["ops/switchyard.sh", "release", "--stack", "cfgcheck", "--image", "switchyard/app:1.1.0"], { cwd: dir, env, encoding: "utf8", timeout: 180000 });
        const out = `${r.stdout}${r.stderr}`;
        assert.strictEqual(r.status, 1, out);
        assert.match(out, /^\[release +\d+\.\ds\] stack cfgcheck: releasing switchyard\/app:1\.1\.0 to green \(live now: blue\)$/m);
        assert.match(out, /FAILED: pulumi up failed \(above\); live traffic is on blue \(no proxy runs\)\. Config restored: liveColor=blue, slots\.green\.image=unset/);
        assert.strictEqual(run("config", "get", "switchyard:liveColor").out.trim(), "blue");
        assert.notStrictEqual(run("config", "get", "--path", "switchyard:slots.green.image").status, 0, "slots.green.image must be unset again");
    });

    it("npm run rollback refuses a colour with no image", () => {
        const r = spawnSync("bash", ["ops/switchyard.sh", "rollback", "--stack", "cfgcheck"], { cwd: dir, env, encoding: "utf8" });
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /FAILED: cannot roll back to green: slots\.green\.image is not set/);
    });

    it("npm run rollback -- --now says at once why traffic cannot move instantly, then falls back to the regular rollback", () => {
        // The failed release above left an empty slots.green: a config the instant rollback would refuse first.
        assert.strictEqual(run("config", "rm", "--path", "switchyard:slots.green").status, 0);
        const r = spawnSync("bash", ["ops/switchyard.sh", "rollback", "--now", "--stack", "cfgcheck"], { cwd: dir, env, encoding: "utf8" });
        const out = `${r.stdout}${r.stderr}`;
        // Why, from the engine itself: the stack's proxy was never made.
        assert.match(out, /^\[rollback +0\.\ds\] no instant rollback: the proxy does not answer \(exec in switchyard-cfgcheck-proxy at the local engine: No such container: switchyard-cfgcheck-proxy\); nothing was moved$/m, out);
        assert.match(out, /the regular rollback follows/);
        assert.match(r.stderr, /FAILED: cannot roll back to green: slots\.green\.image is not set/, "then the regular rollback's own checks");
        const release = spawnSync("bash", ["ops/switchyard.sh", "release", "--now", "--stack", "cfgcheck", "--image", "x:1"], { cwd: dir, env, encoding: "utf8" });
        assert.strictEqual(release.status, 1);
        assert.match(release.stderr, /--now is for rollback: a release to a new image is gated/);
    });
});
