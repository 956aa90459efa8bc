// Load the way a browser fleet loads a framework app (examples/web-app), on
// 127.0.0.1 only: sessions with a CSRF token, a mix of page views, form POSTs
// (303 to /), uploads, and reads and writes of Postgres and Redis, every
// request with the app's host name; plus WebSocket clients that send a message,
// wait for its echo, and send the next. A WebSocket the server closes is
// reconnected at once and the message it had in hand is sent again, so a
// message counts as lost only if no socket ever echoed it.
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import WebSocket from "ws";
import { get, HttpAnswer, LoadReport, report, Sample } from "./load";

export interface WebLoadOptions {
    port: number;
    /** The app's host name; every request says Host: <host>:<port>. */
    host: string;
    /** Requests per second over all sessions. */
    rate: number;
    durationMs: number;
    /** HTTPS (and wss://), trusting this CA alone. */
    tls?: { ca: string };
    /** WebSocket clients kept connected. Defaults to 0. */
    websockets?: number;
}

/** What happened to one WebSocket connection. */
export interface SocketLife {
    client: number;
    openedAt: number;
    colour?: string;
    echoed: number;
    /** Close code (1000 / 1001: a close frame; 1006: the connection dropped without one) and when. */
    closedAt?: number;
    code?: number;
    reason?: string;
}

export interface WebLoadReport extends LoadReport {
    sockets: SocketLife[];
    /** Messages sent and echoed (after any resend on a new socket); lost = sent - echoed at the end, none in hand. */
    messages: { sent: number; echoed: number; resent: number; lost: number };
}

const UPLOAD = Buffer.alloc(64 * 1024, 7);
const UPLOAD_SHA = createHash("sha256").update(UPLOAD).digest("hex");

interface Session {
    cookie: string;
    token: string;
}

