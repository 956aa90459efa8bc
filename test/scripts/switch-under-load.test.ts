// The claim, at the level of the release steps: under constant load (keep-alive
// and Connection: close clients, GET and POST), repeated re-points between two
// running colours drop no request, and after each verify every answer comes
// from the new colour.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { CLOSING_MARKER, PREVIOUS_LIVE, STATE_DIR } from "../../lib/routemarker";
import { docker, dockerAvailable, IMAGES, nginxWorkers, REPO, runStep, runStepAsync, TestStack } from "./fixture";
import { get, startLoad } from "./load";

describe("switch under constant load (real Docker engine)", function () {
    this.timeout(300000);
    const stack = new TestStack("load");

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        for (const colour of ["blue", "green"] as const) {
            const names = stack.startSlot(colour, 2);
            const gate = runStep("gate", stack.gateEnv(colour, names));
            assert.strictEqual(gate.status, 0, gate.stderr);
        }
    });
    after(() => stack.down());

    it("10 switches at 250 requests/s: zero failed requests, answers follow the route, every write kept", async () => {
        const before = JSON.parse((await get(stack.livePort, "/visits?count=1")).body);
        const load = startLoad({ port: stack.livePort, rate: 250, durationMs: 24000 });
        // begin: the re-point started; at: it had flipped the marker.
        const switches: { colour: string; begin: number; at: number }[] = [];
        const t0 = Date.now();
        await new Promise((r) => setTimeout(r, 2000));
        for (let i = 0; i < 10; i++) {
            const colour = i % 2 === 0 ? "green" : "blue";
            const begin = Date.now() - t0;
            const repoint = await runStepAsync("repoint", stack.env({ SWITCHYARD_COLOR: colour, STANDBY: "keep" }));
            assert.strictEqual(repoint.status, 0, repoint.stderr);
            switches.push({ colour, begin, at: Date.now() - t0 });
            const verify = await runStepAsync("verify", stack.env({ SWITCHYARD_COLOR: colour, STANDBY: "keep", VERIFY_REQUESTS: "5", HEALTH_PATH: "/health" }));
            assert.strictEqual(verify.status, 0, verify.stderr);
            await new Promise((r) => setTimeout(r, 1500));
        }
        const rep = await load.done;
        const keepAlive = rep.samples.filter((s) => s.keepAlive).length;
        const posts = rep.samples.filter((s) => s.method === "POST").length;
        console.log(`      load: ${rep.requests} requests (${keepAlive} keep-alive, ${posts} POST), failed ${rep.failed}, p50 ${rep.p50} ms, p99 ${rep.p99} ms, by colour ${JSON.stringify(rep.byColour)}`);
        assert.ok(rep.requests >= 250 * 20, `only ${rep.requests} requests`);
        assert.deepStrictEqual(rep.errors, {}, `failed requests: ${JSON.stringify(rep.errors)}`);
        assert.strictEqual(rep.failed, 0);
        // Every acknowledged write (POST /visits -> 201) is in the shared Postgres and Redis afterwards.
        const acknowledged = rep.samples.filter((s) => s.method === "POST" && s.status === 201).length;
        const after = JSON.parse((await get(stack.livePort, "/visits?count=1")).body);
        assert.strictEqual(after.rows - before.rows, acknowledged, "rows written during the switches");
        assert.strictEqual(after.counter - before.counter, acknowledged, "counter increments during the switches");
        // Requests started from 200 ms after a re-point until 200 ms before the
        // next one began answered from the new colour only.
        for (let i = 0; i < switches.length; i++) {
            const from = switches[i].at + 200;
            const to = i + 1 < switches.length ? switches[i + 1].begin - 200 : Infinity;
            const window = rep.samples.filter((s) => s.at >= from && s.at < to);
            const wrong = window.filter((s) => s.colour !== switches[i].colour);
            assert.deepStrictEqual(wrong.length, 0, `switch ${i + 1} to ${switches[i].colour}: ${wrong.length} of ${window.length} answers from another colour`);
        }
    });

    it("rollback --now at 250 requests/s: traffic on the kept colour within the second of the command, zero failed; a colour that does not answer is not switched to", async () => {
        const from = (await get(stack.livePort, "/version")).headers["x-switchyard-color"] as string;
        const to = from === "blue" ? "green" : "blue";
        // The stack's config file beside a Pulumi.yaml, as the command reads them: liveColor still says `from`.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-now-"));
        fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: switchyard\nruntime: nodejs\n");
        const file = path.join(dir, `Pulumi.${stack.stack}.yaml`);
        fs.writeFileSync(file, `config:\n  switchyard:liveColor: ${from}\n  switchyard:standby: keep\n  switchyard:slots:\n    blue:\n      image: ${IMAGES.app}\n    green:\n      image: ${IMAGES.app}\n`);
        const now = () => {
            const startedAt = Date.now();
            const r = spawnSync(process.execPath, [path.join(REPO, "dist", "engine", "rollback-now.js"), "--stack", stack.stack, "--stack-file", file], { encoding: "utf8" });
            return { status: r.status, out: `${r.stdout}${r.stderr}`, startedAt, endedAt: Date.now() };
        };

        // The colour to go back to does not answer: nothing moves, and the caller is told to fall back.
        const paused = stack.running(to as "blue" | "green");
        for (const c of paused) docker("pause", c);
        let refused: ReturnType<typeof now>;
        try {
            refused = now();
        } finally {
            for (const c of paused) docker("unpause", c);
        }
        assert.strictEqual(refused.status, 3, refused.out);
        assert.match(refused.out, new RegExp(`no instant rollback: ${to} does not answer: .*no response.*; nothing was moved`));
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-color"], from, "the route did not move");

        const load = startLoad({ port: stack.livePort, rate: 250, durationMs: 6000 });
        await new Promise((r) => setTimeout(r, 2000));
        const r = await new Promise<{ status: number | null; out: string; startedAt: number; endedAt: number }>((resolve) => {
            const startedAt = Date.now();
            const child = spawn(process.execPath, [path.join(REPO, "dist", "engine", "rollback-now.js"), "--stack", stack.stack, "--stack-file", file]);
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("close", (status) => resolve({ status, out, startedAt, endedAt: Date.now() }));
        });
        const rep = await load.done;
        assert.strictEqual(r.status, 0, r.out);
        assert.match(r.out, new RegExp(`live listener re-pointed: ${from} -> ${to} \\(no reload\\)`));
        assert.deepStrictEqual(rep.errors, {}, `failed requests: ${JSON.stringify(rep.errors)}`);
        const firstServed = Math.min(...rep.samples.filter((x) => rep.startedAt + x.at >= r.startedAt && x.colour === to).map((x) => rep.startedAt + x.at + x.latencyMs)) - r.startedAt;
        const late = rep.samples.filter((x) => rep.startedAt + x.at > r.endedAt && x.colour !== to);
        console.log(`      rollback --now: first request served by ${to} ${firstServed} ms after the command started (command ${r.endedAt - r.startedAt} ms), ${rep.requests} requests, failed ${rep.failed}`);
        assert.deepStrictEqual(late, [], `every request after the command came from ${to}`);
        assert.ok(firstServed < 1000, `first request served by ${to} ${firstServed} ms after the command`);
        assert.strictEqual(docker("exec", stack.proxy, "cat", `${STATE_DIR}/${PREVIOUS_LIVE}`), from, "recorded as re-point records a switch");
    });

    it("8 proxy config changes at 250 requests/s, each a reload: zero failed requests (clients were asked to close first), and the closing marker is gone after each", async () => {
        const load = startLoad({ port: stack.livePort, rate: 250, durationMs: 30000 });
        await new Promise((r) => setTimeout(r, 2000));
        for (let i = 0; i < 8; i++) {
            const workers = nginxWorkers(stack.proxy);
            // A real change each time: the drain time alternates.
            const r = await runStepAsync("proxy-config", stack.env(), stack.nginxConfig(i % 2 === 0 ? 6 : 5));
            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(r.stdout, /clients asked to close their keep-alive connections; reloading in \d+ ms/);
            assert.notStrictEqual(nginxWorkers(stack.proxy), workers, `change ${i + 1} reloaded nginx`);
            assert.strictEqual(docker("exec", stack.proxy, "sh", "-c", `ls ${STATE_DIR}`).split("\n").includes(CLOSING_MARKER), false, `change ${i + 1} left the closing marker`);
            await new Promise((r) => setTimeout(r, 1000));
        }
        const rep = await load.stop();
        console.log(`      load: ${rep.requests} requests (${rep.samples.filter((s) => s.keepAlive).length} keep-alive), failed ${rep.failed}, p99 ${rep.p99} ms`);
        assert.deepStrictEqual(rep.errors, {}, `failed requests: ${JSON.stringify(rep.errors)}`);
        assert.strictEqual(rep.failed, 0);
    });

    it("while the closing marker is set, an HTTP/1.1 answer asks its client to close; without it the connection is kept", async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const kept = await get(stack.livePort, "/version", { agent });
        assert.strictEqual(kept.headers.connection, "keep-alive");
        docker("exec", stack.proxy, "touch", `${STATE_DIR}/${CLOSING_MARKER}`);
        try {
            const closing = await get(stack.livePort, "/version", { agent });
            assert.strictEqual(closing.status, 200);
            assert.match(String(closing.headers.connection), /close/);
        } finally {
            docker("exec", stack.proxy, "rm", "-f", `${STATE_DIR}/${CLOSING_MARKER}`);
            agent.destroy();
        }
    });
});
