// The whole release cycle under a real `pulumi up`: the real docker, command
// and random providers, the local Docker engine, a throwaway stack on a file
// backend, and constant load on the live listener (GET /version, GET and POST
// /visits, keep-alive and Connection: close) through every operation.
//
// The scenarios run in order on one stack, each starting from where the last
// one left it, as a team's releases would. Invariants checked throughout:
// Postgres, Redis and the proxy are never replaced or restarted, and no
// request fails. Where the plugins are missing the suite says so in one line
// and is reported as skipped (pending), never as passed.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { Colour } from "../../lib/config";
import { APP_ROLE_IN_CONTAINER } from "../../lib/dataservice";
import { describeFailures, get, LoadReport } from "../scripts/load";
import { nginxWorkers } from "../scripts/fixture";
import { WebhookReceiver } from "../scripts/webhook";
import { baseConfig, changed, dockerHealthy, E2EStack, orphanedPlugins, freePort, missingParts, psql, redisCli, say, sleep, waitFor, withLoad } from "./harness";

const BROKEN_IMAGE = "switchyard/app:e2e-broken";
/** Version 2 of the sample app: needs the expand migration (visits.source). */
const APP2 = "switchyard/app:2.0.0";
/** A release whose expand migration fails (a NOT NULL column on a table with rows). */
const BAD_MIGRATION_IMAGE = "switchyard/app:e2e-bad-migration";
const MIGRATIONS = { command: "node migrate.js expand", contractCommand: "node migrate.js contract", timeoutSeconds: 120 };
/** Requests per second on the live listener: the issue asks for at least 200. */
const LOAD_RATE = 200;

interface Figure {
    scenario: string;
    upSeconds?: number;
    changes?: string;
    requests?: number;
    failed?: number;
    p99?: number;
    note?: string;
}
const figures: Figure[] = [];

