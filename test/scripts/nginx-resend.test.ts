// Which requests the proxy sends again when a replica fails midway, in a real
// nginx with the rendered config. Two replicas on the host's loopback: the
// first (listed first, so a fresh nginx's first pick) reads a request and
// drops the connection, as a replica killed while handling it does; the second
// answers. A request the proxy may not send twice must answer 502 and never
// reach the second replica.
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { renderNginxConfig } from "../../nginx/render";
import { RetriableMethod } from "../../lib/config";
import { docker, dockerAvailable, freePorts, IMAGES } from "./fixture";

const DROPPING = "127.0.0.2";
const ANSWERING = "127.0.0.3";

/** Methods each replica saw, in order. */
const seen: Record<string, string[]> = { [DROPPING]: [], [ANSWERING]: [] };

function listen(server: net.Server, address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => server.once("error", reject).listen(port, address, resolve));
}

function request(port: number, method: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, method, path: "/thing", agent: false, headers: { "Content-Type": "text/plain" } }, (res) => {
            let body = "";
            res.on("data", (d) => (body += d)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end(method === "GET" || method === "HEAD" ? undefined : "payload");
    });
}

describe("a replica that fails midway: what the proxy sends again (real nginx)", function () {
    this.timeout(120000);
    let appPort = 0;
    let live = 0;
    let dropping: net.Server;
    let answering: http.Server;
    let dir = "";
    let proxy = "";

    before(async function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        [appPort, live] = freePorts(2);
        dropping = net.createServer((socket) => {
            let head = "";
            socket.on("data", (d) => {
                head += d;
                if (!head.includes("\r\n\r\n")) return;
                seen[DROPPING].push(head.split(" ")[0]);
                socket.destroy();
            });
        });
        answering = http.createServer((req, res) => {
            seen[ANSWERING].push(req.method ?? "");
            req.resume().on("end", () => res.end(`answered ${req.method}\n`));
        });
        await listen(dropping, DROPPING, appPort);
        await listen(answering, ANSWERING, appPort);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-resend-"));
    });

    after(() => {
        if (proxy) docker("rm", "-f", proxy);
        dropping?.close();
        answering?.close();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** A fresh nginx per case: its first pick is the first replica listed, the dropping one. */
    function startProxy(idempotentMethods: RetriableMethod[]): void {
        if (proxy) docker("rm", "-f", proxy);
        const [preview] = freePorts(1);
        fs.writeFileSync(
            path.join(dir, "nginx.conf"),
            renderNginxConfig({
                appPort,
                drainSeconds: 1,
                routing: { mode: "upstreams", addresses: { blue: [DROPPING, ANSWERING], green: [DROPPING, ANSWERING] }, keepaliveSeconds: 0, failTimeoutSeconds: 5 },
                listeners: { mode: "host", live: { address: "127.0.0.1", port: live }, preview: { address: "127.0.0.1", port: preview } },
                behaviour: { idempotentMethods },
            }),
        );
        proxy = docker("run", "-d", "--network", "host", "-v", `${dir}:/etc/switchyard/nginx:ro`, IMAGES.nginx, "nginx", "-c", "/etc/switchyard/nginx/nginx.conf", "-g", "daemon off;").trim();
        for (let i = 0; i < 50; i++) {
            const r = docker("exec", proxy, "sh", "-c", "test -S /run/switchyard-live.sock && echo up || true");
            if (r.includes("up")) return;
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        }
        throw new Error(`nginx did not start: ${docker("logs", proxy)}`);
    }

    async function firstRequest(method: string, idempotentMethods: RetriableMethod[] = []) {
        startProxy(idempotentMethods);
        seen[DROPPING] = [];
        seen[ANSWERING] = [];
        const r = await request(live, method);
        return { status: r.status, dropped: [...seen[DROPPING]], answered: [...seen[ANSWERING]] };
    }

    it("GET and OPTIONS: sent again to the other replica, the client gets its answer", async () => {
        for (const method of ["GET", "OPTIONS"]) {
            assert.deepStrictEqual(await firstRequest(method), { status: 200, dropped: [method], answered: [method] }, method);
        }
    });

    it("POST, PATCH, PUT and DELETE: sent once, 502, never reaching a second replica", async () => {
        for (const method of ["POST", "PATCH", "PUT", "DELETE"]) {
            assert.deepStrictEqual(await firstRequest(method), { status: 502, dropped: [method], answered: [] }, method);
        }
    });

    it("methods the app marks idempotent (proxy.idempotentMethods) are sent again; the others still are not", async () => {
        assert.deepStrictEqual(await firstRequest("PUT", ["PUT", "POST"]), { status: 200, dropped: ["PUT"], answered: ["PUT"] });
        assert.deepStrictEqual(await firstRequest("POST", ["PUT", "POST"]), { status: 200, dropped: ["POST"], answered: ["POST"] });
        assert.deepStrictEqual(await firstRequest("DELETE", ["PUT", "POST"]), { status: 502, dropped: ["DELETE"], answered: [] });
    });

    it("a replica that cannot be reached at all: every method goes to the other one (nothing was sent)", async () => {
        dropping.close();
        try {
            for (const method of ["GET", "POST", "PUT"]) {
                assert.deepStrictEqual(await firstRequest(method), { status: 200, dropped: [], answered: [method] }, method);
            }
        } finally {
            dropping = net.createServer();
        }
    });
});
