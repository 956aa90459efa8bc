// The package's operator CLI (ops/main.ts, `npx switchyard`): which project and
// backend it acts on, and recover's reads, without Pulumi or Docker. The
// commands run for real in test/scripts (recover, release, rollback, destroy)
// and in the package e2e (npx switchyard in a project that installed it).
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { projectDir, projectName } from "../../ops/cli";
import { COMMANDS } from "../../ops/main";
import { containersInState } from "../../ops/recover";
import { backendUrl, fileBackendRoot, idlePlugins, isRunning, truncatedSidecars } from "../../ops/recover-procs";

const REPO = path.resolve(__dirname, "..", "..");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-cli-"));
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO, "dist", "ops", "main.js"), ...args], { cwd: REPO, encoding: "utf8", env: { ...process.env, PULUMI_BACKEND_URL: "file:///nonexistent-switchyard-test" } });

describe("the operator CLI (ops/main.ts)", () => {
    it("acts on the nearest Pulumi project up from the working directory, never on the package's own", () => {
        const dir = tmp();
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: shop\nruntime: nodejs\n");
        fs.mkdirSync(path.join(dir, "src", "deep"), { recursive: true });
        assert.strictEqual(projectDir(path.join(dir, "src", "deep")), dir);
        assert.strictEqual(projectName(projectDir(path.join(dir, "src"))), "shop");
        const none = tmp();
        assert.throws(() => projectDir(none), new RegExp(`no Pulumi.yaml in ${none} or above it: run this in your Pulumi project's directory`));
    });

    it("names its commands, and refuses an unknown one with the list, exit 2", () => {
        assert.deepStrictEqual(Object.keys(COMMANDS).sort(), ["backups", "destroy", "exec", "logs", "plan", "recover", "release", "restore", "rollback", "status"]);
        const r = cli("deploy", "--stack", "x");
        assert.strictEqual(r.status, 2);
        assert.match(r.stderr, /switchyard: unknown command 'deploy' \(allowed: status, release, rollback, recover, plan, backups, restore, exec, logs, destroy\)/);
        const help = cli("--help");
        assert.strictEqual(help.status, 0);
        assert.match(help.stdout, /^usage: switchyard COMMAND --stack NAME/);
    });

    it("refuses bad arguments before any Pulumi or Docker call, naming the argument", () => {
        const noImage = cli("release", "--stack", "nowhere");
        assert.strictEqual(noImage.status, 1);
        assert.match(noImage.stderr, /^\[release +0\.\ds\] FAILED: --image IMAGE is required \(the image to release to the idle colour\)$/m);
        const now = cli("release", "--stack", "nowhere", "--image", "app:2", "--now");
        assert.match(now.stderr, /FAILED: --now is for rollback: a release to a new image is gated/);
        const wait = cli("recover", "--stack", "nowhere", "--wait-seconds", "-1");
        assert.match(wait.stderr, /FAILED: --wait-seconds must be a whole number of seconds \(got '-1'\)/);
        const unknown = cli("rollback", "--stack", "nowhere", "--image", "x");
        assert.match(unknown.stderr, /rollback: unknown argument --image \(allowed: --stack NAME, --stack-file PATH, --now\)/);
        const stack = cli("status");
        assert.match(stack.stderr, /status: --stack NAME is required \(got nothing\)/);
    });

    it("recover finds a file backend where the CLI does: PULUMI_BACKEND_URL, else `pulumi login`'s", () => {
        assert.strictEqual(fileBackendRoot("file:///var/state?no_legacy=true"), "/var/state");
        assert.strictEqual(fileBackendRoot("s3://bucket/state"), undefined);
        assert.strictEqual(fileBackendRoot(undefined), undefined, "Pulumi Cloud");
        const home = tmp();
        assert.strictEqual(backendUrl({ PULUMI_HOME: home }), undefined, "nothing logged in: Pulumi Cloud");
        fs.writeFileSync(path.join(home, "credentials.json"), JSON.stringify({ current: "file:///srv/pulumi" }));
        assert.strictEqual(backendUrl({ PULUMI_HOME: home }), "file:///srv/pulumi");
        assert.strictEqual(backendUrl({ PULUMI_HOME: home, PULUMI_BACKEND_URL: "s3://b" }), "s3://b", "the environment wins, as for the CLI");
    });

    it("recover counts a killed update's zombie as dead: it holds no lock any more", async () => {
        // `sleep 0` becomes the child of `sleep 3`, which never reaps it: a zombie for 3 s.
        const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 3"], { stdio: ["ignore", "pipe", "ignore"] });
        const pid = Number(await new Promise<string>((res) => parent.stdout.once("data", (d) => res(String(d)))));
        await new Promise((res) => setTimeout(res, 300));
        assert.match(fs.readFileSync(`/proc/${pid}/stat`, "utf8"), /\) Z /, "a zombie (kill -0 would find it)");
        assert.strictEqual(isRunning(pid), false);
        assert.strictEqual(isRunning(parent.pid!), true);
        parent.kill("SIGKILL");
    });

    it("recover names only the sidecars a kill cut short", () => {
        const dir = tmp();
        fs.mkdirSync(path.join(dir, "stacks", "shop"), { recursive: true });
        fs.writeFileSync(path.join(dir, "stacks", "shop", "prod.json.attrs"), "");
        fs.writeFileSync(path.join(dir, "stacks", "shop", "prod.json.attrs.bak"), "");
        fs.writeFileSync(path.join(dir, "stacks", "shop", "staging.json.attrs"), '{"Checksum":"x"}');
        fs.writeFileSync(path.join(dir, "stacks", "shop", "dev.json.attrs"), '{"Checksum":');
        assert.deepStrictEqual(truncatedSidecars(dir).map((f) => path.relative(dir, f)).sort(), ["stacks/shop/dev.json.attrs", "stacks/shop/prod.json.attrs"]);
        assert.deepStrictEqual(truncatedSidecars(path.join(dir, "missing")), []);
    });

    it("recover tells the state's containers apart by the Docker host of their provider", () => {
        const provider = (name: string, host: string) => ({ urn: `urn:pulumi:p::shop::pulumi:providers:docker::${name}`, id: `id-${name}`, type: "pulumi:providers:docker", outputs: { host } });
        const container = (name: string, p: string) => ({ urn: `urn:c::${name}`, type: "docker:index/container:Container", provider: `urn:pulumi:p::shop::pulumi:providers:docker::${p}::id-${p}`, outputs: { name } });
        const resources = [provider("a", "ssh://a"), provider("b", "tcp://b:2376"), container("shop-p-proxy", "a"), container("shop-p-proxy", "b"), container("shop-p-postgres", "b"), { urn: "urn:v", type: "docker:index/volume:Volume", outputs: { name: "shop-p-pg" } }];
        assert.deepStrictEqual([...containersInState(resources, "tcp://b:2376")].sort(), ["shop-p-postgres", "shop-p-proxy"]);
        assert.deepStrictEqual([...containersInState(resources, "ssh://a")], ["shop-p-proxy"]);
        assert.deepStrictEqual([...containersInState(resources, undefined)].sort(), ["shop-p-postgres", "shop-p-proxy"], "one host: every container");
    });

    it("recover stops the plugins a killed CLI left in this project: idle ones, the docker provider's ssh sessions being no work", () => {
        const D = "/root/.pulumi/plugins/resource-docker-v4.11.2/pulumi-resource-docker";
        const C = "/root/.pulumi/plugins/resource-command-v1.2.1/pulumi-resource-command";
        const L = "/root/.pulumi/bin/pulumi-language-nodejs";
        const table = [
            { pid: 10, ppid: 1, cmd: [D, "127.0.0.1:4000"] }, // orphan, idle
            { pid: 11, ppid: 1, cmd: [D, "127.0.0.1:4000"] }, // orphan with an ssh:// host's session
            { pid: 12, ppid: 11, cmd: ["ssh", "-o", "BatchMode=yes", "--", "m1", "docker", "system", "dial-stdio"] },
            { pid: 13, ppid: 1, cmd: [C, "127.0.0.1:4000"] }, // orphan still running a step
            { pid: 14, ppid: 13, cmd: ["/bin/sh", "-c", "bash scripts/release/retire.sh"] },
            { pid: 15, ppid: 1, cmd: [L, "127.0.0.1:4000"] }, // the killed CLI's language host, its program gone
            { pid: 16, ppid: 20, cmd: [D, "127.0.0.1:5000"] }, // a live CLI's
            { pid: 20, ppid: 1, cmd: ["pulumi", "up"] },
            { pid: 17, ppid: 1, cmd: [D, "127.0.0.1:6000"] }, // another project's orphan
            { pid: 18, ppid: 1, cmd: [D] }, // not a plugin serving an engine
        ];
        const comm = (pid: number) => (pid === 20 ? "pulumi" : "init");
        const cwd = (pid: number) => (pid === 17 ? "/srv/other" : "/srv/shop");
        assert.deepStrictEqual(idlePlugins(table, "/srv/shop", comm, cwd), [
            { pid: 10, name: "pulumi-resource-docker" },
            { pid: 11, name: "pulumi-resource-docker" },
            { pid: 15, name: "pulumi-language-nodejs" },
        ]);
    });
});