/** Runs until durationMs or stop(). A failure: a socket error, or an answer other than the one the kind of request expects. */
export function startWebLoad(opts: WebLoadOptions): { stop: () => Promise<WebLoadReport>; done: Promise<WebLoadReport> } {
    const scheme = opts.tls ? "https" : "http";
    const origin = `${scheme}://${opts.host}:${opts.port}`;
    const agent = opts.tls ? new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.tls.ca }) : new http.Agent({ keepAlive: true, maxSockets: 32 });
    const tls = opts.tls ? { ca: opts.tls.ca, servername: opts.host } : undefined;
    const samples: Sample[] = [];
    const inflight = new Set<Promise<void>>();
    const t0 = Date.now();
    let stopped = false;
    let sent = 0;
    const sessions: (Session | undefined)[] = Array(16).fill(undefined);
    const base = { Host: `${opts.host}:${opts.port}` };

    const request = (p: string, o: Parameters<typeof get>[2] = {}): Promise<HttpAnswer> => get(opts.port, p, { ...o, tls, headers: { ...base, ...o.headers } });

    async function session(i: number): Promise<Session> {
        const known = sessions[i];
        if (known) return known;
        const page = await request("/", { agent });
        const cookie = String(page.headers["set-cookie"]?.[0] ?? "").split(";")[0];
        const token = /name="csrf-token" content="([0-9a-f]+)"/.exec(page.body)?.[1];
        if (page.status !== 200 || !cookie || !token) throw new Error(`no session: GET / answered ${page.status}`);
        return (sessions[i] = { cookie, token });
    }

    const fire = () => {
        const n = sent++;
        const keepAlive = n % 2 === 0;
        const bucket = (n * 7919) % 100;
        const kind = bucket < 35 ? "page" : bucket < 55 ? "form" : bucket < 60 ? "upload" : bucket < 80 ? "read" : "write";
        const method = kind === "page" || kind === "read" ? "GET" : "POST";
        const p = kind === "page" ? "/" : kind === "form" ? "/notes" : kind === "upload" ? "/upload" : "/visits";
        const start = Date.now();
        const conn = { agent: keepAlive ? agent : (false as const), close: !keepAlive, timeoutMs: 10000 };
        const job = (async () => {
            const s = await session(n % sessions.length);
            const cookie = { Cookie: s.cookie };
            switch (kind) {
                case "page":
                    return { a: await request(p, { ...conn, headers: cookie }), want: 200 };
                case "form":
                    return {
                        a: await request(p, {
                            ...conn,
                            method,
                            body: new URLSearchParams({ authenticity_token: s.token, body: `note ${n}` }).toString(),
                            headers: { ...cookie, Origin: origin, "Content-Type": "application/x-www-form-urlencoded" },
                        }),
                        want: 303,
                    };
                case "upload": {
                    const a = await request(p, { ...conn, method, body: UPLOAD, headers: { ...cookie, Origin: origin, "X-CSRF-Token": s.token, "Content-Type": "application/octet-stream" } });
                    return { a, want: 200, check: () => a.status !== 200 || JSON.parse(a.body).sha256 === UPLOAD_SHA };
                }
                case "read":
                    return { a: await request(p, conn), want: 200 };
                default:
                    return { a: await request(p, { ...conn, method, body: `load ${n}` }), want: 201 };
            }
        })()
            .then(({ a, want, check }) => {
                const ok = a.status === want && (!check || check());
                samples.push({ at: start - t0, path: p, latencyMs: Date.now() - start, status: ok ? 200 : a.status === 200 ? 599 : a.status, colour: a.headers["x-switchyard-color"] as string, keepAlive, method, ...(ok ? {} : { body: a.body.slice(0, 200) }) });
            })
            .catch((err: NodeJS.ErrnoException) => {
                samples.push({ at: start - t0, path: p, latencyMs: Date.now() - start, status: 0, error: err.code ?? err.message, keepAlive, method });
            })
            .finally(() => inflight.delete(job));
        inflight.add(job);
    };

    // WebSockets: one message in hand per client; echoed as "<colour>:<message>".
    const sockets: SocketLife[] = [];
    const messages = { sent: 0, echoed: 0, resent: 0 };
    const clients: { ws?: WebSocket; inHand?: string; seq: number }[] = [];
    const connect = (i: number) => {
        if (stopped) return;
        const c = (clients[i] ??= { seq: 0 });
        const life: SocketLife = { client: i, openedAt: Date.now() - t0, echoed: 0 };
        sockets.push(life);
        // To 127.0.0.1, naming the app's host (Host, and SNI for the certificate check).
        const wsOptions = { headers: { Host: base.Host, Origin: origin }, ca: opts.tls?.ca, servername: opts.host } as WebSocket.ClientOptions;
        const ws = new WebSocket(`${opts.tls ? "wss" : "ws"}://127.0.0.1:${opts.port}/cable`, wsOptions);
        c.ws = ws;
        const next = () => {
            if (stopped || ws.readyState !== WebSocket.OPEN) return;
            if (!c.inHand) {
                c.inHand = `${i}-${++c.seq}`;
                messages.sent++;
            }
            ws.send(c.inHand);
        };
        ws.on("open", () => {
            if (c.inHand) messages.resent++;
            next();
        });
        ws.on("message", (data) => {
            const [colour, message] = String(data).split(/:(.*)/s);
            if (message !== c.inHand) return;
            life.colour ??= colour;
            life.echoed++;
            messages.echoed++;
            c.inHand = undefined;
            setTimeout(next, 200);
        });
        ws.on("close", (code, reason) => {
            life.closedAt = Date.now() - t0;
            life.code = code;
            life.reason = String(reason);
            if (!stopped) setTimeout(() => connect(i), 100);
        });
        ws.on("error", () => undefined); // the close event follows and says how it ended
    };
    for (let i = 0; i < (opts.websockets ?? 0); i++) connect(i);

    const done = new Promise<WebLoadReport>((resolve) => {
        const interval = 1000 / opts.rate;
        const tick = () => {
            if (stopped || Date.now() - t0 >= opts.durationMs) {
                stopped = true;
                for (const c of clients) c.ws?.close(1000, "load ended");
                Promise.all([...inflight]).then(() =>
                    setTimeout(() => {
                        agent.destroy();
                        const lost = messages.sent - messages.echoed - clients.filter((c) => c.inHand).length;
                        resolve({ ...report(samples, t0), sockets, messages: { ...messages, lost } });
                    }, 300),
                );
                return;
            }
            const due = Math.floor((Date.now() - t0) / interval) + 1;
            while (sent < due) fire();
            setTimeout(tick, Math.max(1, interval / 2));
        };
        tick();
    });
    return { done, stop: () => ((stopped = true), done) };
}

/** startWebLoad in a process of its own, so the load stays constant while the test blocks. */
export function startWebLoadProcess(opts: WebLoadOptions): { stop: () => Promise<WebLoadReport> } {
    const child = spawn(process.execPath, ["-r", "ts-node/register", path.join(__dirname, "webload-worker.ts")], {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true", SWITCHYARD_WEBLOAD: JSON.stringify(opts) },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const done = new Promise<WebLoadReport>((resolve, reject) =>
        child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as WebLoadReport) : reject(new Error(`web load worker exited ${code}`)))),
    );
    return { stop: () => (child.kill("SIGTERM"), done) };
}
