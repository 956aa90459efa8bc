// The compiled engine's freshness check (lib/engine.ts), and the engine's
// Docker calls with a fake Docker: what each asks of the CLI, argument by
// argument (data as arguments, never spliced into the in-proxy shell).
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Docker, dockerCli, Proxy, slotContainerIds, stepDockerEnv } from "../../engine/docker";
import { engineBuildProblem, engineSources } from "../../lib/engine";

function fakeDocker(answer: (args: string[]) => { status?: number; stdout?: string }) {
    const calls: { args: string[]; input?: string }[] = [];
    const docker: Docker = {
        run: async (args, input) => {
            calls.push({ args, input });
            const a = answer(args);
            return { status: a.status ?? 0, stdout: a.stdout ?? "", stderr: "" };
        },
        stream: async () => 0,
    };
    return { docker, calls };
}

describe("the release engine", () => {
    describe("freshness of dist/engine (lib/engine.ts)", () => {
        let root: string;
        const write = (file: string, text: string, at: number) => {
            fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
            fs.writeFileSync(path.join(root, file), text);
            fs.utimesSync(path.join(root, file), at, at);
        };
        beforeEach(() => {
            root = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-engine-"));
            write("engine/bake.ts", 'import { X } from "../lib/routemarker";\nimport { Y } from "./docker";\nimport type { Z } from "../lib/config";\n', 100);
            write("engine/docker.ts", "", 100);
            write("lib/routemarker.ts", 'import * as fs from "fs";\nimport { packageFile } from "./package";\n', 100);
            write("lib/package.ts", "", 100);
            write("lib/config.ts", "", 100);
        });
        afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

        it("the sources are the engine's files and what they load, followed through lib; a type-only import loads nothing", () => {
            assert.deepStrictEqual(engineSources(root), ["engine/bake.ts", "engine/docker.ts", "lib/package.ts", "lib/routemarker.ts"]);
        });

        it("refuses a missing or older build, naming what to run; a fresh one passes", () => {
            assert.match(engineBuildProblem(root)!, /older than engine\/bake\.ts, engine\/docker\.ts, lib\/package\.ts, lib\/routemarker\.ts \(or missing\): run npm run build:engine/);
            for (const f of ["engine/bake.js", "engine/docker.js", "lib/routemarker.js", "lib/package.js"]) write(`dist/${f}`, "", 200);
            assert.strictEqual(engineBuildProblem(root), undefined);
            write("lib/package.ts", "changed", 300);
            assert.match(engineBuildProblem(root)!, /older than lib\/package\.ts /);
        });

        it("an installed package (dist only, no engine sources) has nothing to compare", () => {
            fs.rmSync(path.join(root, "engine"), { recursive: true });
            assert.strictEqual(engineBuildProblem(root), undefined);
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

        it("reads the route from the marker, and a state file without its trailing newline", async () => {
            const { docker } = fakeDocker((a) => (a[2] === "test" ? { status: 1 } : { stdout: "green\n\n" }));
            const proxy = new Proxy(docker, "p1");
            assert.strictEqual(await proxy.route(), "blue");
            assert.strictEqual(await proxy.readState("previous-live"), "green");
        });

        it("writes a state file from stdin, whole, by a rename", async () => {
            const { docker, calls } = fakeDocker(() => ({}));
            await new Proxy(docker, "p1").writeState("bake-failed-green", "a b \nwhy\n");
            assert.deepStrictEqual(calls[0].args.slice(0, 3), ["exec", "-i", "p1"]);
            assert.strictEqual(calls[0].args[calls[0].args.length - 1], "/etc/switchyard/state/bake-failed-green");
            assert.strictEqual(calls[0].input, "a b \nwhy\n");
        });

        it("lists a colour's containers by stack, role and colour labels, sorted full IDs", async () => {
            const { docker, calls } = fakeDocker(() => ({ stdout: "ff\naa\n" }));
            assert.deepStrictEqual(await slotContainerIds(docker, "proj-dev", "green"), ["aa", "ff"]);
            assert.deepStrictEqual(calls[0].args, ["ps", "--no-trunc", "--filter", "label=switchyard.stack=proj-dev", "--filter", "label=switchyard.role=app", "--filter", "label=switchyard.colour=green", "--format", "{{.ID}}"]);
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
