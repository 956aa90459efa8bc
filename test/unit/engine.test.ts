// The compiled program's freshness check (lib/build.ts), and the engine's
// Docker calls with a fake Docker: what each asks of the CLI, argument by
// argument (data as arguments, never spliced into the in-proxy shell).
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { spawnSync } from "child_process";
import { Docker, dockerCli, dockerEngine, execForm, imageOf, labelFilters, parseStates, Proxy, ProxyUnreadable, routeOf, runningImage, slotContainerIds, slotContainers, stepDockerEnv, whenRoutedTo } from "../../engine/docker";
import { ListedContainer, stopForm } from "../../engine/docker-reads";
import { addToHistory } from "../../engine/history";
import { readAndSwitch } from "../../engine/repoint";
import { planSwitch, stateOpArgs, switchVariants, variantKey } from "../../engine/switch-rules";
import { PREVIOUS_LIVE_IMAGE, RESTORE_LOCK, STATE_DIR } from "../../lib/routemarker";
import { buildProblem, programSources } from "../../lib/build";

/** A fake Docker: `answer` gives each CLI call's result, `listed` what a list finds; a read is recorded as ["list"|"inspect", ...its arguments]. */
function fakeDocker(answer: (args: string[]) => { status?: number; stdout?: string; stderr?: string }, listed: ListedContainer[] = []) {
    const calls: { args: string[]; input?: string }[] = [];
    const docker: Docker = {
        run: async (args, input) => {
            calls.push({ args, input });
            const a = answer(args);
            return { status: a.status ?? 0, stdout: a.stdout ?? "", stderr: a.stderr ?? "" };
        },
        list: async (labels) => (calls.push({ args: ["list", ...labels] }), listed),
        inspect: async (names) => (calls.push({ args: ["inspect", ...names] }), { found: [], missing: names }),
        stream: async () => 0,
        session: () => {
            throw new Error("no step under test opens a session");
        },
    };
    return { docker, calls };
}

/** A fake Docker whose execs run their in-proxy script in sh here, the state directory swapped for `dir`. */
function inProxyShell(dir: string) {
    return fakeDocker((a) => {
        // Where a script passes the state directory on (SWITCH_STATE), it is swapped there too.
        const r = spawnSync("sh", ["-c", a[4], "sh", dir, ...a.slice(7).map((x) => (x === STATE_DIR ? dir : x))], { encoding: "utf8" });
        return { status: r.status ?? 1, stdout: r.stdout };
    });
}