describe("e2e: the release cycle under a real pulumi up", function () {
    let s: E2EStack;
    let live = 0;
    let preview = 0;
    let shared: Record<string, string> = {};
    const seeded: number[] = [];
    const hook = new WebhookReceiver();

    /**
     * Runs fn under constant load; asserts zero failed requests and returns the
     * report. With `maintenance503`, a 503 that says maintenance (with
     * Retry-After) is an answer, not a failure; socket errors still fail.
     */
    async function underLoad(scenario: string, fn: () => Promise<unknown>, rate = LOAD_RATE, opts: { maintenance503?: boolean } = {}): Promise<LoadReport & { fnEndedAt: number }> {
        const rep = await withLoad({ port: live, rate, durationMs: 20 * 60 * 1000 }, fn);
        const fnEndedAt = rep.ended;
        const posts = rep.samples.filter((x) => x.method === "POST").length;
        const reads = rep.samples.filter((x) => x.path === "/visits" && x.method === "GET").length;
        const close = rep.samples.filter((x) => !x.keepAlive).length;
        const maintenance = rep.samples.filter((x) => x.status === 503 && /maintenance/i.test(x.body ?? "")).length;
        const failed = rep.failed - (opts.maintenance503 ? maintenance : 0);
        const answered503 = opts.maintenance503 ? `, ${maintenance} answered 503 maintenance` : "";
        say(`load ${scenario} at ${rate} req/s: ${rep.requests} requests (${posts} POST /visits, ${reads} GET /visits, ${close} Connection: close), failed ${failed}${answered503}, p50 ${rep.p50} ms, p99 ${rep.p99} ms, by colour ${JSON.stringify(rep.byColour)}`);
        figures.push({ scenario, requests: rep.requests, failed, p99: rep.p99, ...(opts.maintenance503 ? { note: `${maintenance} answered 503 maintenance` } : {}) });
        const errors = { ...rep.errors };
        if (opts.maintenance503 && maintenance > 0) {
            errors["HTTP 503"] -= maintenance;
            if (errors["HTTP 503"] === 0) delete errors["HTTP 503"];
        }
        assert.deepStrictEqual(errors, {}, `${scenario}: failed requests\n${describeFailures(rep)}`);
        assert.ok(posts > 0 && reads > 0 && close > 0, `${scenario}: the load must write and read the database on both kinds of connection`);
        return { ...rep, fnEndedAt };
    }

    /** Every response that started after the update finished came from `colour`. */
    function allFromAfter(rep: LoadReport & { fnEndedAt: number }, colour: Colour): void {
        const after = rep.samples.filter((x) => rep.startedAt + x.at > rep.fnEndedAt);
        assert.ok(after.length > 0, "load continued after the update");
        const other = after.filter((x) => x.colour !== colour);
        assert.strictEqual(other.length, 0, `${other.length} of ${after.length} responses after the update came from another colour than ${colour}`);
    }

    function setConfig(patch: Record<string, unknown>): void {
        s.writeConfig({ ...s.readConfig(), ...patch });
    }

    function slots(): Record<string, { image: string }> {
        return s.readConfig().slots;
    }

    /** Postgres, Redis and the proxy: same container, same start, no restarts. */
    function assertSharedUntouched(when: string): void {
        for (const [name, id] of Object.entries(shared)) assert.strictEqual(s.identity(name), id, `${name} was replaced or restarted (${when})`);
    }

    /** One live colour, healthy; the route, the config and the stack outputs agree; no orphans, nothing pending. */
    async function assertSettled(colour: Colour, when: string): Promise<void> {
        assert.strictEqual(s.route(), colour, `${when}: route`);
        const version = await get(live, "/version");
        assert.strictEqual(version.headers["x-switchyard-color"], colour, `${when}: live answers`);
        const liveContainers = s.containers(false).filter((c) => c.role === "app" && c.colour === colour);
        assert.ok(liveContainers.length >= 2, `${when}: ${colour} runs its replicas`);
        for (const c of liveContainers) await dockerHealthy(c.name);
        const inDocker = s.containers().map((c) => c.name).sort();
        assert.deepStrictEqual(inDocker, s.stateContainerNames(), `${when}: Docker's containers and the state's must match (no orphans)`);
        const exp = JSON.parse(s.cli(["stack", "export"]).out);
        assert.deepStrictEqual(exp.deployment.pending_operations ?? [], [], `${when}: no pending operations`);
        const out = JSON.parse(s.cli(["stack", "output", "--json"]).out);
        assert.strictEqual(out.liveColor, colour, `${when}: stack output liveColor`);
    }

    before(async function () {
        const missing = missingParts();
        if (missing.length) {
            console.log(`e2e SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        // A release whose /health answers 500 while everything else works.
        const build = spawnSync("docker", ["build", "-q", "-t", BROKEN_IMAGE, "-"], {
            input: "FROM switchyard/app:1.0.0\nENV SWITCHYARD_FORCE_UNHEALTHY=1\n",
            encoding: "utf8",
        });
        assert.strictEqual(build.status, 0, build.stderr);
        const bad = spawnSync("docker", ["build", "-q", "-t", BAD_MIGRATION_IMAGE, "-"], { input: `FROM ${APP2}\nENV APP_SCHEMA=3\n`, encoding: "utf8" });
        assert.strictEqual(bad.status, 0, bad.stderr);
        await hook.start();
        live = await freePort();
        preview = await freePort();
        s = await E2EStack.create("", baseConfig(live, preview));
        // The webhook (a real local receiver) is a secret, as a Slack URL is.
        await s.stack.setConfig("switchyard:notify.webhookUrl", { value: hook.url, secret: true }, true);
    });

    after(async function () {
        if (figures.length) {
            console.log("\n      | scenario | up (s) | changes | requests | failed | p99 (ms) | note |\n      |---|---|---|---|---|---|---|");
            for (const f of figures) console.log(`      | ${f.scenario} | ${f.upSeconds?.toFixed(1) ?? ""} | ${f.changes ?? ""} | ${f.requests ?? ""} | ${f.failed ?? ""} | ${f.p99 ?? ""} | ${f.note ?? ""} |`);
            fs.mkdirSync("bench/results", { recursive: true });
            fs.writeFileSync(path.join("bench/results", "e2e.json"), JSON.stringify(figures, null, 2));
        }
        if (s) await s.destroy();
        await hook.stop();
        if (s) assert.strictEqual(s.containers().length, 0, "the throwaway stack left containers behind");
    });

    /** The stack's backups, oldest first (npm run backups -- --json). */
    async function readBackups(): Promise<{ name: string; fromImage: string; toImage: string; sizeBytes: number }[]> {
        const r = await s.ops("backups", "--json");
        assert.strictEqual(r.status, 0, r.out);
        return JSON.parse(r.out);
    }

    /** Webhook messages since t, as "kind step". */
    const messages = (t: number) => hook.since(t).map((m) => `${m.body.kind} ${m.body.step}`);

    it("1. fresh up from nothing: containers healthy, live answers from blue, preview a clear 503", async () => {
        const r = await s.up("fresh");
        figures.push({ scenario: "1 fresh up", upSeconds: r.seconds, changes: `${r.changes.create} created` });
        assert.ok(r.changes.create >= 25, `created ${r.changes.create}`);
        for (const c of s.containers()) {
            assert.strictEqual(c.state, "running", c.name);
            await dockerHealthy(c.name);
        }
        const v = await get(live, "/version");
        assert.deepStrictEqual([v.status, JSON.parse(v.body)], [200, { color: "blue", image: "switchyard/app:1.0.0", schema: 1 }]);
        const p = await get(preview, "/version");
        assert.strictEqual(p.status, 503);
        assert.match(p.body, /no idle colour|not running|green/i, `preview says why: ${p.body}`);
        for (const name of [`${s.names.namePrefix}-postgres`, `${s.names.namePrefix}-redis`, s.names.proxyContainer]) shared[name] = s.identity(name);
        // Data written now must outlive every switch that follows (scenario 7).
        for (let i = 0; i < 20; i++) {
            const w = await get(live, "/visits", { method: "POST", body: `seed ${i}` });
            assert.strictEqual(w.status, 201, w.body);
            seeded.push(JSON.parse(w.body).id);
        }
        assert.strictEqual(redisCli(s, "SET", "e2e:marker", "kept"), "OK");
    });

    it("2. release by image tag in one up, then rollback by liveColor: standby retire, 0 failed, no reload of the proxy", async () => {
        let up = await s.up("noop-before-release");
        const t = Date.now();
        // The switch is the route marker and the upstreams name fixed addresses: the same nginx workers throughout.
        const workers = nginxWorkers(s.names.proxyContainer);
        const rel = await underLoad("2 release green (retire)", async () => {
            setConfig({ slots: { ...slots(), green: { image: "switchyard/app:1.1.0" } }, liveColor: "green" });
            up = await s.up("release green");
        });
        figures[figures.length - 1] = { ...figures[figures.length - 1], upSeconds: up.seconds, changes: `+${up.changes.create} ~${up.changes.update} -${up.changes.delete}` };
        allFromAfter(rel, "green");
        assert.ok((rel.byColour.blue ?? 0) > 0 && (rel.byColour.green ?? 0) > 0, "both colours served during the release");
        assert.deepStrictEqual(s.containers().filter((c) => c.role === "app").map((c) => c.colour), ["green", "green"], "blue retired and removed");
        assert.deepStrictEqual(JSON.parse((await get(live, "/version")).body), { color: "green", image: "switchyard/app:1.1.0", schema: 1 });
        await assertSettled("green", "after release");
        assert.deepStrictEqual(messages(t), [], "a successful release sends no message");
        const newest = (await readBackups()).at(-1)!;
        assert.deepStrictEqual([newest.fromImage, newest.toImage], ["switchyard/app:1.0.0", "switchyard/app:1.1.0"], "the release backed up first");

        const back = await underLoad("2 rollback blue (retire)", async () => {
            await s.stack.setConfig("switchyard:liveColor", { value: "blue" });
            up = await s.up("rollback blue");
        });
        figures[figures.length - 1] = { ...figures[figures.length - 1], upSeconds: up.seconds, changes: `+${up.changes.create} ~${up.changes.update} -${up.changes.delete}` };
        allFromAfter(back, "blue");
        assert.deepStrictEqual(JSON.parse((await get(live, "/version")).body), { color: "blue", image: "switchyard/app:1.0.0", schema: 1 }, "rolled back to blue's pinned image");
        // A rollback is not a release: 1.0.0 went live on this database in scenario 1.
        assert.match(up.output, /no dump: \S+ \(sha256:[0-9a-f]{12}\) went live on this database before and no migration runs/);
        assert.strictEqual((await readBackups()).at(-1)!.name, newest.name, "the rollback took no dump");
        await assertSettled("blue", "after rollback");
        assert.deepStrictEqual(messages(t), ["rollback repoint"], "the rollback is reported, once");
        assertSharedUntouched("release and rollback");
        assert.strictEqual(nginxWorkers(s.names.proxyContainer), workers, "a release and a rollback reload nothing: the same nginx workers");
    });

    it("2. the same with standby keep: the old colour stays warm, 0 failed", async () => {
        setConfig({ standby: "keep" });
        let up = await s.up("standby keep (stage green again)");
        const rel = await underLoad("2 release green (keep)", async () => {
            await s.stack.setConfig("switchyard:liveColor", { value: "green" });
            up = await s.up("switch green (keep)");
        });
        figures[figures.length - 1] = { ...figures[figures.length - 1], upSeconds: up.seconds, changes: `+${up.changes.create} ~${up.changes.update} -${up.changes.delete}` };
        allFromAfter(rel, "green");
        assert.deepStrictEqual([...new Set(s.containers(false).filter((c) => c.role === "app").map((c) => c.colour))].sort(), ["blue", "green"], "keep: both colours run");
        // The instant rollback (npm run rollback -- --now): traffic back on the kept colour first, then the reconciling up.
        let instant = { status: -1, out: "", startedAt: 0, endedAt: 0 };
        const back = await underLoad("2 rollback blue (keep, --now)", async () => {
            instant = await s.rollbackNow();
            await s.stack.setConfig("switchyard:liveColor", { value: "blue" });
            up = await s.up("rollback blue (keep): the reconciling up");
        });
        assert.strictEqual(instant.status, 0, instant.out);
        assert.match(instant.out, /blue answers on every host \(2 replica\(s\) probed just now\)/);
        // The webhook heard it once, from the command itself, with both images: the reconciling up's re-point found nothing to report.
        assert.deepStrictEqual(messages(instant.startedAt), ["rollback rollback"], "the instant rollback is reported, once");
        const told = hook.since(instant.startedAt)[0].body as Record<string, string>;
        assert.deepStrictEqual([told.colour, told.toImage, told.fromImage], ["blue", "switchyard/app:1.0.0", "switchyard/app:1.1.0"], told.text);
        assert.match(instant.out, /live listener re-pointed: green -> blue \(no reload\)/);
        const servedBlue = back.samples.filter((x) => back.startedAt + x.at >= instant.startedAt && x.colour === "blue").map((x) => back.startedAt + x.at + x.latencyMs);
        const firstBlueMs = Math.min(...servedBlue) - instant.startedAt;
        const greenAfter = back.samples.filter((x) => back.startedAt + x.at > instant.endedAt && x.colour !== "blue");
        assert.deepStrictEqual(greenAfter, [], "every request sent after the instant rollback returned was served by blue");
        assert.ok(firstBlueMs < 1000, `the first request served by blue came ${firstBlueMs} ms after the command started`);
        figures[figures.length - 1] = {
            ...figures[figures.length - 1],
            upSeconds: up.seconds,
            changes: `+${up.changes.create} ~${up.changes.update} -${up.changes.delete}`,
            note: `--now: blue served ${firstBlueMs} ms after the command, command ${((instant.endedAt - instant.startedAt) / 1000).toFixed(2)} s, reconciling up ${up.seconds.toFixed(1)} s`,
        };
        say(`instant rollback: first request served by blue ${firstBlueMs} ms after the command started; the command took ${instant.endedAt - instant.startedAt} ms; the reconciling up ${up.seconds.toFixed(1)} s`);
        assert.match(up.output, /live listener already routes to blue/, "the reconciling up found the route moved");
        assert.strictEqual(up.changes.create + up.changes.delete, 0, "a rollback under keep creates and deletes nothing");
        // The kept colour has served all along: one answer per replica, no dump (issue 30).
        assert.match(up.output, /gating blue: 2 replica\(s\) that passed the gate and have run since: one healthy answer each/);
        assert.match(up.output, /no dump: \S+ \(sha256:[0-9a-f]{12}\) went live on this database before/);
        allFromAfter(back, "blue");
        await assertSettled("blue", "after keep rollback");
        setConfig({ standby: "retire" });
        await s.up("standby retire again");
        assertSharedUntouched("keep");
    });

    it("3. drain: long requests in flight at the switch all finish 200 from the old colour before it goes", async () => {
        const slow: { start: number; end: number; status: number; colour?: string; error?: string }[] = [];
        let stop = false;
        const stream = (async () => {
            const inflight: Promise<void>[] = [];
            while (!stop) {
                const start = Date.now();
                inflight.push(
                    get(live, "/slow?ms=5000", { close: true, timeoutMs: 60000 })
                        .then((a) => void slow.push({ start, end: Date.now(), status: a.status, colour: a.headers["x-switchyard-color"] as string }))
                        .catch((e: NodeJS.ErrnoException) => void slow.push({ start, end: Date.now(), status: 0, error: e.code ?? e.message })),
                );
                await sleep(150);
            }
            await Promise.all(inflight);
        })();
        await sleep(6000);
        setConfig({ slots: { ...slots(), green: { image: "switchyard/app:1.1.0" } }, liveColor: "green" });
        const up = await s.up("switch green with 5 s requests in flight");
        stop = true;
        await stream;
        const firstGreen = Math.min(...slow.filter((x) => x.colour === "green").map((x) => x.start));
        const inFlightAtSwitch = slow.filter((x) => x.colour === "blue" && x.start < firstGreen && x.end > firstGreen);
        const bad = slow.filter((x) => x.status !== 200);
        say(`drain: ${slow.length} requests of 5 s, ${inFlightAtSwitch.length} from blue in flight at the switch, ${bad.length} failed`);
        figures.push({ scenario: "3 drain", upSeconds: up.seconds, requests: slow.length, failed: bad.length, note: `${inFlightAtSwitch.length} in flight at the switch` });
        assert.deepStrictEqual(bad, [], "every long request finished 200");
        assert.ok(inFlightAtSwitch.length >= 20, `at least 20 long requests in flight at the switch (got ${inFlightAtSwitch.length})`);
        assert.deepStrictEqual(s.containers().filter((c) => c.role === "app" && c.colour === "blue"), [], "blue removed after the drain");
        await assertSettled("green", "after drain");
    });

    it("4. broken image: up fails within timeout + 10 s naming colour, status and log tail; live unchanged", async () => {
        const timeout = (s.readConfig().health as { timeoutSeconds: number }).timeoutSeconds;
        const t = Date.now();
        let failure = { message: "", seconds: 0, output: "" };
        const before = s.readConfig();
        const liveNow = s.route()!;
        const idle: Colour = liveNow === "blue" ? "green" : "blue";
        try {
            await underLoad("4 broken image", async () => {
                setConfig({ slots: { ...slots(), [idle]: { image: BROKEN_IMAGE } }, liveColor: idle });
                failure = await s.upFails(`release broken image to ${idle}`);
            });
        } finally {
            // Put the config back as it runs, as npm run release does; the next up removes the broken slot.
            s.writeConfig(before);
        }
        // From the moment the broken slot's containers exist to the end of the
        // up. Before that, Pulumi's own start-up (CLI, plugins, the program)
        // takes 3 s on an idle 2-core machine and 6-10 s under this load; it is
        // reported, not bounded, since a no-op up pays it too.
        const stamps = [...failure.output.matchAll(new RegExp(`^\\[ *([\\d.]+)\\] .*Container switchyard-release-app-${idle}-\\d+ created`, "gm"))].map((m) => Number(m[1]));
        assert.ok(stamps.length > 0, "the broken slot's containers were created");
        const createdAt = Math.max(...stamps);
        const afterCreate = failure.seconds - createdAt;
        say(`broken image: containers created ${createdAt.toFixed(1)} s into the up, which failed ${afterCreate.toFixed(1)} s later (${failure.seconds.toFixed(1)} s in all; gate timeout ${timeout} s)`);
        figures[figures.length - 1].upSeconds = failure.seconds;
        figures[figures.length - 1].note = `up failed at the gate ${afterCreate.toFixed(1)} s after the slot was created (timeout ${timeout} s)`;
        assert.ok(afterCreate <= timeout + 10, `the up failed ${afterCreate}s after the slot was created; the gate timeout is ${timeout}s`);
        assert.match(failure.message, new RegExp(`colour ${idle} did not pass its health gate`));
        assert.match(failure.message, /500/);
        assert.match(failure.message, /forced unhealthy|SWITCHYARD_FORCE_UNHEALTHY/, "the log tail or body says why");
        assert.strictEqual(s.route(), liveNow, "live unchanged");
        const out = JSON.parse(s.cli(["stack", "output", "--json"]).out);
        assert.deepStrictEqual([out.liveColor, out.liveImage], [liveNow, before.slots[liveNow].image], "outputs do not claim the failed release");
        await s.up("config restored after the broken release");
        await assertSettled(liveNow, "after broken release");
        assert.deepStrictEqual(messages(t), ["failure gate"], "one message for the failed gate, none for the fix");
        assert.match(hook.since(t)[0].body.text, new RegExp(`gate failed for ${idle} \\(.* -> ${BROKEN_IMAGE}\\)`));
        assertSharedUntouched("broken release");
    });

    it("5. invalid proxy config: refused, the previous config keeps serving", async () => {
        const t = Date.now();
        let failure = { message: "", seconds: 0 };
        const before = s.readConfig();
        try {
            await underLoad("5 invalid proxy config", async () => {
                setConfig({ proxy: { ...(before.proxy as object), extraHttpConfig: "no_such_directive on;" } });
                failure = await s.upFails("invalid proxy config");
            });
        } finally {
            s.writeConfig(before);
        }
        figures[figures.length - 1].note = "up refused the config, as it must";
        assert.match(failure.message, /unknown directive "no_such_directive"/);
        assert.strictEqual((await get(live, "/version")).status, 200, "the previous config serves");
        await s.up("proxy config restored");
        await assertSettled("green", "after invalid proxy config");
        assert.deepStrictEqual(messages(t), ["failure proxy-config"]);
        assertSharedUntouched("invalid proxy config");
    });

    const pgrep = (pattern: string) => spawnSync("pgrep", ["-f", pattern]).status === 0;
    // The kill during the gate is the package e2e's P7 (npx switchyard release killed, then recover).
    for (const [moment, target, when] of [
        ["right after the re-point", "blue", () => s.route() === "blue"],
        ["during the drain", "green", () => pgrep("release/retire.sh")],
    ] as const) {
        it(`6. SIGKILL of pulumi up ${moment}, then the documented recovery and up: one live colour, no orphans`, async function () {
            assert.notStrictEqual(s.route(), target, `precondition: live is not ${target} yet`);
            let locked = "";
            let recovered = "";
            let orphanPlugins: string[] = [];
            await underLoad(`6 kill ${moment}`, async () => {
                // Long requests keep the drain busy long enough to be caught in it.
                const slow = Array.from({ length: 6 }, () => get(live, "/slow?ms=15000", { timeoutMs: 60000 }).catch(() => undefined));
                setConfig({ liveColor: target });
                await s.killUpWhen(moment, when as () => boolean);
                locked = s.cli(["up", "--yes", "--skip-preview"]).out;
                const r = spawnSync("bash", ["ops/switchyard.sh", "recover", "--stack", s.name], { cwd: s.dir, env: s.env, encoding: "utf8" });
                recovered = `${r.stdout}${r.stderr}`;
                assert.strictEqual(r.status, 0, recovered);
                orphanPlugins = orphanedPlugins();
                await s.up(`after kill ${moment}`);
                await Promise.all(slow);
            });
            assert.match(locked, /currently locked/, `the killed update leaves its lock; the next up printed:\n${locked}`);
            // The CLI's plugins have process groups of their own: the kill leaves them, and the step one runs, alive.
            assert.match(recovered, /steps: (none of the killed update still runs|the killed update's last step ended after \d+s)/);
            assert.deepStrictEqual(orphanPlugins, [], "no plugin of the killed CLI stays behind");
            console.log(recovered.trim().replace(/^/gm, "        "));
            await assertSettled(target, `after kill ${moment}`);
            assertSharedUntouched(`kill ${moment}`);
        });
    }

    it("7. data: rows and Redis keys written before 10 consecutive switches are all there after; with a database of a few hundred MB a rollback takes no longer (no dump, no migration)", async () => {
        // An expand migration as a release would run it: a rollback must not run it again (issue 30).
        setConfig({ standby: "keep", migrations: { command: "node migrate.js expand", timeoutSeconds: 120 } });
        await s.up("standby keep and an expand migration for the switches");
        const volumes = execFileSync("docker", ["volume", "ls", "-q", "--filter", `name=${s.names.namePrefix}-`], { encoding: "utf8" }).trim();
        const times: number[] = [];
        let dumpsBefore: string[] = [];
        let bulk = { megabytes: 0, seconds: 0 };
        const rep = await underLoad("7 ten switches", async () => {
            let colour = s.route()!;
            for (let i = 0; i < 10; i++) {
                colour = colour === "blue" ? "green" : "blue";
                await s.stack.setConfig("switchyard:liveColor", { value: colour });
                const up = await s.up(`switch ${i + 1} to ${colour}`);
                times.push(up.seconds);
                // The kept colours have run since their gate: one answer per replica.
                assert.match(up.output, /replica\(s\) that passed the gate and have run since: one healthy answer each/, `switch ${i + 1}`);
                if (i === 0) dumpsBefore = (await readBackups()).map((b) => b.name);
                else {
                    // From the second on, both colours went live here: each switch is a rollback, not a release.
                    assert.match(up.output, /no dump: \S+ \(sha256:[0-9a-f]{12}\) went live on this database before/, `switch ${i + 1}`);
                    assert.match(up.output, /expand migration skipped: it finished on this database for sha256:[0-9a-f]{12} with this command before/, `switch ${i + 1}`);
                    assert.doesNotMatch(up.output, /running the expand migration/, `switch ${i + 1} ran the migration`);
                }
                // Then the database grows to a few hundred MB: a dump of it would take seconds, a rollback must not.
                if (i === 4) bulk = growDatabase();
            }
        });
        // Switches 2-5 on the small database, 6-10 on the large one: the same time (no dump, no migration).
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
        const [small, large] = [median(times.slice(1, 5)), median(times.slice(5))];
        say(`rollbacks: median ${small.toFixed(1)} s on the small database, ${large.toFixed(1)} s with ${bulk.megabytes} MB (grown in ${bulk.seconds.toFixed(1)} s)`);
        assert.ok(bulk.megabytes >= 250, `the database grew to ${bulk.megabytes} MB`);
        // What a dump of it costs here, under the same load: a rollback that took one would be that much slower.
        const dump = dumpSeconds();
        say(`a dump of the ${bulk.megabytes} MB database takes ${dump.toFixed(1)} s here`);
        assert.ok(dump >= 2, `a dump of ${bulk.megabytes} MB took only ${dump.toFixed(1)} s: too small a database to tell a dump from noise`);
        assert.ok(large - small < Math.max(1.5, 0.75 * dump), `a rollback with ${bulk.megabytes} MB took ${large.toFixed(1)} s (median), with the small database ${small.toFixed(1)} s, and a dump takes ${dump.toFixed(1)} s: its time depends on the database's size`);
        psql(s, "DROP TABLE e2e_bulk");
        figures[figures.length - 1].note = `10 switches, ${Math.min(...times).toFixed(1)}-${Math.max(...times).toFixed(1)} s each; median ${small.toFixed(1)} s small, ${large.toFixed(1)} s with ${bulk.megabytes} MB (a dump of it: ${dump.toFixed(1)} s)`;
        const acknowledged = rep.samples.filter((x) => x.method === "POST" && x.status === 201).length;
        const ids = seeded.join(",");
        assert.strictEqual(psql(s, `SELECT count(*) FROM visits WHERE id IN (${ids})`), String(seeded.length), "seeded rows kept");
        assert.ok(Number(psql(s, "SELECT count(*) FROM visits")) >= seeded.length + acknowledged, "every acknowledged write kept");
        assert.strictEqual(redisCli(s, "GET", "e2e:marker"), "kept");
        const kept = await readBackups();
        assert.deepStrictEqual(kept.map((b) => b.name), dumpsBefore, "nine switches between two colours that both went live took no dump");
        assert.ok(kept.length > 0 && kept.length <= 3 && kept.every((b) => b.sizeBytes > 0), `backups.keep is 3, each with content: ${kept.map((b) => b.name).join(" ")}`);
        assert.strictEqual(execFileSync("docker", ["volume", "ls", "-q", "--filter", `name=${s.names.namePrefix}-`], { encoding: "utf8" }).trim(), volumes, "data volumes kept");
        assertSharedUntouched("ten switches");
    });

    it("7. a production-like stack refuses to delete its data volumes", async () => {
        const prod = await E2EStack.create("p", { ...baseConfig(await freePort(), await freePort()), environment: "production", appUser: "10001:10001", replicas: 1 });
        try {
            await prod.up("production-like fresh");
            const w = await get((prod.readConfig().proxy as { livePort: number }).livePort, "/visits", { method: "POST", body: "prod" });
            assert.strictEqual(w.status, 201);
            const volumes = () => execFileSync("docker", ["volume", "ls", "-q", "--filter", `name=${prod.names.namePrefix}-`], { encoding: "utf8" }).trim().split("\n").filter((v) => /-(pg|redis)data$/.test(v)).sort();
            const before = volumes();
            assert.strictEqual(before.length, 2, `postgres and redis volumes: ${before}`);
            const plain = prod.cli(["destroy", "--yes", "--skip-preview", "--run-program"]);
            assert.notStrictEqual(plain.status, 0, "destroy without permission must fail");
            const allowed = prod.cli(["destroy", "--yes", "--skip-preview", "--run-program"], { SWITCHYARD_ALLOW_DELETE: "all" });
            assert.notStrictEqual(allowed.status, 0, "protected volumes refuse even an allowed destroy");
            assert.match(allowed.out, /protected/);
            assert.deepStrictEqual(volumes(), before, "data volumes still there");
            figures.push({ scenario: "7 production-like destroy", note: "refused; data volumes kept" });
        } finally {
            // Protection comes from the program (environment production), and
            // `destroy --run-program` re-applies it over `state unprotect`: the
            // way out is the one README gives, leaving production first.
            prod.writeConfig({ ...prod.readConfig(), environment: "staging" });
            await prod.destroy();
        }
    });

    it("8. secrets and exposure: no plaintext password in state or logs, no host port for Postgres/Redis, app non-root", () => {
        const printenv = (svc: string, name: string) => execFileSync("docker", ["exec", `${s.names.namePrefix}-${svc}`, "printenv", name], { encoding: "utf8" }).trim();
        const [superPassword, appPassword, redisPassword] = [printenv("postgres", "POSTGRES_PASSWORD"), printenv("postgres", "SWITCHYARD_APP_PASSWORD"), printenv("redis", "REDIS_PASSWORD")];
        assert.ok(superPassword.length >= 16 && appPassword.length >= 16 && redisPassword.length >= 16 && superPassword !== appPassword);
        const state = s.cli(["stack", "export"]).out;
        const log = fs.readFileSync(s.logFile, "utf8");
        for (const [what, pw] of [["postgres superuser", superPassword], ["postgres app role", appPassword], ["redis", redisPassword]]) {
            assert.ok(!state.includes(pw), `${what} password in plaintext in pulumi stack export`);
            assert.ok(!log.includes(pw), `${what} password in the output of an operation`);
        }
        const token = new URL(hook.url).pathname;
        assert.ok(!state.includes(token), "webhook URL in plaintext in pulumi stack export");
        assert.ok(!log.includes(token), "webhook URL in the output of an operation");
        for (const svc of ["postgres", "redis"]) {
            const ports = execFileSync("docker", ["inspect", "--format", "{{json .HostConfig.PortBindings}} {{json .NetworkSettings.Ports}}", `${s.names.namePrefix}-${svc}`], { encoding: "utf8" });
            assert.ok(!/HostPort/.test(ports), `${svc} publishes a host port: ${ports}`);
        }
        for (const c of s.containers(false).filter((x) => x.role === "app")) {
            assert.notStrictEqual(execFileSync("docker", ["exec", c.name, "id", "-u"], { encoding: "utf8" }).trim(), "0", `${c.name} runs as root`);
        }
        // The app's role owns its database and its tables, and is no superuser.
        assert.strictEqual(psql(s, "SELECT rolsuper::text || ' ' || pg_get_userbyid(d.datdba) FROM pg_roles, pg_database d WHERE rolname = current_user AND d.datname = current_database()"), "false app");
        assert.strictEqual(psql(s, "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace"), "app");
        figures.push({ scenario: "8 secrets and exposure", note: "no password in state or logs; no host ports; app uid != 0; the app's Postgres role no superuser, owner of its tables" });
    });

    it("9. a second concurrent up fails fast on the stack lock; state intact", async () => {
        const before = JSON.parse(s.cli(["stack", "export"]).out).deployment.resources.length;
        const first = s.spawnUp();
        const firstDone = new Promise<number | null>((r) => first.on("exit", (c) => r(c)));
        const locks = path.join(s.dir, ".state", ".pulumi", "locks");
        await waitFor("the first up to take the lock", () => fs.existsSync(locks) && execFileSync("find", [locks, "-name", "*.json"], { encoding: "utf8" }).trim() !== "", 60000);
        const t = Date.now();
        const second = s.cli(["up", "--yes", "--skip-preview"]);
        const secondSeconds = (Date.now() - t) / 1000;
        assert.notStrictEqual(second.status, 0);
        assert.match(second.out, /currently locked/);
        assert.ok(secondSeconds < 15, `second up failed after ${secondSeconds}s`);
        assert.strictEqual(await firstDone, 0, "the first up finished");
        assert.strictEqual(JSON.parse(s.cli(["stack", "export"]).out).deployment.resources.length, before, "state intact");
        figures.push({ scenario: "9 concurrent up", note: `second up refused in ${secondSeconds.toFixed(1)} s` });
    });

    it("10. a no-op up changes nothing and runs no step; preview --diff of a switch shows the steps", async () => {
        const noop = await s.up("no-op", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0);
        assert.doesNotMatch(noop.output, /\[(gate|backup|migrate|repoint|verify|retire|proxy-config|maintenance|notify-config) /, "no release step ran");
        figures.push({ scenario: "10 no-op up", upSeconds: noop.seconds, changes: `${noop.changes.same} unchanged` });
        const liveNow = s.route()!;
        const other = liveNow === "blue" ? "green" : "blue";
        await s.stack.setConfig("switchyard:liveColor", { value: other });
        const pv = await s.preview("switch");
        for (const step of ["switchyard-release-gate", "switchyard-release-repoint", "switchyard-release-verify"]) {
            assert.match(pv.output, new RegExp(`\\(update\\)\\n\\s+\\[id=[^\\]]+\\]\\n\\s+\\[urn=[^\\]]+::${step}\\]`), `the preview shows ${step} running again`);
        }
        assert.match(pv.output, new RegExp(`SWITCHYARD_COLOR\\s*: "${liveNow}" => "${other}"`), "the diff names the colour change");
        assert.strictEqual(pv.changes.replace + pv.changes.delete, 0, "a switch under keep replaces and deletes nothing");
        await s.stack.setConfig("switchyard:liveColor", { value: liveNow });
        figures.push({ scenario: "10 preview --diff of a switch", upSeconds: pv.seconds, changes: `~${pv.changes.update}` });
        assertSharedUntouched("the whole suite");
    });
    /** About 300 MB of rows in a table of its own (dropped by the caller): its size and how long it took. */
    function growDatabase(): { megabytes: number; seconds: number } {
        const t = Date.now();
        psql(s, "CREATE TABLE e2e_bulk AS SELECT g AS id, repeat(md5(g::text), 8) AS filler FROM generate_series(1, 1000000) g");
        const megabytes = Math.round(Number(psql(s, "SELECT pg_database_size(current_database())")) / 2 ** 20);
        return { megabytes, seconds: (Date.now() - t) / 1000 };
    }
    /** Seconds a custom-format pg_dump of the whole database takes, as the backup step's dump (written nowhere). */
    function dumpSeconds(): number {
        const t = Date.now();
        execFileSync("docker", ["exec", `${s.names.namePrefix}-postgres`, "sh", "-c", `pg_dump -U ${APP_ROLE_IN_CONTAINER} -d "$POSTGRES_DB" -Fc > /dev/null`]);
        return (Date.now() - t) / 1000;
    }
    /** When a line matching re appeared in an up's output: epoch ms (lines are stamped with seconds since the up began). */
    function stampOf(output: string, re: RegExp, upStart: number): number {
        const line = output.split("\n").find((l) => re.test(l));
        assert.ok(line, `the up printed ${re}`);
        return upStart + Number(/^\[ *([\d.]+)\]/.exec(line!)![1]) * 1000;
    }
    const visitColumns = () => psql(s, "SELECT string_agg(column_name || ':' || is_nullable || ':' || coalesce(column_default, '-'), ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'visits'");

    it("11. release to app 2.0.0 with expand and contract migrations under load: old colour serves through the expand, earlier rows intact", async () => {
        setConfig({ standby: "retire", migrations: MIGRATIONS });
        await s.up("standby retire, migrations configured");
        const liveNow = s.route()!;
        const idle: Colour = liveNow === "blue" ? "green" : "blue";
        const maxId = Number(psql(s, "SELECT max(id) FROM visits"));
        const rowsBefore = psql(s, `SELECT count(*) FROM visits WHERE id <= ${maxId}`);
        const t = Date.now();
        let up = { output: "", seconds: 0, changes: { create: 0, update: 0, replace: 0, delete: 0, same: 0 } };
        let upStart = 0;
        const rep = await underLoad("11 release 2.0.0 with migrations", async () => {
            setConfig({ slots: { ...slots(), [idle]: { image: APP2 } }, liveColor: idle });
            upStart = Date.now();
            up = await s.up("release 2.0.0: backup, expand, switch, retire, contract");
        });
        figures[figures.length - 1] = { ...figures[figures.length - 1], upSeconds: up.seconds, changes: `+${up.changes.create} ~${up.changes.update} -${up.changes.delete}` };
        // The order of one release, from its own output.
        const at = (re: RegExp) => stampOf(up.output, re, upStart);
        const order = [
            at(/\[backup .*wrote /),
            at(/\[migrate expand\] \| .*applied 002_visits_source in/),
            at(/live listener re-pointed/),
            at(/\[retire .*retired /),
            at(/\[migrate contract\] \| .*applied 002_visits_source_required/),
        ];
        assert.deepStrictEqual([...order].sort((a, b) => a - b), order, "backup -> expand -> re-point -> retire -> contract");
        // Old code kept serving, writes included, after the expand had run.
        const expandDone = at(/the expand migration finished/);
        const oldAfterExpand = rep.samples.filter((x) => x.colour === liveNow && x.method === "POST" && x.status === 201 && rep.startedAt + x.at > expandDone);
        assert.ok(oldAfterExpand.length > 0, `${liveNow} (version 1) wrote after the expand`);
        allFromAfter(rep, idle);
        assert.deepStrictEqual(JSON.parse((await get(live, "/version")).body), { color: idle, image: APP2, schema: 2 });
        assert.strictEqual(psql(s, `SELECT count(*) FROM visits WHERE id <= ${maxId}`), rowsBefore, "rows written before are intact");
        assert.strictEqual(psql(s, `SELECT count(*) FROM visits WHERE id <= ${maxId} AND source <> 'legacy'`), "0");
        assert.ok(Number(psql(s, `SELECT count(*) FROM visits WHERE source = '${APP2}'`)) > 0, "the new colour writes visits.source");
        assert.match(visitColumns(), /source:NO:-/, "contract made source required, without a default");
        const list = await readBackups();
        assert.strictEqual(list.at(-1)!.toImage, APP2, "the release backed up first");
        assert.ok(list.length <= 3, `backups.keep is 3: ${list.length}`);
        assert.deepStrictEqual(messages(t), [], "no message for a release that worked");
        figures[figures.length - 1].note = `old colour wrote ${oldAfterExpand.length} rows after the expand`;
        await assertSettled(idle, "after the migrated release");
        assertSharedUntouched("migrated release");
    });

    it("12. a failing expand migration under load: the up stops before the switch with its output; traffic, schema and rows untouched; one message", async () => {
        const before = s.readConfig();
        const liveNow = s.route()!;
        const idle: Colour = liveNow === "blue" ? "green" : "blue";
        const columns = visitColumns();
        const maxId = Number(psql(s, "SELECT max(id) FROM visits"));
        const rowsBefore = psql(s, `SELECT count(*) || ':' || sum(hashtext(id || coalesce(note, '') || source)) FROM visits WHERE id <= ${maxId}`);
        const t = Date.now();
        let failure = { message: "", seconds: 0, output: "" };
        try {
            try {
                await underLoad("12 failing migration", async () => {
                    setConfig({ slots: { ...slots(), [idle]: { image: BAD_MIGRATION_IMAGE } }, liveColor: idle });
                    failure = await s.upFails("release whose expand migration fails");
                });
            } finally {
                s.writeConfig(before);
            }
            figures[figures.length - 1] = { ...figures[figures.length - 1], upSeconds: failure.seconds, note: "up failed at the expand migration" };
            assert.match(failure.message, new RegExp(`the expand migration \\(node migrate\\.js expand\\) exited 1; nothing was switched: live traffic stays on ${liveNow}, and the idle slot ${idle} keeps running for inspection`));
            assert.match(failure.message, /003_visits_checksum_unsafe failed and was rolled back: column "checksum" of relation "visits" contains null values/);
            assert.strictEqual(s.route(), liveNow, "live unchanged");
            assert.strictEqual(visitColumns(), columns, "schema unchanged");
            assert.strictEqual(psql(s, `SELECT count(*) || ':' || sum(hashtext(id || coalesce(note, '') || source)) FROM visits WHERE id <= ${maxId}`), rowsBefore, "rows untouched");
            assert.strictEqual(s.containers(false).filter((c) => c.role === "app" && c.colour === idle).length, 2, "the idle slot stays for inspection");
            assert.strictEqual((await readBackups()).at(-1)!.toImage, BAD_MIGRATION_IMAGE, "the backup ran before the migration");
            assert.deepStrictEqual(messages(t), ["failure migrate expand"]);
            assert.match(hook.since(t)[0].body.error, /003_visits_checksum_unsafe/);
            const out = JSON.parse(s.cli(["stack", "output", "--json"]).out);
            assert.strictEqual(out.liveColor, liveNow, "outputs do not claim the failed release");
        } finally {
            // Even when an assertion above failed: the next scenario starts from the restored config, not from the idle slot left for inspection.
            await s.up("config restored after the failing migration");
        }
        await assertSettled(liveNow, "after the failing migration");
        assertSharedUntouched("failing migration");
    });

    it("13. maintenance on and off by config under load: 503 with Retry-After, no socket error, no reload; health up, the preview closed too", async () => {
        const proxy = s.names.proxyContainer;
        const workers = () => execFileSync("docker", ["exec", proxy, "sh", "-c", "for p in /proc/[0-9]*; do tr '\\000' ' ' < $p/cmdline 2>/dev/null | grep -q '^nginx: worker' && basename $p; done | sort"], { encoding: "utf8" }).trim();
        const workersBefore = workers();
        const outputs: string[] = [];
        let page = { status: 0, headers: {} as Record<string, unknown>, body: "" };
        let json = { status: 0, body: "" };
        let healthz = 0;
        let previewDuring = { status: 0, headers: {} as Record<string, unknown> };
        let onChanges = "";
        const rep = await underLoad(
            "13 maintenance on/off",
            async () => {
                setConfig({ maintenance: true });
                const on = await s.up("maintenance on");
                outputs.push(on.output);
                onChanges = `~${on.changes.update} +${on.changes.create} -${on.changes.delete}`;
                page = await get(live, "/visits");
                json = await get(live, "/version", { headers: { Accept: "application/json" } });
                healthz = (await get(live, "/healthz")).status;
                previewDuring = await get(preview, "/version");
                await sleep(3000);
                setConfig({ maintenance: false });
                outputs.push((await s.up("maintenance off")).output);
            },
            LOAD_RATE,
            { maintenance503: true },
        );
        assert.strictEqual(onChanges, "~1 +0 -0", "turning maintenance on changes one step and nothing else");
        assert.strictEqual(page.status, 503);
        assert.strictEqual(page.headers["retry-after"], "120");
        assert.match(page.body, /Down for maintenance/);
        assert.deepStrictEqual([json.status, JSON.parse(json.body).error], [503, "maintenance"]);
        assert.strictEqual(healthz, 200, "the proxy's own health stays up");
        // No colour takes writes from outside during maintenance (issue 16, finding 13).
        assert.deepStrictEqual([previewDuring.status, previewDuring.headers["x-switchyard-maintenance"]], [503, "on"], "the preview listener is closed too");
        const unavailable = rep.samples.filter((x) => x.status === 503).length;
        assert.ok(unavailable > 100, `503 while on: ${unavailable}`);
        assert.ok(rep.samples.filter((x) => rep.startedAt + x.at > rep.fnEndedAt).every((x) => x.status >= 200 && x.status < 300), "served again after off");
        for (const o of outputs) assert.doesNotMatch(o, /\[proxy-config /, "no proxy config step ran");
        assert.strictEqual(workers(), workersBefore, "the same nginx workers: no reload");
        assertSharedUntouched("maintenance");
    });

    it("14. npm run restore under load: maintenance during, rows exactly as in the backup; then a no-op up", async () => {
        // A backup at a quiet moment: a release (2.0.1, a tag of 2.0.0) with no load.
        execFileSync("docker", ["tag", APP2, "switchyard/app:2.0.1"]);
        const liveNow = s.route()!;
        const idle: Colour = liveNow === "blue" ? "green" : "blue";
        setConfig({ slots: { ...slots(), [idle]: { image: "switchyard/app:2.0.1" } }, liveColor: idle });
        await s.up("release 2.0.1 (a quiet backup)");
        const backup = (await readBackups()).at(-1)!;
        assert.strictEqual(backup.toImage, "switchyard/app:2.0.1");
        const maxId = Number(psql(s, "SELECT max(id) FROM visits"));
        const rowsAtBackup = psql(s, `SELECT count(*) FROM visits WHERE id <= ${maxId}`);
        for (let i = 0; i < 10; i++) assert.strictEqual((await get(live, "/visits", { method: "POST", body: `e2e after backup ${i}` })).status, 201);
        let restore = { status: 0, out: "", seconds: 0 };
        const dry = await s.ops("restore", "--backup", backup.name);
        assert.match(dry.out, /Nothing was changed/);
        await underLoad(
            "14 restore",
            async () => {
                restore = await s.ops("restore", "--backup", backup.name, "--yes");
            },
            LOAD_RATE,
            { maintenance503: true },
        );
        assert.strictEqual(restore.status, 0, restore.out);
        console.log(restore.out.trim().replace(/^/gm, "        "));
        figures[figures.length - 1] = { ...figures[figures.length - 1], upSeconds: restore.seconds, note: `${figures[figures.length - 1].note}; restore ${restore.seconds.toFixed(1)} s (${backup.sizeBytes} bytes)` };
        for (const line of ["maintenance on", "checksum matches", "restored database app in one transaction", "/health answers 200", "maintenance off"]) assert.ok(restore.out.includes(line), line);
        assert.strictEqual(psql(s, `SELECT count(*) FROM visits WHERE id <= ${maxId}`), rowsAtBackup, "the rows of the backup");
        assert.strictEqual(psql(s, "SELECT count(*) FROM visits WHERE note LIKE 'e2e after backup%'"), "0", "rows written after the backup are gone");
        assert.strictEqual(psql(s, `SELECT count(*) FROM visits WHERE id IN (${seeded.join(",")})`), String(seeded.length), "seeded rows kept");
        const noop = await s.up("no-op after everything", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0);
        assertSharedUntouched("restore");
    });
});
