// The data network a stack of several hosts publishes Postgres and Redis
// from, as the program declares it, on the real engine: the published port
// answers, and nothing on the network can open a connection out.
//
// "Out" is a network namespace made here that knows only its own /30 (TEST-NET-2),
// as a host on the internet knows nothing of a Docker subnet: it can answer
// a masqueraded connection (from the host's address) and nothing else. A
// container on Docker's default bridge, which Docker masquerades, reaches it:
// the control that shows this test can fail.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import { docker, dockerAvailable, freePorts } from "./fixture";
import { get, runProgram } from "../unit/mocks";

const NETNS = "sy-test-far";
const VETH = "sy-test-far0";
const HOST_SIDE = "198.51.100.1";
const FAR = "198.51.100.2";
const FAR_PORT = 18999;
const REDIS = "switchyard/redis:local";

const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" });

/** A Redis client's try to reach the far listener from a container on `network`: "connected", or the exit code. */
function reachFar(network: string): string {
    const r = sh("docker", ["run", "--rm", "--network", network, REDIS, "timeout", "2", "redis-cli", "-h", FAR, "-p", String(FAR_PORT), "PING"]);
    // The listener speaks HTTP: a client that got through reads its answer as a protocol error.
    return /Protocol error/.test(`${r.stdout}${r.stderr}`) ? "connected" : `exit ${r.status}`;
}

describe("the data network on the real engine: published, and no way out", function () {
    this.timeout(120000);
    let network = "";
    const container = "switchyard-sytest-datanet-redis";
    let listener: ReturnType<typeof spawn> | undefined;

    const cleanup = () => {
        sh("docker", ["rm", "-f", container]);
        if (network) sh("docker", ["network", "rm", network]);
        listener?.kill();
        sh("ip", ["netns", "del", NETNS]);
        sh("ip", ["link", "del", VETH]);
    };

    before(async function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        const run = await runProgram({
            config: {
                liveColor: "blue",
                slots: { blue: { image: "app:1.0.0" } },
                hosts: [
                    { name: "web-1", dockerHost: "ssh://deploy@web-1" },
                    { name: "web-2", dockerHost: "ssh://deploy@web-2" },
                ],
                data: { address: "10.0.0.11" },
            },
        });
        const data = get(run, "networks-data").inputs;
        network = `switchyard-sytest-datanet`;
        cleanup();
        const options = Object.entries(data.options ?? {}).flatMap(([k, v]) => ["-o", `${k}=${v}`]);
        docker("network", "create", ...options, network);
        // The far side: a namespace with its own /30 and no route to anything else.
        for (const args of [
            ["netns", "add", NETNS],
            ["link", "add", VETH, "type", "veth", "peer", "name", "far1"],
            ["link", "set", "far1", "netns", NETNS],
            ["addr", "add", `${HOST_SIDE}/30`, "dev", VETH],
            ["link", "set", VETH, "up"],
            ["netns", "exec", NETNS, "ip", "addr", "add", `${FAR}/30`, "dev", "far1"],
            ["netns", "exec", NETNS, "ip", "link", "set", "far1", "up"],
            // Its own address is reached over its loopback (the readiness check below).
            ["netns", "exec", NETNS, "ip", "link", "set", "lo", "up"],
        ]) {
            const r = sh("ip", args);
            assert.strictEqual(r.status, 0, `ip ${args.join(" ")}: ${r.stderr}`);
        }
        listener = spawn("ip", ["netns", "exec", NETNS, "python3", "-m", "http.server", String(FAR_PORT), "--bind", FAR], { stdio: "ignore" });
        const ready = () => sh("ip", ["netns", "exec", NETNS, "python3", "-c", `import socket; socket.create_connection(("${FAR}", ${FAR_PORT}), 1)`]).status === 0;
        for (let i = 0; i < 50 && !ready(); i++) await new Promise((r) => setTimeout(r, 100));
        assert.ok(ready(), "the far side's listener answers");
    });
    after(cleanup);

    it("is declared without Docker's masquerading", async () => {
        assert.strictEqual(docker("network", "inspect", "-f", '{{index .Options "com.docker.network.bridge.enable_ip_masquerade"}}', network), "false");
    });

    it("a port published from it answers on its address", () => {
        const [port] = freePorts(1);
        docker("run", "-d", "--name", container, "--network", network, "-p", `127.0.0.1:${port}:6379`, REDIS, "redis-server", "--protected-mode", "no");
        let pong = "";
        for (let i = 0; i < 50 && pong !== "PONG"; i++) {
            pong = sh("docker", ["run", "--rm", "--network", "host", REDIS, "redis-cli", "-h", "127.0.0.1", "-p", String(port), "PING"]).stdout.trim();
            if (pong !== "PONG") spawnSync("sleep", ["0.2"]);
        }
        assert.strictEqual(pong, "PONG");
    });

    it("nothing on it opens a connection out, while a masqueraded container does", () => {
        assert.strictEqual(reachFar("bridge"), "connected", "the control: Docker's default bridge reaches the far side");
        assert.strictEqual(reachFar(network), "exit 124", "a container on the data network must not reach out");
    });
});