describe("the release engine", () => {
    it("selects a stack's web replicas or one process type, of one colour or both, by label (labelFilters)", () => {
        const values = (f: string[]) => f.filter((_, i) => i % 2 === 1);
        assert.deepStrictEqual(values(labelFilters("p/s")), ["label=switchyard.stack=p/s", "label=switchyard.role=app"]);
        assert.deepStrictEqual(values(labelFilters("p/s", { colour: "green" })), ["label=switchyard.stack=p/s", "label=switchyard.role=app", "label=switchyard.colour=green"]);
        assert.deepStrictEqual(values(labelFilters("p/s", { process: "worker", colour: "blue" })), [
            "label=switchyard.stack=p/s",
            "label=switchyard.role=process",
            "label=switchyard.process=worker",
            "label=switchyard.colour=blue",
        ]);
        assert.ok(labelFilters("p/s", { colour: "blue" }).every((x, i) => (i % 2 === 0) === (x === "--filter")));
    });

    describe("freshness of the compiled program in dist/ (lib/build.ts)", () => {
        let root: string;
        const write = (file: string, text: string, at: number) => {
            fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
            fs.writeFileSync(path.join(root, file), text);
            fs.utimesSync(path.join(root, file), at, at);
        };
        beforeEach(() => {
            root = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-build-"));
            write("index.ts", 'import { A } from "./components";\n', 100);
            write("components/index.ts", 'import { B } from "../lib/config";\n', 100);
            write("engine/bake.ts", 'import { X } from "../lib/routemarker";\nimport { Y } from "./docker";\nimport type { Z } from "../lib/defaults";\n', 100);
            write("engine/docker.ts", "", 100);
            write("lib/routemarker.ts", 'import * as fs from "fs";\nimport { packageFile } from "./package";\n', 100);
            write("lib/package.ts", "", 100);
            write("lib/config.ts", "", 100);
            write("lib/defaults.ts", "", 100);
            write("lib/unused.ts", "", 100);
        });
        afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

        it("the sources are the program's entry, its components and steps, and what they load, followed through lib and a directory's index; a type-only import loads nothing", () => {
            assert.deepStrictEqual(programSources(root), ["components/index.ts", "engine/bake.ts", "engine/docker.ts", "index.ts", "lib/config.ts", "lib/package.ts", "lib/routemarker.ts"]);
        });

        it("refuses a missing or older build, naming the sources and what to run; a fresh one passes", () => {
            assert.match(buildProblem(root)!, /older than components\/index\.ts, engine\/bake\.ts, engine\/docker\.ts, index\.ts, lib\/config\.ts, lib\/package\.ts, lib\/routemarker\.ts \(or missing\): run npm run build:program\. Nothing was created or changed\./);
            for (const f of ["index.js", "components/index.js", "engine/bake.js", "engine/docker.js", "lib/config.js", "lib/routemarker.js", "lib/package.js"]) write(`dist/${f}`, "", 200);
            assert.strictEqual(buildProblem(root), undefined);
            write("lib/package.ts", "changed", 300);
            assert.match(buildProblem(root)!, /older than lib\/package\.ts /);
            write("components/index.ts", 'import { B } from "../lib/config";\n// edited\n', 300);
            assert.match(buildProblem(root)!, /older than components\/index\.ts, lib\/package\.ts /, "an edited component is a stale program");
            // A build that started after both (tsc emitted nothing new for a touched, unchanged file): fresh.
            write("dist/.program-built", "", 400);
            assert.strictEqual(buildProblem(root), undefined);
            write("lib/package.ts", "changed again", 500);
            assert.match(buildProblem(root)!, /older than lib\/package\.ts /, "a source saved after the last build");
            fs.rmSync(path.join(root, "dist/engine/docker.js"));
            assert.match(buildProblem(root)!, /older than engine\/docker\.ts, lib\/package\.ts /, "a missing .js is missing, whatever the stamp");
        });

        it("an installed package (dist only, no sources) has nothing to compare", () => {
            for (const d of ["engine", "components", "lib"]) fs.rmSync(path.join(root, d), { recursive: true });
            fs.rmSync(path.join(root, "index.ts"));
            assert.strictEqual(buildProblem(root), undefined);
        });
    });

    describe("Docker calls (engine/docker.ts)", () => {
        it("points the route by a rename or an unlink in the proxy, the paths as arguments", async () => {
            const { docker, calls } = fakeDocker(() => ({}));
            const proxy = new Proxy(docker, "p1");
            assert.ok(await proxy.setRoute("green"));
            assert.ok(await proxy.setRoute("blue"));
            assert.deepStrictEqual(calls.map((c) => c.args.slice(0, 4)), [["exec", "p1", "sh", "-c"], ["exec", "p1", "sh", "-c"]]);
            assert.match(calls[0].args[4], /mv -f "\$1\/\.\$2\.tmp" "\$1\/\$2"/);
            assert.match(calls[1].args[4], /rm -f "\$1\/\$2"/);
            assert.deepStrictEqual(calls[0].args.slice(5), ["sh", "/etc/switchyard/state", "live-green"]);
        });

        it("reads the route from the marker, and a state file without its trailing newline, each by the in-proxy script", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-state-"));
            try {
                fs.writeFileSync(path.join(dir, "previous-live"), "green\n\n");
                const { docker, calls } = inProxyShell(dir);
                const proxy = new Proxy(docker, "p1");
                assert.strictEqual(await proxy.route(), "blue", "no marker: blue");
                fs.writeFileSync(path.join(dir, "live-green"), "");
                assert.strictEqual(await proxy.route(), "green");
                assert.strictEqual(await proxy.readState("previous-live"), "green");
                assert.strictEqual(await proxy.readState("restore-running"), "", "absent: empty");
                assert.deepStrictEqual(calls.map((c) => c.args.slice(0, 4)), Array(4).fill(["exec", "p1", "sh", "-c"]));
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("a read whose exec failed decides nothing: the route, a lock or a record throws, naming the files, the proxy and Docker's words", async () => {
            const paused = "Error response from daemon: Container 8b9c7b4c2b2e is paused, unpause the container before exec\n";
            const proxy = new Proxy(fakeDocker(() => ({ status: 1, stderr: paused })).docker, "p1");
            const words = /in the proxy p1: Error response from daemon: Container 8b9c7b4c2b2e is paused, unpause the container before exec$/;
            await assert.rejects(proxy.route(), (e: Error) => e instanceof ProxyUnreadable && /^could not read live-green in the proxy p1: /.test(e.message) && words.test(e.message));
            await assert.rejects(proxy.readState("restore-running"), (e: Error) => e instanceof ProxyUnreadable && /^could not read restore-running /.test(e.message));
            await assert.rejects(proxy.readStates(["went-live", "live-green"]), /^Error: could not read went-live, live-green in the proxy p1: /);
            // Nothing to say on stderr: the exit status stands in.
            await assert.rejects(new Proxy(fakeDocker(() => ({ status: 125 })).docker, "p1").route(), /in the proxy p1: docker exec exited with 125$/);
        });

        it("a record is not rewritten from a read that failed: adding to it reports false and writes nothing", async () => {
            const { docker, calls } = fakeDocker((a) => (a[1] === "-i" ? {} : { status: 1, stderr: "Error response from daemon: Container p1 is restarting" }));
            assert.strictEqual(await addToHistory(new Proxy(docker, "p1"), "went-live", "sha256:cc app:3"), false);
            assert.deepStrictEqual(calls.map((c) => c.args[1]), ["p1"], "one read, no write");
        });

        it("reads several state files in one exec, by the in-proxy script itself: contents as they are, absent ones undefined", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-states-"));
            try {
                fs.writeFileSync(path.join(dir, "went-live"), "sha256:aa app:1\nsha256:bb app:2\n\n");
                fs.writeFileSync(path.join(dir, "restore-running"), "");
                // A content that looks like another read's header ends nothing: this read's boundary is random.
                fs.writeFileSync(path.join(dir, "previous-live-image"), "0123456789abcdef live-green 1\napp:0");
                // The script runs in sh here as it runs in the proxy, the state directory swapped for this one.
                const { docker, calls } = inProxyShell(dir);
                const read = await new Proxy(docker, "p1").readStates(["went-live", "restore-running", "live-green", "previous-live-image"]);
                assert.strictEqual(calls.length, 1, "one exec");
                assert.deepStrictEqual(calls[0].args.slice(0, 4), ["exec", "p1", "sh", "-c"]);
                assert.deepStrictEqual(calls[0].args.slice(5, 7), ["sh", "/etc/switchyard/state"]);
                assert.deepStrictEqual([...read.entries()], [
                    ["went-live", "sha256:aa app:1\nsha256:bb app:2"],
                    ["restore-running", ""],
                    ["live-green", undefined],
                    ["previous-live-image", "0123456789abcdef live-green 1\napp:0"],
                ]);
                assert.strictEqual(routeOf(read), "blue", "no marker: blue");
                assert.strictEqual(routeOf(new Map([["live-green", ""]])), "green");
                assert.throws(() => parseStates("", "not hex", []), /boundary is hex digits/);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("reads state files and runs the step's next script in the same exec, only when the file it depends on says so", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-states-"));
            try {
                fs.writeFileSync(path.join(dir, "went-live"), "sha256:aa app:1\n");
                // The script runs in sh here as it runs in the proxy, the state directory swapped for this one.
                const { docker, calls } = inProxyShell(dir);
                const proxy = new Proxy(docker, "p1");
                // The script's arguments are data: a value with shell characters reaches it as it is.
                const then = 'printf "%s|" "$@"; exit 3';
                const ran = await proxy.readStatesThen(["live-green", "went-live"], "!live-green", then, "a b", "$(touch x)");
                assert.strictEqual(calls.length, 1, "one exec");
                assert.deepStrictEqual([...ran.states.entries()], [["live-green", undefined], ["went-live", "sha256:aa app:1"]]);
                assert.deepStrictEqual({ ran: ran.ran, status: ran.then.status, out: ran.then.stdout }, { ran: true, status: 3, out: "a b|$(touch x)|" });
                assert.ok(!fs.existsSync(path.join(dir, "x")), "nothing was run from an argument");
                // The route marker there (green): a script for blue does not run, one for green does.
                fs.writeFileSync(path.join(dir, "live-green"), "");
                const skipped = await proxy.readStatesThen(["live-green", "went-live"], "!live-green", then, "a");
                assert.deepStrictEqual({ ran: skipped.ran, status: skipped.then.status, out: skipped.then.stdout, green: skipped.states.get("live-green") }, { ran: false, status: 0, out: "", green: "" });
                assert.deepStrictEqual([whenRoutedTo("blue"), whenRoutedTo("green")], ["!live-green", "live-green"], "the conditions routeOf's reading gives");
                const green = await proxy.readStatesThen(["live-green"], "live-green", "echo green");
                assert.deepStrictEqual({ ran: green.ran, out: green.then.stdout, route: routeOf(green.states) }, { ran: true, out: "green\n", route: "green" });
                // The files are read whatever the script prints, and a file's content ends where the script's output begins.
                const always = await proxy.readStatesThen(["went-live"], "", 'echo "$1 went-live 1"; echo "$1 - 0"', "0123456789abcdef");
                assert.deepStrictEqual([always.states.get("went-live"), always.then.stdout], ["sha256:aa app:1", "0123456789abcdef went-live 1\n0123456789abcdef - 0\n"]);
                await assert.rejects(proxy.readStatesThen(["went-live"], "live-green", "true"), /'live-green' names no file it reads \(went-live\)/);
                // An exec that failed read nothing: no route, no script.
                const paused = new Proxy(fakeDocker(() => ({ status: 1, stderr: "Error response from daemon: Container p1 is paused" })).docker, "p1");
                await assert.rejects(paused.readStatesThen(["live-green"], "live-green", "true"), (e: Error) => e instanceof ProxyUnreadable && /could not read live-green in the proxy p1: Error response from daemon: Container p1 is paused$/.test(e.message));
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("re-point reads the route and previous-live-image and applies the plan they call for, in one exec (SWITCH_STATE)", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-switch-"));
            // The files of the state directory, as a map (a file's content as it is).
            const files = () => new Map(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]));
            // planSwitch's operations applied to a copy of the files: what the switch must leave.
            const expected = (before: Map<string, string>, ops: string[]) => {
                const after = new Map(before);
                for (let i = 0; i < ops.length; ) {
                    if (ops[i] === "w") (after.set(ops[i + 1], ops[i + 2]), (i += 3));
                    else (after.delete(ops[i + 1]), (i += 2));
                }
                return new Map([...after.entries()].sort());
            };
            try {
                const { docker, calls } = inProxyShell(dir);
                const proxy = new Proxy(docker, "p1");
                const switchTo = async (known: Parameters<typeof switchVariants>[0]) => {
                    const before = files();
                    const read = await readAndSwitch(proxy, known);
                    const facts = { ...known, live: routeOf(read.states), previousLiveImage: read.states.get(PREVIOUS_LIVE_IMAGE) ?? "" };
                    return { read, before, facts, plan: planSwitch(facts) };
                };
                // A release to green, a `$(...)` image name among the data: blue's image goes to the ledger, the marker is created last.
                const release = { target: "green" as const, retire: true, oldRunningImage: "app:1 $(touch x)", oldRunningImageId: "", targetImage: "app:2" };
                const r1 = await switchTo(release);
                assert.strictEqual(calls.length, 1, "one exec reads and writes");
                assert.deepStrictEqual({ status: r1.read.then.status, key: r1.read.then.stdout }, { status: 0, key: "blue 0\n" });
                assert.strictEqual(variantKey(r1.facts), "blue 0");
                assert.deepStrictEqual(files(), expected(r1.before, stateOpArgs(r1.plan.ops)));
                assert.strictEqual(files().get("previous-live-image"), "app:1 $(touch x)");
                assert.ok(files().has("live-green") && !fs.existsSync(path.join(dir, "x")), "routed to green; nothing run from a value");
                // Run twice: the route already moved; only the records again.
                const r2 = await switchTo(release);
                assert.strictEqual(r2.read.then.stdout, "green 0\n");
                assert.deepStrictEqual(files(), expected(r2.before, stateOpArgs(r2.plan.ops)));
                // Back to blue's image, live before the last switch (a trailing newline in the file is no difference): a rollback clears it.
                fs.writeFileSync(path.join(dir, "previous-live-image"), "app:1\n");
                const back = { target: "blue" as const, retire: false, oldRunningImage: "app:2", oldRunningImageId: "", targetImage: "app:1" };
                const r3 = await switchTo(back);
                assert.deepStrictEqual({ key: r3.read.then.stdout, rollback: r3.plan.rollback }, { key: "green 1\n", rollback: "rollback: back to app:1 on blue (from app:2)" });
                assert.deepStrictEqual(files(), expected(r3.before, stateOpArgs(r3.plan.ops)));
                assert.ok(!files().has("live-green") && !files().has("previous-live-image"), "routed to blue; the rollback's image record cleared");
                // A target with no image: previous-live-image decides nothing (one variant per route).
                assert.deepStrictEqual(switchVariants({ ...release, targetImage: "" }).map((v) => `${v.live} ${v.rollback}`), ["blue false", "green false"]);
                // Every variant is planSwitch's plan for the facts its key stands for.
                for (const v of switchVariants(release)) {
                    const facts = { ...release, live: v.live, previousLiveImage: v.rollback ? release.targetImage : "app:0" };
                    assert.deepStrictEqual([variantKey(facts), v.plan], [`${v.live} ${v.rollback ? 1 : 0}`, planSwitch(facts)]);
                }
                // Under a restore nothing is written, and the script does not run.
                fs.writeFileSync(path.join(dir, RESTORE_LOCK), "restore of x");
                const locked = await switchTo(release);
                assert.deepStrictEqual({ ran: locked.read.ran, out: locked.read.then.stdout }, { ran: false, out: "" });
                assert.deepStrictEqual(files(), locked.before);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("writes a state file from stdin, whole, by a rename", async () => {
            const { docker, calls } = fakeDocker(() => ({}));
            await new Proxy(docker, "p1").writeState("bake-failed-green", "a b \nwhy\n");
            assert.deepStrictEqual(calls[0].args.slice(0, 3), ["exec", "-i", "p1"]);
            assert.strictEqual(calls[0].args[calls[0].args.length - 1], "/etc/switchyard/state/bake-failed-green");
            assert.strictEqual(calls[0].input, "a b \nwhy\n");
        });

        it("lists a colour's containers by stack, role and colour labels: sorted full IDs and names, the newest one's image", async () => {
            // Newest first, as the engine lists them; the older one runs an image created by name.
            const listed = [
                { Id: "ff", Names: ["/p-app-green-2"], Image: "sha256:" + "b".repeat(64), Labels: { "switchyard.image": "app:2" } },
                { Id: "aa", Names: ["/p-app-green-1"], Image: "app:1", Labels: { "switchyard.image": "app:1" } },
            ];
            const { docker, calls } = fakeDocker(() => ({}), listed);
            assert.deepStrictEqual(await slotContainerIds(docker, "proj-dev", "green"), ["aa", "ff"]);
            assert.deepStrictEqual(calls[0].args, ["list", "switchyard.stack=proj-dev", "switchyard.role=app", "switchyard.colour=green"]);
            assert.deepStrictEqual(await slotContainers(docker, "proj-dev", "green"), ["p-app-green-1", "p-app-green-2"]);
            assert.deepStrictEqual(await runningImage(docker, "proj-dev", "green"), { image: "app:2", id: "sha256:" + "b".repeat(64) });
            assert.deepStrictEqual(await runningImage(fakeDocker(() => ({}), listed.slice(1)).docker, "proj-dev", "green"), { image: "app:1", id: "" }, "created by name: no id");
            assert.strictEqual(await imageOf(fakeDocker(() => ({})).docker, "proj-dev", "blue"), "", "none runs");
            const failing = { ...docker, list: () => Promise.reject(new Error("docker ps at unix:///x: boom")) };
            await assert.rejects(slotContainerIds(failing, "proj-dev", "green"), /^Error: could not list the green containers: docker ps at unix:\/\/\/x: boom$/);
            assert.strictEqual(await imageOf(failing, "proj-dev", "green"), "", "a list that failed: no image known");
        });

        it("a tcp:// host's step uses the TLS files the program wrote, and names a missing one", () => {
            const home = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-tls-"));
            try {
                const env = { SWITCHYARD_HOME: home, SWITCHYARD_DOCKER_TLS: "proj-dev/m3", DOCKER_HOST: "tcp://10.0.0.3:2376" };
                assert.match(stepDockerEnv(env).problem!, /the client TLS material of tcp:\/\/10\.0\.0\.3:2376 is missing \(.*proj-dev\/m3\/ca\.pem\)/);
                const dir = path.join(home, "docker-tls", "proj-dev", "m3");
                fs.mkdirSync(dir, { recursive: true });
                for (const f of ["ca", "cert", "key"]) fs.writeFileSync(path.join(dir, `${f}.pem`), "x");
                const ok = stepDockerEnv(env);
                assert.strictEqual(ok.problem, undefined);
                assert.strictEqual(ok.env.DOCKER_CERT_PATH, dir);
                assert.strictEqual(ok.env.DOCKER_TLS_VERIFY, "1");
                assert.deepStrictEqual(stepDockerEnv({ DOCKER_HOST: "unix:///var/run/docker.sock" }).env, { DOCKER_HOST: "unix:///var/run/docker.sock" });
            } finally {
                fs.rmSync(home, { recursive: true, force: true });
            }
        });
    });

    it("execForm: the exec forms the steps use are data for the Engine API; any other call is the CLI's", () => {
        assert.deepStrictEqual(execForm(["exec", "p1", "cat", "/proc/net/tcp"]), { container: "p1", cmd: ["cat", "/proc/net/tcp"], stdin: false });
        assert.deepStrictEqual(execForm(["exec", "-i", "-u", "postgres", "pg", "sh", "-c", "x", "sh", "-u"]), { container: "pg", cmd: ["sh", "-c", "x", "sh", "-u"], stdin: true, user: "postgres" });
        for (const cli of [["inspect", "p1"], ["exec", "-t", "p1", "sh"], ["exec", "-e", "A=1", "p1", "sh"], ["exec", "p1"], ["exec", "-u"], ["exec", "--user", "x", "p1", "sh"]]) assert.strictEqual(execForm(cli), undefined, cli.join(" "));
    });

    it("stopForm: `docker stop -t N NAME...` is data for the Engine API; any other stop is the CLI's", () => {
        assert.deepStrictEqual(stopForm(["stop", "-t", "10", "a", "b"]), { graceSeconds: 10, names: ["a", "b"] });
        for (const cli of [["stop", "a"], ["stop", "-t", "x", "a"], ["stop", "-t", "5"], ["stop", "-t", "5", "--time", "a"], ["start", "-t", "5", "a"]]) assert.strictEqual(stopForm(cli), undefined, cli.join(" "));
    });

    it("dockerEngine: an exec over ssh:// (a session either way) and every call that is not an exec, a stop or a read go to the docker CLI", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-docker-"));
        fs.writeFileSync(path.join(dir, "docker"), '#!/bin/sh\necho "cli $*"\n', { mode: 0o755 });
        const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
        try {
            assert.strictEqual((await dockerEngine({ ...env, DOCKER_HOST: "ssh://deploy@m1" }).run(["exec", "p1", "cat", "f"])).stdout, "cli exec p1 cat f\n");
            assert.strictEqual((await dockerEngine({ ...env, DOCKER_HOST: "unix:///nowhere.sock" }).run(["inspect", "p1"])).stdout, "cli inspect p1\n");
            // A unix socket: the exec goes over the API (nothing listens here, so it says so, in the CLI's place).
            const api = await dockerEngine({ ...env, DOCKER_HOST: "unix:///nowhere.sock" }).run(["exec", "p1", "cat", "f"]);
            assert.strictEqual(api.status, 1);
            assert.match(api.stderr, /the Docker engine at unix:\/\/\/nowhere\.sock closed the connection: connect ENOENT/);
            // So do a stop and the reads.
            const engine = dockerEngine({ ...env, DOCKER_HOST: "unix:///nowhere.sock" });
            const stop = await engine.run(["stop", "-t", "5", "p1"]);
            assert.strictEqual(stop.status, 1);
            assert.match(stop.stderr, /the Docker engine at unix:\/\/\/nowhere\.sock closed the connection: connect ENOENT/);
            await assert.rejects(engine.inspect(["p1"]), /the Docker engine at unix:\/\/\/nowhere\.sock closed the connection: connect ENOENT/);
            await assert.rejects(engine.list(["a=b"]), /the Docker engine at unix:\/\/\/nowhere\.sock closed the connection: connect ENOENT/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a docker CLI that exits before reading its input is its exit status, not a crash of the step (EPIPE)", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-docker-"));
        fs.writeFileSync(path.join(dir, "docker"), "#!/bin/sh\necho 'Error: No such container: x' >&2\nexit 3\n", { mode: 0o755 });
        const docker = dockerCli({ ...process.env, PATH: `${dir}:${process.env.PATH}` });
        // More than a pipe holds, so the write meets a closed pipe.
        for (let i = 0; i < 5; i++) {
            const r = await docker.run(["exec", "-i", "x", "sh"], "x".repeat(1 << 20));
            assert.deepStrictEqual([r.status, r.stderr.trim()], [3, "Error: No such container: x"]);
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });
});
