// A load generator for 127.0.0.1 only: constant request rate, half the
// clients on keep-alive connections and half sending `Connection: close`,
// a mix of GET /version, GET /visits (reads Postgres and Redis) and
// POST /visits (writes both), and every response or socket error recorded
// with its time, status, colour and, when it failed, what it said.
import { spawn } from "child_process";
import * as http from "http";
import * as https from "https";
import * as path from "path";

export interface HttpAnswer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** One request to 127.0.0.1:port (never any other address). */
export function get(
    port: number,
    path: string,
    opts: {
        method?: string;
        body?: string | Buffer;
        agent?: http.Agent | false;
        close?: boolean;
        timeoutMs?: number;
        headers?: Record<string, string>;
        /** HTTPS trusting only `ca`, for `servername` (SNI and the name checked). Defaults to plain HTTP; the name to localhost. */
        tls?: { ca: string; servername?: string };
        /** The client's source address (127.0.0.2 stands in for a load balancer). Defaults to the kernel's choice. */
        localAddress?: string;
    } = {},
): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
        // HTTPS with only the given CA trusted: a certificate it did not sign fails.
        const request = (opts.tls ? https.request : http.request) as typeof http.request;
        const req = request(
            {
                host: "127.0.0.1",
                port,
                path,
                method: opts.method ?? "GET",
                agent: opts.agent ?? false,
                headers: { ...(opts.close ? { Connection: "close" } : {}), ...(opts.body ? { "Content-Type": "text/plain" } : {}), ...opts.headers },
                timeout: opts.timeoutMs ?? 30000,
                ...(opts.tls ? { ca: opts.tls.ca, servername: opts.tls.servername ?? "localhost" } : {}),
                ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
            } as http.RequestOptions,
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error("ETIMEDOUT: no answer in time")));
        req.on("error", reject);
        req.end(opts.body);
    });
}

export interface Sample {
    /** ms since the load started (LoadReport.startedAt). */
    at: number;
    path: string;
    latencyMs: number;
    status: number;
    colour?: string;
    error?: string;
    /** The start of a failed response's body: what the proxy or app said. */
    body?: string;
    keepAlive: boolean;
    method: string;
}

export interface LoadReport {
    /** Epoch ms when the load started: samples' `at` counts from here. */
    startedAt: number;
    samples: Sample[];
    requests: number;
    failed: number;
    errors: Record<string, number>;
    byColour: Record<string, number>;
    p50: number;
    p99: number;
}

export interface LoadOptions {
    port: number;
    /** Requests per second, spread evenly. */
    rate: number;
    /** Stop after this many ms (bounded in time). */
    durationMs: number;
    /** Share of POST /visits among requests. Defaults to 0.3. */
    postShare?: number;
    /** Share of GET /visits among requests. Defaults to 0.3. */
    readShare?: number;
    /** HTTPS, trusting only this CA (PEM). Defaults to plain HTTP. */
    tls?: { ca: string };
    /** Share of POST /jobs (a background job for the web app's worker; every 20th takes 3 s) among requests. Defaults to 0. */
    jobShare?: number;
}

/**
 * Runs constant load until durationMs or stop() — bounded in count and time.
 * A failure is a socket error or any status outside 2xx.
 */
