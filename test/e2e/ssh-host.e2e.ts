// A stack on a Docker host reached over ssh://, under a real `pulumi up`: a
// second engine on this machine (test/e2e/engines.ts) behind an sshd on
// 127.0.0.1, named in `docker:host`. The provider, the host reader and every
// release step (gate, re-point, verify, bake, retire) go through ssh; nothing
// lands on the machine's own engine. Load on the stack's live listener
// (127.0.0.1, published by that engine): GET and POST through Postgres.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import { describeFailures, get, LoadReport } from "../scripts/load";
import { ExtraEngine } from "./engines";
import { baseConfig, changed, E2EStack, freePort, missingParts, say, withLoad } from "./harness";

const LOAD_RATE = 100;
const IMAGES = ["switchyard/app:1.0.0", "switchyard/app:1.1.0", "switchyard/nginx:local", "switchyard/postgres:local", "switchyard/redis:local"];

describe("e2e: a stack on a Docker host reached over ssh://", function () {
    let s: E2EStack;
    let engine: ExtraEngine;
    let live = 0;
    let shared: Record<string, string> = {};
    const savedDockerHost = process.env.DOCKER_HOST;

    const setConfig = (patch: Record<string, unknown>) => s.writeConfig({ ...s.readConfig(), ...patch });
    /** An update under load: every request must succeed. */
    async function underLoad(label: string, fn: () => Promise<unknown>): Promise<LoadReport> {
        const rep = await withLoad({ port: live, rate: LOAD_RATE, durationMs: 10 * 60 * 1000 }, fn);
        say(`load ${label} at ${LOAD_RATE} req/s: ${rep.requests} requests, failed ${rep.failed}, p99 ${rep.p99} ms, by colour ${JSON.stringify(rep.byColour)}`);
        assert.deepStrictEqual(rep.errors, {}, `${label}: failed requests\n${describeFailures(rep)}`);
        return rep;
    }

    before(async function () {
        const missing = missingParts();
        if (missing.length) {
            console.log(`e2e SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        const noEngine = ExtraEngine.missing();
        if (noEngine) throw new Error(`a second engine over ssh needs: ${noEngine}`);
        engine = new ExtraEngine("h1", "10.213.0.0/16", await freePort());
        await engine.start(IMAGES);
        // The harness's docker calls (containers, identities, route) go to that engine.
        process.env.DOCKER_HOST = engine.unixHost;
        live = await freePort();
        s = await E2EStack.create("ssh", { ...baseConfig(live, await freePort()), bake: { seconds: 8, maxErrorPercent: 1, minRequests: 50 }, backups: { enabled: false } });
        await s.stack.setConfig("docker:host", { value: engine.sshHost });
    });

    let removed = false;
    async function removeAll(): Promise<void> {
        if (removed) return;
        removed = true;
        try {
            if (s) await s.destroy();
        } finally {
            if (savedDockerHost === undefined) delete process.env.DOCKER_HOST;
            else process.env.DOCKER_HOST = savedDockerHost;
            engine?.stop();
        }
    }
    after(removeAll);

    it("1. fresh up over ssh: everything on the ssh host, nothing on this machine's engine", async () => {
        const up = await s.up("fresh over ssh");
        assert.match(up.output, new RegExp(`Docker host ${engine.sshHost}, from config docker:host`));
        const names = s.containers(false).map((c) => `${c.role}${c.colour ? `-${c.colour}` : ""}`);
        assert.deepStrictEqual(names.sort(), ["app-blue", "app-blue", "postgres", "proxy", "redis"]);
        const onMain = execFileSync("docker", ["-H", "unix:///var/run/docker.sock", "ps", "-aq", "--filter", `label=switchyard.stack=${s.names.stackLabel}`], { encoding: "utf8" }).trim();
        assert.strictEqual(onMain, "", "no container of the stack on this machine's own engine");
        assert.strictEqual((await get(live, "/version")).headers["x-switchyard-color"], "blue");
        for (const name of [`${s.names.namePrefix}-postgres`, `${s.names.namePrefix}-redis`, s.names.proxyContainer]) shared[name] = s.identity(name);
        say(`figures: fresh up over ssh ${up.seconds.toFixed(1)} s, ${up.changes.create} created`);
    });

    it("2. release green and roll back to blue over ssh, each baked, under load: 0 failed", async () => {
        let release = 0;
        let output = "";
        const rel = await underLoad("ssh release green", async () => {
            setConfig({ slots: { ...s.readConfig().slots, green: { image: "switchyard/app:1.1.0" } }, liveColor: "green" });
            const up = await s.up("release green over ssh");
            release = up.seconds;
            output = up.output;
        });
        assert.match(output, /baked: green held for 8s: \d+ requests, 0 5xx/);
        assert.strictEqual(s.route(), "green");
        assert.deepStrictEqual(s.containers(false).filter((c) => c.role === "app").map((c) => c.colour), ["green", "green"], "blue retired");
        let rollback = 0;
        const back = await underLoad("ssh rollback blue", async () => {
            await s.stack.setConfig("switchyard:liveColor", { value: "blue" });
            rollback = (await s.up("rollback blue over ssh")).seconds;
        });
        assert.strictEqual(s.route(), "blue");
        assert.strictEqual((await get(live, "/version")).headers["x-switchyard-color"], "blue");
        for (const [name, id] of Object.entries(shared)) assert.strictEqual(s.identity(name), id, `${name} was replaced or restarted`);
        say(`figures: over ssh, release ${release.toFixed(1)} s (${rel.requests} requests, 0 failed, p99 ${rel.p99} ms), rollback ${rollback.toFixed(1)} s (${back.requests} requests, 0 failed, p99 ${back.p99} ms)`);
    });

    it("3. a no-op up over ssh changes nothing", async () => {
        const up = await s.up("no-op over ssh", { expectNoChanges: true });
        assert.strictEqual(changed(up.changes), 0, JSON.stringify(up.changes));
        say(`figures: no-op over ssh ${up.seconds.toFixed(1)} s, ${up.changes.same} unchanged`);
    });

    it("4. destroyed and stopped: nothing left on the ssh host, and this machine's engine as it was (docker0, docker run)", async () => {
        await removeAll();
        assert.strictEqual(spawnSync("ip", ["link", "show", "docker0"]).status, 0, "the main engine's default bridge docker0 is still there");
        const r = spawnSync("docker", ["-H", "unix:///var/run/docker.sock", "run", "--rm", "switchyard/redis:local", "true"], { encoding: "utf8" });
        assert.strictEqual(r.status, 0, `docker run on the main engine: ${r.stderr}`);
        assert.ok(!fs.existsSync(engine.root), `${engine.root} removed`);
    });
});
