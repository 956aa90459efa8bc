// e2e: Switchyard as a component package. `npm pack` of this repository,
// installed into a throwaway Pulumi project outside it (its own name, its own
// program, BlueGreenApp from the installed package), then a real preview, up,
// a switch under load, a no-op up, then the package's operator CLI as a team
// runs it there (`npx switchyard status|rollback|release|recover|destroy`).
import * as assert from "assert";
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { requiredPlugins } from "../../lib/plugins";
import { killedSteps } from "../../ops/recover-procs";
import { describeFailures, get, startLoadProcess } from "../scripts/load";
import { docker, REPO } from "../scripts/fixture";
import { baseConfig, changed, dockerHealthy, E2EStack, freePort, missingParts, orphanedPlugins, say, sleep } from "./harness";

const PROJECT = "shop";
const RATE = 200;

/** The throwaway project's program: the package's component, settings from the stack's `switchyard:` config plus its own. */
const PROGRAM = `import { BlueGreenApp, settingsFromConfig } from "@switchyard/pulumi";

// The shop's program: the same settings Switchyard's own program reads, and
// one of its own in code.
const shop = new BlueGreenApp("shop", { ...settingsFromConfig(), replicas: 2 });

export const liveColor = shop.liveColor;
export const liveUrl = shop.liveUrl;
`;

function lockVersion(name: string): string {
    const lock = JSON.parse(fs.readFileSync(path.join(REPO, "package-lock.json"), "utf8"));
    return lock.packages[`node_modules/${name}`].version;
}

/** `npm pack` of the repository into dir: the tarball's path. */
function pack(dir: string): string {
    const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300000 });
    const json = out.slice(out.indexOf("["));
    return path.join(dir, JSON.parse(json)[0].filename);
}

