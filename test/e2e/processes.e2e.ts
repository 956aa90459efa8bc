// The whole app rides the release (issue 29): the web app (examples/web-app)
// with a worker that takes jobs from a Redis list (reliable queue, every 20th
// job 3 s long) and records each in Postgres, and a scheduler that records a
// tick every second, all from the same image. Under 100 req/s (a fifth of them
// POST /jobs, 20 jobs/s) the release and its rollback, standby keep and
// retire: no failed request, every enqueued job done exactly once, the old
// colour's workers take no job after the switch, and across the five switches
// never two schedulers in one second. Then a release whose worker cannot
// start stops before the switch; `npm run exec` and `npm run logs --process`.
import * as assert from "assert";
import { execFileSync, spawn } from "child_process";
import { createHash } from "crypto";
import { REPO } from "../../lib/project";
import { describeFailures, LoadOptions } from "../scripts/load";
import { baseConfig, changed, E2EStack, freePort, missingParts, psql, redisCli, say, waitFor, withLoad } from "./harness";

const V1 = "switchyard/webapp:1.0.0";
const V2 = "switchyard/webapp:1.1.0";
const BROKEN = "switchyard/webapp:e2e-broken-worker";
const SECRET = `s3cret-${Date.now().toString(36)}-value`;
const PROCESSES = {
    worker: { kind: "worker", command: ["node", "worker.js"], replicas: 2, stopGraceSeconds: 10 },
    clock: { kind: "scheduler", command: ["node", "clock.js"], stopGraceSeconds: 5 },
};