export function startLoad(opts: LoadOptions): { stop: () => Promise<LoadReport>; done: Promise<LoadReport> } {
    const keepAliveAgent = opts.tls ? new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.tls.ca }) : new http.Agent({ keepAlive: true, maxSockets: 32 });
    const samples: Sample[] = [];
    const inflight = new Set<Promise<void>>();
    const t0 = Date.now();
    const maxRequests = Math.ceil((opts.rate * opts.durationMs) / 1000) + 1;
    let sent = 0;
    let stopped = false;
    const postShare = opts.postShare ?? 0.3;
    const readShare = opts.readShare ?? 0.3;
    const jobShare = opts.jobShare ?? 0;
    let jobs = 0;

    const fire = () => {
        const n = sent++;
        const keepAlive = n % 2 === 0;
        const bucket = (n * 7919) % 100;
        const job = bucket >= (1 - jobShare) * 100;
        const method = job || bucket < postShare * 100 ? "POST" : "GET";
        const path = job ? "/jobs" : method === "POST" || bucket < (postShare + readShare) * 100 ? "/visits" : "/version";
        const start = Date.now();
        const p = get(opts.port, job ? `/jobs?ms=${jobs++ % 20 === 0 ? 3000 : 20}` : path, {
            method,
            body: method === "POST" ? `load ${n}` : undefined,
            agent: keepAlive ? keepAliveAgent : false,
            close: !keepAlive,
            timeoutMs: 10000,
            tls: opts.tls,
        })
            .then((a) => {
                const ok = a.status >= 200 && a.status <= 299;
                samples.push({ at: start - t0, path, latencyMs: Date.now() - start, status: a.status, colour: a.headers["x-switchyard-color"] as string, keepAlive, method, ...(ok ? {} : { body: a.body.slice(0, 200) }) });
            })
            .catch((err: NodeJS.ErrnoException) => {
                samples.push({ at: start - t0, path, latencyMs: Date.now() - start, status: 0, error: err.code ?? err.message, keepAlive, method });
            })
            .finally(() => inflight.delete(p));
        inflight.add(p);
    };

    const done = new Promise<LoadReport>((resolve) => {
        const interval = 1000 / opts.rate;
        const tick = () => {
            if (stopped || Date.now() - t0 >= opts.durationMs || sent >= maxRequests) {
                Promise.all([...inflight]).then(() => {
                    keepAliveAgent.destroy();
                    resolve(report(samples, t0));
                });
                return;
            }
            // Catch up to the schedule so the rate holds even when timers lag.
            const due = Math.floor((Date.now() - t0) / interval) + 1;
            while (sent < due && sent < maxRequests) fire();
            setTimeout(tick, Math.max(1, interval / 2));
        };
        tick();
    });
    return {
        done,
        stop: () => {
            stopped = true;
            return done;
        },
    };
}

export function report(samples: Sample[], startedAt = 0): LoadReport {
    const errors: Record<string, number> = {};
    const byColour: Record<string, number> = {};
    let failed = 0;
    for (const s of samples) {
        const bad = s.error !== undefined || s.status < 200 || s.status > 299;
        if (bad) {
            failed++;
            const key = s.error ?? `HTTP ${s.status}`;
            errors[key] = (errors[key] ?? 0) + 1;
        }
        if (s.colour) byColour[s.colour] = (byColour[s.colour] ?? 0) + 1;
    }
    const lat = samples.filter((s) => !s.error).map((s) => s.latencyMs).sort((a, b) => a - b);
    const pct = (q: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : 0);
    return { startedAt, samples, requests: samples.length, failed, errors, byColour, p50: pct(0.5), p99: pct(0.99) };
}

/** The failed samples, each on one line: when, what, and what came back. */
export function describeFailures(rep: LoadReport, limit = 10): string {
    return rep.samples
        .filter((s) => s.error !== undefined || s.status < 200 || s.status > 299)
        .slice(0, limit)
        // Whether the request reused a kept-alive connection, and how long it took: a reset on a reused connection after a long idle differs from one on a new connection.
        .map((s) => `${new Date(rep.startedAt + s.at).toISOString()} ${s.method} ${s.path} -> ${s.error ?? s.status} ${s.colour ?? ""} ${s.body ?? ""}`.trim() + ` (${s.keepAlive ? "keep-alive" : "new connection"}, ${s.latencyMs} ms)`)
        .join("\n");
}

/** startLoad in a separate process: the load stays constant even while this process blocks. */
export function startLoadProcess(opts: LoadOptions): { stop: () => Promise<LoadReport> } {
    const child = spawn(process.execPath, ["-r", "ts-node/register", path.join(__dirname, "load-worker.ts"), String(opts.port), String(opts.rate), String(opts.durationMs)], {
        stdio: ["ignore", "pipe", "inherit"],
        // Compile without a type check: a checked start-up costs seconds of CPU
        // just as the operation under measurement begins. The CA comes as data.
        env: {
            ...process.env,
            TS_NODE_TRANSPILE_ONLY: "true",
            ...(opts.tls ? { SWITCHYARD_LOAD_CA: opts.tls.ca } : {}),
            ...(opts.postShare !== undefined || opts.readShare !== undefined || opts.jobShare !== undefined
                ? { SWITCHYARD_LOAD_SHARES: `${opts.postShare ?? 0.3},${opts.readShare ?? 0.3},${opts.jobShare ?? 0}` }
                : {}),
        },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const done = new Promise<LoadReport>((resolve, reject) =>
        child.on("close", (code) => (code === 0 ? resolve(JSON.parse(out) as LoadReport) : reject(new Error(`load worker exited ${code}`)))),
    );
    return {
        stop: () => {
            child.kill("SIGTERM");
            return done;
        },
    };
}
