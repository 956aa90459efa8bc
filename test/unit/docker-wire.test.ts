// The bytes of the Docker Engine API (engine/docker-wire.ts), as a connection
// delivers them: in pieces split anywhere. The real connections (unix socket,
// TLS, ssh's dial-stdio) are test/scripts/dockerapi.test.ts and hosts e2e 5d.
import * as assert from "assert";
import { endpointOf, sshArgs } from "../../engine/dockerapi";
import { readFrames, readResponse, request } from "../../engine/docker-wire";

/** Every split of `bytes` into a first part that is incomplete: readResponse must wait on each. */
function eachPrefix(bytes: Buffer, check: (prefix: Buffer) => void): void {
    for (let i = 0; i < bytes.length; i++) check(bytes.subarray(0, i));
}

describe("Docker Engine API wire format (engine/docker-wire.ts)", () => {
    it("reads a response sized by Content-Length, only once it is whole, and leaves what follows", () => {
        const one = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"Id":"ab"}');
        eachPrefix(one, (p) => assert.strictEqual(readResponse(p), undefined, `incomplete at ${p.length} bytes`));
        const next = Buffer.from("HTTP/1.1 404 Not Found\r\n");
        const got = readResponse(Buffer.concat([one, next]))!;
        assert.strictEqual(got.response.status, 200);
        assert.strictEqual(got.response.headers["content-type"], "application/json");
        assert.strictEqual(got.response.body.toString(), '{"Id":"ab"}');
        assert.strictEqual(got.used, one.length, "the next response's bytes are left");
    });

    it("reads a chunked response (what the engine sends for a long list)", () => {
        const bytes = Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1,2,\r\n3;ext=1\r\n3]\n\r\n0\r\n\r\n");
        eachPrefix(bytes, (p) => assert.strictEqual(readResponse(p), undefined, `incomplete at ${p.length} bytes`));
        const got = readResponse(bytes)!;
        assert.strictEqual(got.response.body.toString(), "[1,2,3]\n");
        assert.strictEqual(got.used, bytes.length);
    });

    it("ends an upgraded exec's response at its headers: the raw stream follows", () => {
        const head = Buffer.from("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
        const stream = Buffer.from([1, 0, 0, 0, 0, 0, 0, 2, 0x68, 0x69]);
        const got = readResponse(Buffer.concat([head, stream]), true)!;
        assert.strictEqual(got.response.status, 101);
        assert.strictEqual(got.used, head.length);
        // A 200 with a body of its own still ends at the headers when asked (the engine's answer without Upgrade).
        const plain = Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nxx");
        assert.strictEqual(readResponse(plain, true)!.used, plain.length - 2);
    });

    it("refuses what is not HTTP, naming what came", () => {
        assert.throws(() => readResponse(Buffer.from("SSH-2.0-OpenSSH\r\n\r\n")), /not an HTTP response from the Docker engine: "SSH-2.0-OpenSSH"/);
        assert.throws(() => readResponse(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n")), /Content-Length .* -4/);
    });

    it("splits an exec's output into stdout and stderr frames, keeping a partial frame for later", () => {
        const frame = (stream: number, text: string) => Buffer.concat([Buffer.from([stream, 0, 0, 0]), (() => { const n = Buffer.alloc(4); n.writeUInt32BE(Buffer.byteLength(text)); return n; })(), Buffer.from(text)]);
        const all = Buffer.concat([frame(1, "ready\n"), frame(2, "warn\n"), frame(1, "é")]);
        for (let cut = 0; cut <= all.length; cut++) {
            const first = readFrames(all.subarray(0, cut));
            const second = readFrames(Buffer.concat([first.rest, all.subarray(cut)]));
            const frames = [...first.frames, ...second.frames];
            assert.deepStrictEqual(frames.map((f) => [f.stream, f.data.toString()]), [[1, "ready\n"], [2, "warn\n"], [1, "é"]], `cut at ${cut}`);
            assert.strictEqual(second.rest.length, 0);
        }
    });

    it("writes a request with its JSON body and length, and any extra headers", () => {
        const r = request("POST", "/exec/ab/start", { Detach: false }, { Connection: "Upgrade", Upgrade: "tcp" }).toString();
        assert.strictEqual(r, 'POST /exec/ab/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"Detach":false}');
        assert.strictEqual(request("GET", "/containers/json").toString(), "GET /containers/json HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n");
    });
});

describe("where a Docker engine listens (engine/dockerapi.ts endpointOf)", () => {
    it("reads DOCKER_HOST as the docker CLI does: unix, ssh with user and port, tcp with or without TLS", () => {
        assert.deepStrictEqual(endpointOf({}), { kind: "unix", path: "/var/run/docker.sock" });
        assert.deepStrictEqual(endpointOf({ DOCKER_HOST: "unix:///run/user/1000/docker.sock" }), { kind: "unix", path: "/run/user/1000/docker.sock" });
        assert.deepStrictEqual(endpointOf({ DOCKER_HOST: "ssh://deploy@10.0.0.5:2222" }), { kind: "ssh", host: "10.0.0.5", user: "deploy", port: 2222 });
        assert.deepStrictEqual(endpointOf({ DOCKER_HOST: "ssh://web-1" }), { kind: "ssh", host: "web-1" });
        assert.deepStrictEqual(endpointOf({ DOCKER_HOST: "tcp://10.0.0.6" }), { kind: "tcp", host: "10.0.0.6", port: 2375 });
        assert.deepStrictEqual(endpointOf({ DOCKER_HOST: "tcp://127.0.0.1:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/nonexistent/m3" }), {
            kind: "tcp",
            host: "127.0.0.1",
            port: 2376,
            tls: { ca: undefined, cert: "/nonexistent/m3/cert.pem", key: "/nonexistent/m3/key.pem", verify: true },
        });
    });

    it("runs the docker CLI's own remote command over ssh, never prompting, with the host after --", () => {
        assert.deepStrictEqual(sshArgs({ kind: "ssh", host: "web-1", user: "deploy", port: 2222 }), ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-T", "-l", "deploy", "-p", "2222", "--", "web-1", "docker", "system", "dial-stdio"]);
    });

    it("says what it cannot reach directly", () => {
        assert.match(String(endpointOf({ DOCKER_HOST: "npipe:////./pipe/docker_engine" })), /DOCKER_HOST 'npipe:.*only unix:\/\/, tcp:\/\/ and ssh:\/\/ hosts/);
        assert.match(String(endpointOf({ DOCKER_HOST: "ssh://web-1/extra" })), /an ssh:\/\/ host is \[user@\]host\[:port\]/);
    });
});