describe("e2e: the component package installed into another Pulumi project (npm pack, real pulumi up)", function () {
    let s: E2EStack | undefined;
    let dir = "";
    let tarball = "";
    const ports = { live: 0, preview: 0 };
    /** The package's operator CLI, run in the project as a team runs it. */
    const switchyard = (command: string, ...args: string[]) => {
        const t = Date.now();
        const r = spawnSync("npx", ["--no-install", "switchyard", command, "--stack", s!.name, ...args], { cwd: dir, env: s!.env, encoding: "utf8", timeout: 600000 });
        say(`npx switchyard ${command}: exit ${r.status} in ${((Date.now() - t) / 1000).toFixed(1)}s`);
        return { status: r.status, out: `${r.stdout}${r.stderr}` };
    };

    before(async function () {
        const missing = missingParts();
        if (missing.length) {
            console.log(`e2e SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        ports.live = await freePort();
        ports.preview = await freePort();
    });

    after(async function () {
        if (s) await s.destroy();
        else if (dir && process.env.SWITCHYARD_E2E_KEEP !== "1") fs.rmSync(dir, { recursive: true, force: true });
        if (tarball) fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
    });

    it("P1. npm pack holds the compiled components, the release steps and the proxy template, and nothing of the repository's own tooling", () => {
        const t = Date.now();
        tarball = pack(fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-pack-")));
        const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
        say(`npm pack: ${path.basename(tarball)}, ${files.length} files, ${(fs.statSync(tarball).size / 1024).toFixed(0)} KiB in ${((Date.now() - t) / 1000).toFixed(1)}s`);
        for (const f of ["package.json", "dist/ops/main.js", "dist/ops/recover.js", "dist/components/index.js", "dist/components/index.d.ts", "dist/components/bluegreen.d.ts", "scripts/release/gate.sh", "scripts/release/engine.sh", "dist/engine/gate.js", "dist/engine/bake.js", "scripts/release/route-marker.env", "scripts/release/notify.js", "scripts/acme/renew.py", "nginx/nginx.conf.template"]) {
            assert.ok(files.includes(f), `the package holds ${f}`);
        }
        for (const prefix of ["test/", "ops/", "setup/", "bench/", "examples/", "policy/", "index.ts", "Pulumi."]) {
            assert.deepStrictEqual(files.filter((f) => f.startsWith(prefix)), [], `the package holds nothing under ${prefix}`);
        }
        const manifest = JSON.parse(execFileSync("tar", ["-xOzf", tarball, "package/package.json"], { encoding: "utf8" }));
        assert.strictEqual(manifest.main, "dist/components/index.js");
        assert.deepStrictEqual(manifest.bin, { switchyard: "dist/ops/main.js" }, "the operator CLI is the package's bin");
        for (const peer of ["@pulumi/pulumi", "@pulumi/docker", "@pulumi/command", "@pulumi/random"]) assert.ok(manifest.peerDependencies[peer], `${peer} is a peer: one SDK in the program`);
    });

    it("P2. installs into a project outside the repository, with the plugins' own versions", function () {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "shop-"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), `name: ${PROJECT}\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n`);
        fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM);
        fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "es2020", module: "commonjs", moduleResolution: "node", strict: true, esModuleInterop: true, skipLibCheck: true }, files: ["index.ts"] }, null, 2));
        const deps: Record<string, string> = { "@switchyard/pulumi": `file:${tarball}` };
        for (const p of requiredPlugins()) deps[`@pulumi/${p.name}`] = p.version;
        deps["@pulumi/pulumi"] = lockVersion("@pulumi/pulumi");
        const devDeps = { typescript: lockVersion("typescript"), "ts-node": lockVersion("ts-node"), "@types/node": lockVersion("@types/node") };
        fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: PROJECT, private: true, main: "index.ts", dependencies: deps, devDependencies: devDeps }, null, 2));
        const t = Date.now();
        const r = spawnSync("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], { cwd: dir, encoding: "utf8", timeout: 600000 });
        assert.strictEqual(r.status, 0, `npm install in ${dir}: ${r.stdout}${r.stderr}`);
        say(`npm install of the package and its peers in ${dir}: ${((Date.now() - t) / 1000).toFixed(1)}s`);
        const installed = path.join(dir, "node_modules", "@switchyard", "pulumi");
        assert.ok(!fs.lstatSync(installed).isSymbolicLink(), "a copy, not a link into the repository");
        assert.ok(fs.existsSync(path.join(installed, "scripts", "release", "repoint.sh")));
        // One SDK in the program: the package resolves the project's @pulumi/pulumi.
        const sdk = execFileSync(process.execPath, ["-p", `require.resolve("@pulumi/pulumi", { paths: [${JSON.stringify(installed)}] })`], { cwd: dir, encoding: "utf8" }).trim();
        assert.strictEqual(sdk, path.join(dir, "node_modules", "@pulumi", "pulumi", "index.js"));
    });

    it("P3. bad args are refused by the component, naming the key, before anything is created", async function () {
        s = await E2EStack.create("pkg", { ...baseConfig(ports.live, ports.preview), replicas: 1 }, { dir, name: PROJECT });
        fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM.replace("replicas: 2", "replicas: 0"));
        const bad = s.cli(["preview", "--non-interactive"]);
        fs.writeFileSync(path.join(dir, "index.ts"), PROGRAM);
        assert.notStrictEqual(bad.status, 0);
        assert.match(bad.out, /Invalid Switchyard args of BlueGreenApp "shop" \(1 problem\); nothing was created or changed:\s+- args\.replicas = 0: /);
        assert.deepStrictEqual(s.containers(), [], "no container");
    });

    it("P4. preview, then up: the steps run from the installed package, and state holds no path of this machine", async function () {
        const pv = await s!.preview("first");
        assert.ok(pv.changes.create >= 30, `the preview creates the stack (${pv.changes.create})`);
        const up = await s!.up("first");
        assert.strictEqual(up.changes.create, pv.changes.create, "up does what the preview said");
        assert.match(up.output, /\[verify +[\d.]+s\] verified: \d+ consecutive answers from blue/);
        const r = await get(ports.live, "/version");
        assert.strictEqual(JSON.parse(r.body).color, "blue");
        const state = s!.cli(["stack", "export"]).out;
        const commands = JSON.parse(state).deployment.resources.filter((x: any) => x.type === "command:local:Command");
        assert.ok(commands.length >= 6, "the release steps are in state");
        for (const c of commands) {
            assert.strictEqual(c.inputs.dir, path.join("node_modules", "@switchyard", "pulumi"), `${c.urn}: runs in the installed package, by a relative path`);
            assert.match(c.inputs.create, /^bash scripts\/release\/[a-z-]+\.sh$/);
        }
        assert.ok(!state.includes(dir) && !state.includes(REPO), "no absolute path of the project or the repository in state");
        assert.ok(commands.every((c: any) => /::shop-release-|::shop-proxy-/.test(c.urn)), "children named after the component");
        const prefix = `${PROJECT}-${s!.name}`;
        assert.deepStrictEqual(s!.containers().map((c) => c.name).sort(), ["app-blue-1", "app-blue-2", "postgres", "proxy", "redis"].map((n) => `${prefix}-${n}`).sort(), "Docker names follow the project and stack");
    });

    it("P5. a switch to green under load loses no request; a no-op up changes nothing", async function () {
        s!.writeConfig({ ...s!.readConfig(), liveColor: "green", slots: { blue: { image: "switchyard/app:1.0.0" }, green: { image: "switchyard/app:1.1.0" } } });
        const load = startLoadProcess({ port: ports.live, rate: RATE, durationMs: 10 * 60 * 1000 });
        let up;
        try {
            await sleep(2000);
            up = await s!.up("switch to green");
            await sleep(1500);
        } catch (err) {
            await load.stop().catch(() => undefined);
            throw err;
        }
        const r = await load.stop();
        say(`load during the switch: ${RATE}/s, ${r.requests} requests, failed ${r.failed}, p99 ${r.p99} ms, by colour ${JSON.stringify(r.byColour)}`);
        assert.deepStrictEqual(r.errors, {}, `failed requests\n${describeFailures(r)}`);
        assert.ok(r.samples.some((x) => x.method === "POST" && x.status === 201), "the load writes the database");
        assert.ok((r.byColour.blue ?? 0) > 0 && (r.byColour.green ?? 0) > 0, "served by blue, then green");
        assert.strictEqual(up.changes.replace, 0);
        assert.strictEqual(s!.route(), "green");
        const noop = await s!.up("no-op", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0);
    });

    it("P6. npx switchyard in the project: status reads its stack, a release under load loses no request", async function () {
        const st = switchyard("status");
        assert.strictEqual(st.status, 0, st.out);
        assert.match(st.out, new RegExp(`Switchyard status: stack ${s!.name}\n  proxy routes live traffic to: green`));
        assert.match(st.out, /green +live +2\/2 +switchyard\/app:1\.1\.0/);
        const load = startLoadProcess({ port: ports.live, rate: RATE, durationMs: 10 * 60 * 1000 });
        let rel;
        try {
            await sleep(1000);
            rel = switchyard("release", "--image", "switchyard/app:1.0.0");
            await sleep(1000);
        } catch (err) {
            await load.stop().catch(() => undefined);
            throw err;
        }
        const r = await load.stop();
        say(`load during npx switchyard release: ${RATE}/s, ${r.requests} requests, failed ${r.failed}, p99 ${r.p99} ms, by colour ${JSON.stringify(r.byColour)}`);
        assert.strictEqual(rel.status, 0, rel.out);
        assert.match(rel.out, /\[release +[\d.]+s\] stack \S+: releasing switchyard\/app:1\.0\.0 to blue \(live now: green\)/);
        assert.match(rel.out, new RegExp(`\\[release +[\\d.]+s\\] done: blue is live on stack ${s!.name}`));
        assert.deepStrictEqual(r.errors, {}, `failed requests\n${describeFailures(r)}`);
        assert.ok((r.byColour.green ?? 0) > 0 && (r.byColour.blue ?? 0) > 0, "served by green, then blue");
        assert.strictEqual(s!.route(), "blue");
        assert.strictEqual(s!.readConfig().liveColor, "blue", "the command wrote the stack's config");
    });

    it("P7. SIGKILL of npx switchyard rollback during the gate, then npx switchyard recover and up: one live colour, no orphans, 0 failed", async function () {
        // The SIGKILL-during-the-gate case of the recovery (release-cycle 6 takes the re-point and the drain), as a team meets it: its rollback command killed.
        const shared = Object.fromEntries([`${PROJECT}-${s!.name}-postgres`, `${PROJECT}-${s!.name}-redis`, s!.names.proxyContainer].map((n) => [n, s!.identity(n)]));
        const log = path.join(dir, "rollback-killed.log");
        let locked = "";
        let rec = { status: null as number | null, out: "" };
        let leftPlugins: string[] = [];
        const load = startLoadProcess({ port: ports.live, rate: RATE, durationMs: 10 * 60 * 1000 });
        try {
            await sleep(1000);
            const out = fs.openSync(log, "w");
            const child = spawn("npx", ["--no-install", "switchyard", "rollback", "--stack", s!.name], { cwd: dir, env: s!.env, detached: true, stdio: ["ignore", out, out] });
            const exited = new Promise((res) => child.on("exit", res));
            const t = Date.now();
            while (!killedSteps(s!.names.proxyContainer).some((x) => x.name === "gate")) {
                assert.ok(Date.now() - t < 180000, `the gate did not start within 180 s:\n${fs.readFileSync(log, "utf8")}`);
                await sleep(100);
            }
            process.kill(-child.pid!, "SIGKILL");
            await exited;
            say(`SIGKILLed npx switchyard rollback (its whole process group) during the gate, ${((Date.now() - t) / 1000).toFixed(1)}s in`);
            locked = s!.cli(["up", "--yes", "--skip-preview"]).out;
            rec = switchyard("recover");
            leftPlugins = orphanedPlugins();
            await s!.up("after recover");
            await sleep(1000);
        } catch (err) {
            await load.stop().catch(() => undefined);
            throw err;
        }
        const r = await load.stop();
        say(`load during the killed rollback, recover and up: ${RATE}/s, ${r.requests} requests, failed ${r.failed}, p99 ${r.p99} ms, by colour ${JSON.stringify(r.byColour)}`);
        console.log(rec.out.trim().replace(/^/gm, "        "));
        assert.match(locked, /currently locked/, `the killed update leaves its lock; the next up printed:\n${locked}`);
        assert.strictEqual(rec.status, 0, rec.out);
        // The CLI's plugins have process groups of their own: the kill leaves them, and the step one runs, alive.
        assert.match(rec.out, /steps: (none of the killed update still runs|the killed update's last step ended after \d+s)/);
        assert.match(rec.out, /lock: the killed update's lock is removed/);
        assert.match(rec.out, /done: the live listener routes to blue; run pulumi up to finish the release/);
        assert.deepStrictEqual(leftPlugins, [], "no plugin of the killed CLI stays behind");
        assert.deepStrictEqual(r.errors, {}, `failed requests\n${describeFailures(r)}`);
        assert.ok(r.samples.some((x) => x.method === "POST" && x.status === 201), "the load writes the database");
        // Settled: one live colour, healthy; route, config and outputs agree; no orphans, nothing pending; the shared services untouched.
        assert.strictEqual(s!.readConfig().liveColor, "green", "the killed rollback had set its config");
        assert.strictEqual(s!.route(), "green");
        assert.strictEqual((await get(ports.live, "/version")).headers["x-switchyard-color"], "green");
        const green = s!.containers(false).filter((c) => c.role === "app" && c.colour === "green");
        assert.strictEqual(green.length, 2, "green runs its replicas");
        for (const c of green) await dockerHealthy(c.name);
        assert.deepStrictEqual(s!.containers().map((c) => c.name).sort(), s!.stateContainerNames(), "Docker's containers and the state's match (no orphans)");
        assert.deepStrictEqual(JSON.parse(s!.cli(["stack", "export"]).out).deployment.pending_operations ?? [], [], "no pending operations");
        assert.strictEqual(JSON.parse(s!.cli(["stack", "output", "--json"]).out).liveColor, "green");
        for (const [name, id] of Object.entries(shared)) assert.strictEqual(s!.identity(name), id, `${name} was replaced or restarted`);
        const noop = await s!.up("no-op after recover", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0);
    });

    it("P8. npx switchyard destroy removes everything the component made", function () {
        const r = switchyard("destroy");
        assert.strictEqual(r.status, 0, r.out);
        assert.deepStrictEqual(s!.containers(), [], "no container of the stack is left");
        assert.strictEqual(docker("volume", "ls", "-q", "--filter", `name=${PROJECT}-${s!.name}-`), "", "no volume is left");
        assert.strictEqual(JSON.parse(s!.cli(["stack", "export"]).out).deployment.resources?.length ?? 0, 0, "the state is empty");
    });
});