describe("e2e: workers and a scheduler ride the release", function () {
    let s: E2EStack;
    let live = 0;
    let config: Record<string, any>;
    const figures: string[] = [];
    const load = (): LoadOptions => ({ port: live, rate: 100, durationMs: 10 * 60 * 1000, postShare: 0.2, readShare: 0.2, jobShare: 0.2 });

    before(async function () {
        const missing = missingParts();
        if (missing.length) {
            console.log(`e2e SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        // A release whose worker cannot start: the web app serves, its worker exits at once.
        execFileSync("docker", ["build", "-q", "-t", BROKEN, "-"], { input: `FROM ${V1}\nENV WORKER_FAIL_AT_START=1\n` });
        live = await freePort();
        const base = baseConfig(live, await freePort());
        config = {
            ...base,
            slots: { blue: { image: V1, env: { APP_NOTE: "blue-note" } } },
            // Set once for both colours: a release carries it, a live colour keeps what it was released with.
            env: { APP_GREETING: "v1" },
            standby: "keep",
            drainSeconds: 5,
            backups: { enabled: false },
            // 2 web + 3 process containers per colour, 10 connections each, both colours at a switch.
            postgres: { image: "switchyard/postgres:local", maxConnections: 200 },
            processes: PROCESSES,
        };
        s = await E2EStack.create("procs", config);
        for (const colour of ["blue", "green"]) await s.stack.setConfig(`switchyard:slotSecrets.${colour}.APP_SECRET`, { value: SECRET, secret: true }, true);
        // Kept as Pulumi stored them (encrypted) when the config is written again.
        config.slotSecrets = s.readConfig().slotSecrets;
        const up = await s.up("fresh");
        assert.match(up.output, /processes per colour \(blue\): clock scheduler ×1, worker worker ×2/);
        const running = s.containers(false).map((c) => c.name);
        for (const n of ["worker-blue-1", "worker-blue-2", "clock-blue-1"]) assert.ok(running.includes(`${s.names.namePrefix}-${n}`), `${n} runs after the first up: ${running.join(" ")}`);
    });

    after(async function () {
        if (s) await s.destroy();
        if (figures.length) console.log(figures.map((f) => `      | ${f} |`).join("\n"));
    });

    /** APP_GREETING of each container of a colour (web and processes), as Docker runs it. */
    const greeting = (colour: string) =>
        [...new Set(s.containers().filter((c) => c.colour === colour && (c.role === "app" || c.role === "process")).map((c) => execFileSync("docker", ["inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", c.name], { encoding: "utf8" }).split("\n").find((l) => l.startsWith("APP_GREETING=")) ?? "none"))].join(",");
    const running = (colour: string, proc: string) => s.containers(false).filter((c) => c.role === "process" && c.colour === colour && c.name.includes(`-${proc}-`)).length;
    const release = async (label: string, changes: Record<string, any>) => {
        config = { ...config, ...changes };
        s.writeConfig(config);
        const up = await s.up(label);
        return { up, endedAt: Date.now() };
    };
    /** Every job POST /jobs accepted was done exactly once; none is left in a queue. */
    const jobsExactlyOnce = async (accepted: number, label: string) => {
        await waitFor("the job queue to empty", () => redisCli(s, "LLEN", "webapp:jobs") === "0", 60000);
        await waitFor("every job in hand to finish", () => Number(psql(s, "SELECT count(*) FROM jobs_done")) >= Number(redisCli(s, "GET", "webapp:jobs:enqueued")), 30000).catch(() => undefined);
        const enqueued = Number(redisCli(s, "GET", "webapp:jobs:enqueued"));
        const [rows, distinct] = psql(s, "SELECT count(*), count(DISTINCT job_id) FROM jobs_done").split("|").map(Number);
        const dupes = psql(s, "SELECT count(*) FROM (SELECT job_id FROM jobs_done GROUP BY job_id HAVING count(*) > 1) d");
        say(`${label}: ${accepted} jobs accepted under load, ${enqueued} enqueued in all, ${rows} done (${distinct} distinct, ${dupes} done twice)`);
        assert.strictEqual(Number(dupes), 0, "a job was done twice");
        assert.strictEqual(distinct, enqueued, "a job was lost (enqueued and never done)");
        assert.strictEqual(rows, enqueued);
        return { enqueued, rows };
    };
    const takenBy = (colour: string, after: number, before = Date.now() + 3600000) =>
        Number(psql(s, `SELECT count(*) FROM jobs_done WHERE color = '${colour}' AND taken_at > to_timestamp(${after / 1000}) AND taken_at < to_timestamp(${before / 1000})`));

    it("1. standby keep: release to green and roll back under 100 req/s and 20 jobs/s: 0 failed, every job once, the old colour's workers take none after the switch; shared variables follow releases", async () => {
        const blueWeb = Object.fromEntries(s.containers(false).filter((c) => c.role === "app").map((c) => [c.name, s.identity(c.name)]));
        let toGreen = 0;
        let toBlue = 0;
        let rollbackAt = 0;
        let settleOutput = "";
        const rep = await withLoad(load(), async () => {
            // The release carries a changed shared variable to green; blue, live until the switch, keeps its own.
            const a = await release("release to green (keep)", { liveColor: "green", env: { APP_GREETING: "v2" }, slots: { ...config.slots, green: { image: V2, env: { APP_NOTE: "green-note" } } } });
            assert.deepStrictEqual([greeting("blue"), greeting("green")], ["APP_GREETING=v1", "APP_GREETING=v2"]);
            toGreen = a.endedAt;
            settleOutput = a.up.output;
            assert.strictEqual(running("blue", "worker"), 0, "blue's workers stopped after the switch (keep: old code takes no new job)");
            assert.strictEqual(running("green", "worker"), 2);
            // The next up changes nothing: blue, kept for the rollback, keeps what it ran (config holds nothing green lacks).
            const noop = await s.up("no-op after the release (keep)", { expectNoChanges: true });
            assert.strictEqual(changed(noop.changes), 0);
            rollbackAt = Date.now();
            const b = await release("rollback to blue (keep)", { liveColor: "blue" });
            toBlue = b.endedAt;
            // The rollback brings back blue's own values, though the config now says v2.
            assert.deepStrictEqual([greeting("blue"), greeting("green")], ["APP_GREETING=v1", "APP_GREETING=v2"]);
        });
        const jobs = rep.samples.filter((x) => x.path === "/jobs");
        say(`keep release + rollback: ${rep.requests} requests (${jobs.length} POST /jobs), ${rep.failed} failed, p99 ${rep.p99} ms, by colour ${JSON.stringify(rep.byColour)}`);
        assert.strictEqual(rep.failed, 0, describeFailures(rep));
        assert.ok(jobs.length >= 20 * ((rep.ended - rep.began) / 1000) * 0.8, `about 20 jobs/s were enqueued (${jobs.length})`);
        const { rows } = await jobsExactlyOnce(jobs.length, "keep");
        assert.match(settleOutput, /stopped \S+-worker-blue-\d in [\d.]+s \(SIGTERM/);
        assert.match(settleOutput, /scheduler clock: handed over to \S+-clock-green-1; none ran for [\d.]+s/);
        // After each switch finished, the old colour's workers took nothing.
        assert.strictEqual(takenBy("blue", toGreen, rollbackAt), 0, "blue took a job after the switch to green finished");
        assert.strictEqual(takenBy("green", toBlue), 0, "green took a job after the rollback finished");
        const long = psql(s, "SELECT count(*) FROM jobs_done WHERE done_at - taken_at > interval '2.9 seconds'");
        figures.push(`keep: release + rollback | ${rep.requests} requests | ${rep.failed} failed | ${rows} jobs done once | ${long} of 3 s`);
        assert.ok(Number(long) > 0, "the 3-second jobs ran");
        assert.strictEqual(running("green", "worker") + running("green", "clock"), 0);
        assert.strictEqual(running("blue", "worker") + running("blue", "clock"), 3);
        // Each worker stopped at a switch finished what it had in hand and exited by itself (no kill at the grace's end).
        const logs = await s.ops("logs", "--process", "worker", "--since", "30m");
        const inHand = [...logs.out.matchAll(/SIGTERM: taking no new job, finishing (\d+) in hand/g)].map((m) => Number(m[1]));
        const finished = [...logs.out.matchAll(/stopped: every job in hand finished/g)].length;
        say(`workers stopped at the two switches: ${inHand.length}, with ${inHand.join(", ")} job(s) in hand; ${finished} said every job in hand finished`);
        assert.strictEqual(inHand.length, 4, logs.out.slice(-2000));
        assert.strictEqual(finished, 4);
        const exits = execFileSync("docker", ["inspect", "-f", "{{.State.ExitCode}}", `${s.names.namePrefix}-worker-green-1`, `${s.names.namePrefix}-worker-green-2`], { encoding: "utf8" }).trim().split("\n");
        assert.deepStrictEqual(exits, ["0", "0"], "green's workers exited 0 within their grace (137 would be a kill)");

        // A shared value changed while blue is live: staged on green (standby), blue never restarted, no guard refusal.
        const staged = await release("shared variable changed", { env: { APP_GREETING: "v3" } });
        assert.deepStrictEqual([greeting("blue"), greeting("green")], ["APP_GREETING=v1", "APP_GREETING=v3"]);
        for (const [name, id] of Object.entries(blueWeb)) assert.strictEqual(s.identity(name), id, `${name} (live) was never restarted`);
        say(`shared variable v1 -> v2 -> v3: the release carried v2 to green, a no-op after it kept blue's v1, the rollback brought it back, v3 staged on green (${staged.up.changes.replace} replaced, ${staged.up.changes.create} created, ${staged.up.changes.delete} deleted) with live blue untouched`);
    });

    it("2. standby retire: three more switches under load: 0 failed, every job once; across five switches never two schedulers in a second", async () => {
        const rep = await withLoad(load(), async () => {
            await release("release to green (retire)", { standby: "retire", liveColor: "green" });
            assert.strictEqual(s.containers().filter((c) => c.colour === "blue").length, 0, "blue retired: its web and process containers are removed");
            assert.strictEqual(greeting("green"), "APP_GREETING=v3");
            // Re-created by the rollback, blue comes back with what it ran (v1), not with today's v3.
            const back = await release("rollback to blue (retire)", { liveColor: "blue", slots: { ...config.slots, blue: { image: V1, env: { APP_NOTE: "blue-note" } } } });
            assert.match(back.up.output, /blue comes back with the variables it ran when it was retired/);
            assert.strictEqual(greeting("blue"), "APP_GREETING=v1");
            await release("release to green again (retire)", { liveColor: "green" });
            assert.strictEqual(greeting("green"), "APP_GREETING=v3");
        });
        const jobs = rep.samples.filter((x) => x.path === "/jobs");
        say(`retire: 3 switches: ${rep.requests} requests (${jobs.length} POST /jobs), ${rep.failed} failed, p99 ${rep.p99} ms`);
        assert.strictEqual(rep.failed, 0, describeFailures(rep));
        const { rows } = await jobsExactlyOnce(jobs.length, "retire");
        const twoAtOnce = psql(s, "SELECT count(*) FROM (SELECT date_trunc('second', at) FROM ticks GROUP BY 1 HAVING count(DISTINCT clock) > 1) t");
        const gap = Number(psql(s, "SELECT coalesce(max(extract(epoch FROM at - prev)), 0) FROM (SELECT at, lag(at) OVER (ORDER BY at) AS prev FROM ticks) t"));
        const clocks = psql(s, "SELECT count(DISTINCT clock) FROM ticks");
        say(`scheduler over five switches: ${clocks} clock containers ticked, seconds with two: ${twoAtOnce}, longest gap between ticks ${gap.toFixed(2)} s`);
        figures.push(`retire: 3 switches | ${rep.requests} requests | ${rep.failed} failed | ${rows} jobs done once | scheduler gap ${gap.toFixed(2)} s, ${twoAtOnce} seconds with two`);
        assert.strictEqual(Number(twoAtOnce), 0, "two schedulers ticked in one second");
        assert.ok(Number(clocks) >= 3, `the scheduler moved with the switches (${clocks} containers ticked)`);
        assert.ok(gap < 5, `longest gap between ticks ${gap.toFixed(2)} s (goal: under 5 s)`);
        const noop = await s.up("no-op", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0);
    });

    it("3. a release whose worker cannot start stops before the switch, named; live untouched", async () => {
        const before = Object.fromEntries(s.containers(false).filter((c) => c.colour === "green").map((c) => [c.name, s.identity(c.name)]));
        config = { ...config, liveColor: "blue", slots: { ...config.slots, blue: { image: BROKEN } } };
        s.writeConfig(config);
        const fail = await s.upFails("release with a broken worker");
        assert.match(fail.message, /workers of blue: \S+-worker-blue-\d (exited|restarts)/);
        assert.match(fail.message, /WORKER_FAIL_AT_START=1/);
        assert.match(fail.message, /live traffic was not switched/);
        assert.strictEqual(s.route(), "green");
        for (const [name, id] of Object.entries(before)) assert.strictEqual(s.identity(name), id, `${name} untouched`);
        assert.strictEqual(running("blue", "worker"), 0, "the broken workers were stopped again");
        assert.strictEqual(running("green", "clock"), 1, "the scheduler never left green");
        say(`broken worker: the up failed in ${fail.seconds.toFixed(1)}s before the switch; green serves, its workers and scheduler untouched`);
    });

    it("4. npm run exec reads the live release's variable and secret, writes Postgres, returns its exit code; no secret on its command line", async () => {
        // It records APP_NOTE and the secret's sha256: the secret itself is on no command line, not even the test's.
        const script =
            "const c=require('crypto');const {Pool}=require('pg');const p=new Pool({connectionString:process.env.DATABASE_URL});" +
            "p.query('CREATE TABLE IF NOT EXISTS exec_runs (note TEXT, secret_sha TEXT)')" +
            ".then(()=>p.query('INSERT INTO exec_runs VALUES ($1,$2)',[process.env.APP_NOTE,c.createHash('sha256').update(process.env.APP_SECRET||'').digest('hex')]))" +
            ".then(()=>p.end()).then(()=>setTimeout(()=>process.exit(Number(process.argv[1])),2000))";
        const run = (code: number) => {
            const child = spawn(process.execPath, ["-r", "ts-node/register", "ops/exec.ts", "--stack", s.name, "--stack-file", s.stackFile, "--", "node", "-e", script, String(code)], {
                cwd: REPO,
                env: { ...s.env, TS_NODE_TRANSPILE_ONLY: "true" },
            });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            return { child, done: new Promise<{ code: number; out: string }>((r) => child.on("close", (c) => r({ code: c ?? -1, out }))) };
        };
        const ok = run(0);
        // While it runs: its command and every process on this machine, without the secret.
        await waitFor("the one-off container", () => execFileSync("docker", ["ps", "-q", "--filter", `name=${s.names.namePrefix}-exec-`], { encoding: "utf8" }).trim() !== "", 30000);
        const id = execFileSync("docker", ["ps", "-q", "--filter", `name=${s.names.namePrefix}-exec-`], { encoding: "utf8" }).trim().split("\n")[0];
        const cmd = execFileSync("docker", ["inspect", "-f", "{{json .Path}} {{json .Args}} {{json .Config.Cmd}} {{json .Config.Labels}}", id], { encoding: "utf8" });
        const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
        assert.ok(!cmd.includes(SECRET), "the secret is in the one-off's command");
        assert.ok(!ps.includes(SECRET), "the secret is on a command line on this machine");
        const r0 = await ok.done;
        assert.strictEqual(r0.code, 0, r0.out);
        const r7 = await run(7).done;
        assert.strictEqual(r7.code, 7, r7.out);
        const sha = createHash("sha256").update(SECRET).digest("hex");
        assert.strictEqual(psql(s, "SELECT DISTINCT note || ' ' || secret_sha FROM exec_runs"), `green-note ${sha}`);
        assert.strictEqual(psql(s, "SELECT count(*) FROM exec_runs"), "2");
        assert.strictEqual(execFileSync("docker", ["ps", "-aq", "--filter", `name=${s.names.namePrefix}-exec-`], { encoding: "utf8" }).trim(), "", "the one-offs were removed");
        say(`npm run exec: exit 0 and 7 passed through; read APP_NOTE and APP_SECRET of green, wrote Postgres; no secret in its command or ps`);
    });

    it("5. npm run logs --process worker shows both worker replicas' lines", async () => {
        const r = await s.ops("logs", "--process", "worker", "--colour", "green", "--since", "30m");
        assert.strictEqual(r.status, 0, r.out);
        for (const n of [1, 2]) assert.match(r.out, new RegExp(`${s.names.namePrefix}-worker-green-${n} \\| .*working 8 at a time`));
        const st = await s.ops("status");
        assert.match(st.out, /worker\s+0\/2\s+2\/2/);
    });

    it("6. a live worker stopped from outside: status names it, the next up starts it again (gated), the one after is a no-op", async () => {
        const victim = `${s.names.namePrefix}-worker-green-1`;
        const web = Object.fromEntries(s.containers(false).filter((c) => c.role === "app").map((c) => [c.name, s.identity(c.name)]));
        // The broken release of scenario 3 is taken back: blue as it was released (retired).
        config = { ...config, liveColor: "green", slots: { ...config.slots, blue: { image: V1, env: { APP_NOTE: "blue-note" } } } };
        s.writeConfig(config);
        execFileSync("docker", ["stop", victim]);
        const st = await s.ops("status");
        assert.strictEqual(st.status, 3, st.out);
        assert.match(st.out, new RegExp(`!! worker of green \\(live\\) does not all run: ${victim}`));
        const heal = await s.up("heal the stopped worker");
        assert.match(heal.output, new RegExp(`found stopped: ${victim}`));
        assert.match(heal.output, /workers of green up/);
        assert.strictEqual(running("green", "worker"), 2);
        assert.strictEqual(running("green", "clock"), 1);
        for (const [name, id] of Object.entries(web)) if (name.includes("-green-")) assert.strictEqual(s.identity(name), id, `${name} untouched`);
        const noop = await s.up("no-op after the heal", { expectNoChanges: true });
        assert.strictEqual(changed(noop.changes), 0);
        say(`a stopped live worker: status exit 3 naming it; the next up started it (${heal.seconds.toFixed(1)}s, ${heal.changes.update} updated, ${heal.changes.delete} deleted: the broken blue), then a no-op`);
    });

    it("7. a failed bake sends the workers and the scheduler back with the traffic: the failed colour's stop, the old scheduler runs again, every job once", async () => {
        // A p99 limit no real request meets fails the bake with no failed request: what follows is the hand-back alone.
        const bake = { seconds: 20, maxErrorPercent: 5, maxP99Ms: 1, minRequests: 30 };
        const before = psql(s, "SELECT count(*) FROM ticks");
        let failedAt = 0;
        let failure = { message: "", seconds: 0, output: "" };
        const rep = await withLoad(load(), async () => {
            config = { ...config, liveColor: "blue", bake };
            s.writeConfig(config);
            failure = await s.upFails("release to blue, failing its bake");
            failedAt = Date.now();
            // Blue's workers, were one left, would take jobs here.
            await new Promise((r) => setTimeout(r, 5000));
        });
        assert.match(failure.message, /bake failed on [\s\S]* blue p99 \d+ ms [\s\S]*live traffic is back on green/);
        const said = `${failure.message}\n${failure.output}`;
        assert.match(said, /processes follow green: scheduler \S+-clock-green-1 runs, \S+-clock-blue-1 stopped; none ran for [\d.]+s/);
        assert.match(said, /processes follow green: started none, stopped \S+-worker-blue-\d \S+-worker-blue-\d/);
        assert.strictEqual(s.route(), "green");
        assert.deepStrictEqual([running("blue", "worker"), running("blue", "clock"), running("green", "worker"), running("green", "clock")], [0, 0, 2, 1]);
        const jobs = rep.samples.filter((x) => x.path === "/jobs");
        assert.strictEqual(rep.failed, 0, describeFailures(rep));
        const { rows } = await jobsExactlyOnce(jobs.length, "failed bake");
        assert.strictEqual(takenBy("blue", failedAt), 0, "blue took a job after its bake failed");
        const twoAtOnce = psql(s, "SELECT count(*) FROM (SELECT date_trunc('second', at) FROM ticks GROUP BY 1 HAVING count(DISTINCT clock) > 1) t");
        assert.strictEqual(Number(twoAtOnce), 0, "two schedulers ticked in one second");
        const ticksSince = Number(psql(s, `SELECT count(*) FROM ticks WHERE color = 'green' AND at > to_timestamp(${failedAt / 1000})`));
        assert.ok(ticksSince >= 3, `green's scheduler ticks again after the hand-back (${ticksSince} ticks in the 5 s after)`);
        say(`failed bake: ${rep.requests} requests, ${rep.failed} failed; ${rows} jobs done once (${Number(psql(s, "SELECT count(*) FROM ticks")) - Number(before)} ticks in all since); blue's workers and scheduler stopped, green's scheduler runs again`);
        figures.push(`failed bake hands back | ${rep.requests} requests | ${rep.failed} failed | ${rows} jobs done once | 0 seconds with two schedulers`);
    });
});
