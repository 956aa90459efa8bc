// One connection to the real engine (engine/dockerapi.ts), as rollback --now
// uses it: API calls one after another on it, then an exec that takes it
// over, with stdin held open until a line decides. Over the unix socket here;
// over ssh:// and tcp:// with TLS in hosts e2e 5d.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { dockerCli, dockerEngine, DockerResult } from "../../engine/docker";
import { ContainerInfo } from "../../engine/docker-reads";
import { EngineConnection, endpointOf, resolveEndpoint } from "../../engine/dockerapi";
import { dockerAvailable } from "./fixture";

const IMAGE = "switchyard/debian-base:bookworm";
const NAME = "switchyard-sytest-dockerapi";
const sh = (...args: string[]) => spawnSync("docker", args, { encoding: "utf8" });

describe("the Docker Engine API over one connection, on the real engine", function () {
    this.timeout(60000);
    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(missing);
        sh("rm", "-f", NAME);
        const r = sh("run", "-d", "--name", NAME, "--label", "switchyard.sytest=dockerapi", IMAGE, "sleep", "300");
        assert.strictEqual(r.status, 0, r.stderr);
    });
    after(function () {
        sh("rm", "-f", NAME);
        if (this.fakeCli) fs.rmSync(this.fakeCli as string, { recursive: true, force: true });
    });

    const local = () => {
        const e = resolveEndpoint({ ...process.env });
        assert.ok(typeof e !== "string", String(e));
        return EngineConnection.open(e, "the local engine");
    };

    it("lists, inspects and execs on one connection; the exec's stdin decides and its stdout comes line by line, apart from stderr", async () => {
        const conn = local();
        const list = await conn.call<{ Names: string[] }[]>("GET", `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: ["switchyard.sytest=dockerapi"] }))}`);
        assert.strictEqual(list.status, 200);
        assert.deepStrictEqual(list.json!.map((c) => c.Names[0]), [`/${NAME}`]);
        const missing = await conn.call<{ message: string }>("GET", "/networks/switchyard-sytest-no-such-network");
        assert.strictEqual(missing.status, 404, "an error answer leaves the connection usable");
        const lines: string[] = [];
        let ready!: () => void;
        const isReady = new Promise<void>((r) => (ready = r));
        const exec = await conn.exec(NAME, ["sh", "-c", 'echo "arg $1"; echo ready; echo "to stderr" >&2; read -r go; echo "got $go"', "sh", "a b; $(x)"], (l) => (lines.push(l), l === "ready" && ready()));
        await isReady;
        assert.deepStrictEqual(lines, ["arg a b; $(x)", "ready"], "arguments reach the command as data, not shell text");
        exec.send("apply\n");
        const out = await exec.done;
        assert.deepStrictEqual(lines, ["arg a b; $(x)", "ready", "got apply"]);
        assert.strictEqual(out.stderr, "to stderr\n");
        conn.close();
    });

    it("closing the connection ends the exec's stdin: a held exec writes nothing", async () => {
        const conn = local();
        const exec = await conn.exec(NAME, ["sh", "-c", "echo ready; read -r go || exit 4; touch /tmp/applied"], () => undefined);
        await new Promise((r) => setTimeout(r, 200));
        exec.close();
        await exec.done;
        await new Promise((r) => setTimeout(r, 300));
        assert.notStrictEqual(sh("exec", NAME, "test", "-e", "/tmp/applied").status, 0, "nothing applied after the close");
    });

    it("a step's docker exec over the API returns what the docker CLI returns: status, stdout, stderr, stdin, user, the engine's refusal", async function () {
        const cli = dockerCli(process.env);
        // A docker CLI on PATH that answers nothing real: every exec below must go over the API.
        const fake = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-nocli-"));
        fs.writeFileSync(path.join(fake, "docker"), "#!/bin/sh\necho 'not the API: the CLI ran' >&2\nexit 99\n", { mode: 0o755 });
        this.fakeCli = fake;
        const api = dockerEngine({ ...process.env, PATH: `${fake}:${process.env.PATH}` });
        const big = "x".repeat(3 << 20);
        const calls: [string[], string?][] = [
            [["exec", NAME, "sh", "-c", 'echo "out $1"; echo err >&2; exit 3', "sh", "a b; $(x)"]],
            [["exec", "-i", NAME, "sh", "-c", 'cat > /tmp/in && wc -c < /tmp/in && tail -c 3 /tmp/in'], big + "end"],
            [["exec", "-i", NAME, "cat"], ""],
            [["exec", "-u", "nobody", NAME, "id", "-un"]],
            [["exec", NAME, "sh", "-c", `head -c ${2 << 20} /dev/zero | tr '\\0' y`]],
            [["exec", "switchyard-sytest-no-such-container", "true"]],
            [["exec", "-u", "no-such-user", NAME, "true"]],
        ];
        const norm = (r: DockerResult) => ({ status: r.status, stdout: r.stdout, stderr: r.stderr });
        for (const [args, input] of calls) assert.deepStrictEqual(norm(await api.run(args, input)), norm(await cli.run(args, input)), args.join(" "));
        assert.strictEqual(sh("pause", NAME).status, 0);
        try {
            const paused = await api.run(["exec", NAME, "true"]);
            assert.deepStrictEqual(norm(paused), norm(await cli.run(["exec", NAME, "true"])));
            assert.match(paused.stderr, new RegExp(`^Error response from daemon: Container ${NAME} is paused, unpause the container before exec`));
        } finally {
            sh("unpause", NAME);
        }
        // A time limit cuts the call and says so, as the CLI's does.
        const t0 = Date.now();
        const cut = await api.run(["exec", NAME, "sleep", "5"], undefined, 300);
        assert.deepStrictEqual([cut.status, cut.timedOut], [1, true]);
        assert.ok(Date.now() - t0 < 2000, `cut after ${Date.now() - t0} ms`);
    });

    it("a step's reads (inspect, ps) and stop over the API return what the docker CLI returns", async function () {
        const fake = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-nocli-"));
        fs.writeFileSync(path.join(fake, "docker"), "#!/bin/sh\necho 'not the API: the CLI ran' >&2\nexit 99\n", { mode: 0o755 });
        const api = dockerEngine({ ...process.env, PATH: `${fake}:${process.env.PATH}` });
        const cli = dockerCli(process.env);
        const more = [`${NAME}-2`, `${NAME}-stop-api`, `${NAME}-stop-cli`];
        try {
            // A newer one with a label value of several lines (the plain variables' label has them).
            for (const n of more) sh("rm", "-f", n);
            const r = sh("run", "-d", "--name", more[0], "--label", "switchyard.sytest=dockerapi", "--label", "switchyard.env=A=1\nB=two words", IMAGE, "sleep", "300");
            assert.strictEqual(r.status, 0, r.stderr);
            for (const n of more.slice(1)) assert.strictEqual(sh("run", "-d", "--name", n, IMAGE, "sleep", "300").status, 0);

            const subset = (c: ContainerInfo) => ({
                Id: c.Id, Name: c.Name, Image: c.Image, RestartCount: c.RestartCount, State: { Status: c.State.Status, StartedAt: c.State.StartedAt },
                Config: { Image: c.Config.Image, Labels: c.Config.Labels }, ips: Object.values(c.NetworkSettings.Networks ?? {}).map((n) => n.IPAddress),
            });
            const names = [more[0], "switchyard-sytest-no-such-container", NAME];
            const [a, b] = [await api.inspect(names), await cli.inspect(names)];
            assert.deepStrictEqual(a.found.map(subset), b.found.map(subset));
            assert.deepStrictEqual(a.missing, ["switchyard-sytest-no-such-container"]);
            assert.deepStrictEqual(b.missing, a.missing);
            assert.deepStrictEqual(a.found.map((c) => c.Name), [`/${more[0]}`, `/${NAME}`], "in the order named");
            assert.ok(a.found.every((c) => c.State.Status === "running" && /^\d{4}-\d\d-\d\dT/.test(c.State.StartedAt) && Object.values(c.NetworkSettings.Networks ?? {}).some((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n.IPAddress))));
            assert.strictEqual(a.found[0].Config.Labels?.["switchyard.env"], "A=1\nB=two words");

            const listed = await api.list(["switchyard.sytest=dockerapi"]);
            assert.deepStrictEqual(listed, await cli.list(["switchyard.sytest=dockerapi"]));
            assert.deepStrictEqual(listed.map((c) => c.Names), [[`/${more[0]}`], [`/${NAME}`]], "newest first");
            assert.deepStrictEqual(listed.map((c) => c.Image), [IMAGE, IMAGE]);
            assert.deepStrictEqual(await api.list(["switchyard.sytest=dockerapi", "switchyard.sytest-none=x"]), []);

            // Stop: each way on a container of its own, and one docker has not.
            const norm = (x: DockerResult, own: string) => ({ status: x.status, stdout: x.stdout.replace(own, "NAME"), stderr: x.stderr });
            const stopped = await api.run(["stop", "-t", "1", more[1], "switchyard-sytest-no-such-container"]);
            assert.deepStrictEqual(norm(stopped, more[1]), norm(await cli.run(["stop", "-t", "1", more[2], "switchyard-sytest-no-such-container"]), more[2]));
            assert.deepStrictEqual(norm(stopped, more[1]), { status: 1, stdout: "NAME\n", stderr: "Error response from daemon: No such container: switchyard-sytest-no-such-container\n" });
            assert.strictEqual(sh("inspect", "-f", "{{.State.Status}}", more[1]).stdout.trim(), "exited");
            // Stopped already: stopped, as the CLI has it.
            assert.deepStrictEqual(norm(await api.run(["stop", "-t", "1", more[1]]), more[1]), norm(await cli.run(["stop", "-t", "1", more[2]]), more[2]));
        } finally {
            for (const n of more) sh("rm", "-f", n);
            fs.rmSync(fake, { recursive: true, force: true });
        }
    });

    it("names the container an exec cannot run in, and an engine that cannot be reached", async () => {
        const conn = local();
        await assert.rejects(conn.exec("switchyard-sytest-no-such-container", ["true"], () => undefined), /exec in switchyard-sytest-no-such-container at the local engine: No such container/);
        conn.close();
        // A port nothing listens on: the connection's end, with the reason.
        const port = await new Promise<number>((resolve) => {
            const srv = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (srv.address() as net.AddressInfo).port;
                srv.close(() => resolve(p));
            });
        });
        const e = endpointOf({ DOCKER_HOST: `tcp://127.0.0.1:${port}` });
        assert.ok(typeof e !== "string");
        const closed = EngineConnection.open(e, `tcp://127.0.0.1:${port}`);
        await assert.rejects(closed.call("GET", "/_ping"), new RegExp(`the Docker engine at tcp://127.0.0.1:${port} closed the connection: connect ECONNREFUSED`));
    });
});
