// The Docker Engine API over one connection, for the calls where every
// round trip counts (rollback --now). The docker CLI opens a connection per
// call, and over ssh:// each connection is an ssh session that starts a
// `docker system dial-stdio` on the host: a `docker exec` costs several, 0.35 s
// on a quiet machine and over a second under load. Here a host is one
// connection, opened once: the unix socket, TLS to tcp://, or one ssh session
// running `docker system dial-stdio`, the command the docker CLI runs there
// itself (fixed words, no data on the remote command line). Requests then go
// one after another on it; the last one, an exec, takes the connection over
// for its stdin and output (engine/docker-wire.ts reads both).
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import type { DockerResult } from "./docker";
import { HELD_EXTRA_CA, rootsWithExtraCa } from "./extra-ca";
import { readFrames, readResponse, request, Response } from "./docker-wire";

/** Where a Docker engine listens, as DOCKER_HOST names it. */
export type Endpoint =
    | { kind: "unix"; path: string }
    | { kind: "tcp"; host: string; port: number; tls?: { ca?: string; extraCa?: string; cert: string; key: string; verify: boolean } }
    | { kind: "ssh"; host: string; user?: string; port?: number };

/**
 * The endpoint of a docker CLI environment: DOCKER_HOST, with a tcp:// host's
 * DOCKER_CERT_PATH and DOCKER_TLS_VERIFY (or DOCKER_TLS) as the CLI reads
 * them. Without DOCKER_HOST, the engine's default socket. Returns the problem
 * for what the CLI reaches otherwise (npipe, fd), which callers hand back to it.
 */
export function endpointOf(env: NodeJS.ProcessEnv): Endpoint | string {
    const host = env.DOCKER_HOST || "unix:///var/run/docker.sock";
    if (host.startsWith("unix://")) return { kind: "unix", path: host.slice("unix://".length) };
    let url: URL;
    try {
        url = new URL(host);
    } catch {
        return `DOCKER_HOST '${host}' is not a URL`;
    }
    if (url.protocol === "ssh:") {
        if (!url.hostname || url.pathname.replace(/^\//, "")) return `DOCKER_HOST '${host}': an ssh:// host is [user@]host[:port], nothing after it`;
        return { kind: "ssh", host: url.hostname, ...(url.username ? { user: decodeURIComponent(url.username) } : {}), ...(url.port ? { port: Number(url.port) } : {}) };
    }
    if (url.protocol === "tcp:") {
        const certPath = env.DOCKER_CERT_PATH;
        const wantTls = !!env.DOCKER_TLS_VERIFY || !!env.DOCKER_TLS;
        const port = url.port ? Number(url.port) : wantTls ? 2376 : 2375;
        const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
        if (!wantTls) return { kind: "tcp", host: hostname, port };
        const dir = certPath || path.join(os.homedir(), ".docker");
        const file = (name: string) => path.join(dir, name);
        return { kind: "tcp", host: hostname, port, tls: { ca: fs.existsSync(file("ca.pem")) ? file("ca.pem") : undefined, ...(env[HELD_EXTRA_CA] ? { extraCa: env[HELD_EXTRA_CA] } : {}), cert: file("cert.pem"), key: file("key.pem"), verify: !!env.DOCKER_TLS_VERIFY } };
    }
    return `DOCKER_HOST '${host}': only unix://, tcp:// and ssh:// hosts are reached directly`;
}

/** The ssh command the docker CLI itself runs for an ssh:// host, never prompting. */
export function sshArgs(e: Extract<Endpoint, { kind: "ssh" }>): string[] {
    return ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-T", ...(e.user ? ["-l", e.user] : []), ...(e.port ? ["-p", String(e.port)] : []), "--", e.host, "docker", "system", "dial-stdio"];
}

/**
 * No version prefix: the engine answers in its own current version. A fixed
 * one would be refused at one end or the other (Docker 29 refuses below 1.44,
 * 20.10 knows nothing above 1.41), and the few fields read here are the same
 * in all of them.
 */
const API = "";

/** An exec attached over the connection: stdin open until close() or end(). */
export interface ApiExec {
    /** The exec's id, for its exit code (execExitCode) once it has ended. */
    id: string;
    send(text: string): void;
    /** Ends the exec's stdin, and only that: its output still comes (a half-close). */
    end(): void;
    /** Ends the connection (and with it the exec's stdin). */
    close(): void;
    /** Its output when the engine ends the stream. */
    done: Promise<{ stdout: string; stderr: string }>;
}

/** An exec the engine would not run: `daemon` is its own words (the docker CLI prints them after "Error response from daemon: "). */
export class ExecRefused extends Error {
    constructor(
        what: string,
        readonly daemon: string,
    ) {
        super(`${what}: ${daemon}`);
    }
}

export class EngineConnection {
    private buf: Buffer = Buffer.alloc(0);
    private ended = false;
    private failure = "";
    private wake: () => void = () => undefined;
    private stream?: (chunk: Buffer) => void;
    private readonly write: (b: Buffer) => void;
    private readonly destroy: () => void;
    private readonly endWrite: () => void;

    private constructor(
        private readonly label: string,
        io: { write: (b: Buffer) => void; end: () => void; destroy: () => void; onData: (f: (b: Buffer) => void) => void; onEnd: (f: (why: string) => void) => void },
    ) {
        this.write = io.write;
        this.endWrite = io.end;
        this.destroy = io.destroy;
        io.onData((b) => {
            if (this.stream) return this.stream(b);
            this.buf = Buffer.concat([this.buf, b]);
            this.wake();
        });
        io.onEnd((why) => {
            this.ended = true;
            this.failure ||= why;
            this.wake();
        });
    }

    /** Opens the one connection to an engine. */
    static open(e: Endpoint, label: string): EngineConnection {
        if (e.kind === "ssh") return EngineConnection.overSsh(spawn("ssh", sshArgs(e), { stdio: ["pipe", "pipe", "pipe"] }), label);
        const socket =
            e.kind === "unix"
                ? net.connect(e.path)
                : e.tls
                  ? tls.connect({ host: e.host, port: e.port, ca: e.tls.ca ? fs.readFileSync(e.tls.ca) : rootsWithExtraCa(e.tls.extraCa), cert: fs.readFileSync(e.tls.cert), key: fs.readFileSync(e.tls.key), rejectUnauthorized: e.tls.verify })
                  : net.connect(e.port, e.host);
        return new EngineConnection(label, {
            write: (b) => void socket.write(b),
            end: () => void socket.end(),
            destroy: () => socket.destroy(),
            onData: (f) => socket.on("data", f),
            onEnd: (f) => {
                socket.on("error", (err) => f(err.message));
                socket.on("close", () => f(""));
            },
        });
    }

    private static overSsh(child: ChildProcess, label: string): EngineConnection {
        let stderr = "";
        child.stderr!.on("data", (d) => (stderr += d));
        child.stdin!.on("error", () => undefined);
        return new EngineConnection(label, {
            write: (b) => void child.stdin!.write(b),
            end: () => void child.stdin!.end(),
            destroy: () => child.kill("SIGKILL"),
            onData: (f) => child.stdout!.on("data", f),
            onEnd: (f) => {
                child.on("error", (err) => f(err.message));
                child.on("close", (code) => f(code ? stderr.trim() || `ssh exited ${code}` : ""));
            },
        });
    }

    private async next(headOnly: boolean, limitMs: number): Promise<Response> {
        const deadline = Date.now() + limitMs;
        for (;;) {
            const got = readResponse(this.buf, headOnly);
            if (got) {
                this.buf = this.buf.subarray(got.used);
                return got.response;
            }
            if (this.ended) throw new Error(`the Docker engine at ${this.label} closed the connection${this.failure ? `: ${this.failure}` : ""}`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`the Docker engine at ${this.label} did not answer within ${limitMs / 1000}s`);
            await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, left);
                this.wake = () => (clearTimeout(timer), resolve());
            });
        }
    }

    /** One API call; the body parsed as JSON when there is one. */
    async call<T = unknown>(method: string, apiPath: string, body?: unknown, limitMs = 10000): Promise<{ status: number; json?: T; text: string }> {
        this.write(request(method, `${API}${apiPath}`, body));
        const r = await this.next(false, limitMs);
        const text = r.body.toString("utf8");
        let json: T | undefined;
        try {
            json = text ? (JSON.parse(text) as T) : undefined;
        } catch {
            json = undefined;
        }
        return { status: r.status, json, text };
    }

    /**
     * Runs `cmd` in a running container, stdin attached unless `opts.stdin` is
     * false, as `opts.user` when given; `onLine` gets its stdout line by line.
     * The connection is the exec's from here on. An exec the engine refuses
     * (no such container, paused) throws ExecRefused with the engine's words.
     */
    async exec(container: string, cmd: string[], onLine: (line: string) => void, limitMs = 10000, opts: { stdin?: boolean; user?: string } = {}): Promise<ApiExec> {
        const spec = { AttachStdin: opts.stdin ?? true, AttachStdout: true, AttachStderr: true, Tty: false, Cmd: cmd, ...(opts.user ? { User: opts.user } : {}) };
        const created = await this.call<{ Id?: string; message?: string }>("POST", `/containers/${encodeURIComponent(container)}/exec`, spec, limitMs);
        if (created.status !== 201 || !created.json?.Id) throw new ExecRefused(`exec in ${container} at ${this.label}`, created.json?.message ?? `HTTP ${created.status}`);
        const id = created.json.Id;
        this.write(request("POST", `${API}/exec/${id}/start`, { Detach: false, Tty: false }, { Connection: "Upgrade", Upgrade: "tcp" }));
        const head = await this.next(true, limitMs);
        if (head.status !== 101 && head.status !== 200) throw new Error(`exec in ${container} at ${this.label}: HTTP ${head.status}`);
        let pending = this.buf;
        this.buf = Buffer.alloc(0);
        const out = { stdout: "", stderr: "" };
        let partial = "";
        const take = (chunk: Buffer) => {
            const { frames, rest } = readFrames(Buffer.concat([pending, chunk]));
            pending = rest;
            for (const f of frames) {
                const text = f.data.toString("utf8");
                if (f.stream !== 2) {
                    out.stdout += text;
                    const lines = (partial + text).split("\n");
                    partial = lines.pop() ?? "";
                    lines.forEach(onLine);
                } else out.stderr += text;
            }
        };
        this.stream = take;
        take(Buffer.alloc(0));
        const done = new Promise<{ stdout: string; stderr: string }>((resolve) => {
            const finish = () => (partial && onLine(partial), (partial = ""), resolve(out));
            if (this.ended) return finish();
            this.wake = () => this.ended && finish();
        });
        return { id, send: (text) => this.write(Buffer.from(text)), end: () => this.endWrite(), close: () => this.destroy(), done };
    }

    close(): void {
        this.destroy();
    }
}

/** A `docker exec` as data: the container, the command, and the CLI's -i and -u. */
export interface ExecForm {
    container: string;
    cmd: string[];
    /** -u: the user the command runs as. */
    user?: string;
    /** -i: stdin attached (the step's input, then its end). */
    stdin: boolean;
}

/**
 * One `docker exec` over the API, with what the docker CLI would return: its
 * exit status, stdout and stderr, and a refusal in the engine's own words
 * (status 1, "Error response from daemon: ..."). One connection for the exec
 * and one for its exit code, instead of a CLI process that dials, negotiates
 * the API version and then does the same: a step makes a dozen of these, and
 * the release waits for each (docs/benchmarks.md). `timeoutMs` bounds the
 * whole call; past it the connection is cut and the result says `timedOut`.
 */
export async function execOnce(e: Endpoint, label: string, form: ExecForm, input?: string, timeoutMs?: number): Promise<DockerResult> {
    const conns: EngineConnection[] = [];
    const open = () => (conns.push(EngineConnection.open(e, label)), conns[conns.length - 1]);
    let timer: NodeJS.Timeout | undefined;
    const work = async (): Promise<DockerResult> => {
        const x = await open().exec(form.container, form.cmd, () => undefined, timeoutMs ?? 10000, { stdin: form.stdin, user: form.user });
        if (form.stdin) {
            if (input) x.send(input);
            x.end();
        }
        const out = await x.done;
        return { status: await execExitCode(open(), x.id), ...out };
    };
    const limit = new Promise<DockerResult>((resolve) => {
        if (timeoutMs !== undefined) timer = setTimeout(() => resolve({ status: 1, stdout: "", stderr: "", timedOut: true }), timeoutMs);
    });
    try {
        return await Promise.race([work(), limit]);
    } catch (err) {
        const why = err instanceof ExecRefused ? `Error response from daemon: ${err.daemon}` : (err as Error).message;
        return { status: 1, stdout: "", stderr: `${why}\n` };
    } finally {
        clearTimeout(timer);
        conns.forEach((c) => c.close());
    }
}

/**
 * An ended exec's exit code. The engine records it as the exec's process is
 * reaped, which can come a moment after its output ends: asked again then.
 */
async function execExitCode(conn: EngineConnection, id: string): Promise<number> {
    for (let tries = 0; ; tries++) {
        const r = await conn.call<{ ExitCode?: number | null; Running?: boolean; message?: string }>("GET", `/exec/${id}/json`);
        if (r.status !== 200) throw new Error(`the exit code of exec ${id.slice(0, 12)} cannot be read: ${r.json?.message ?? `HTTP ${r.status}`}`);
        if (!r.json?.Running && typeof r.json?.ExitCode === "number") return r.json.ExitCode;
        if (tries >= 100) throw new Error(`exec ${id.slice(0, 12)} ended its output but not its process within 1s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
}

/**
 * The endpoint the docker CLI would use in `env`: DOCKER_HOST, else the
 * context DOCKER_CONTEXT or the CLI's config names (asked of the CLI, with
 * its TLS material), else the default socket.
 */
export function resolveEndpoint(env: NodeJS.ProcessEnv): Endpoint | string {
    if (env.DOCKER_HOST) return endpointOf(env);
    let context = env.DOCKER_CONTEXT ?? "";
    if (!context) {
        try {
            const config = JSON.parse(fs.readFileSync(path.join(env.DOCKER_CONFIG || path.join(os.homedir(), ".docker"), "config.json"), "utf8")) as { currentContext?: string };
            context = config.currentContext ?? "";
        } catch {
            context = "";
        }
    }
    if (!context || context === "default") return endpointOf(env);
    try {
        const [c] = JSON.parse(execFileSync("docker", ["context", "inspect", context], { env, encoding: "utf8" })) as { Endpoints?: { docker?: { Host?: string; SkipTLSVerify?: boolean } }; Storage?: { TLSPath?: string } }[];
        const host = c?.Endpoints?.docker?.Host ?? "";
        const tlsDir = c?.Storage?.TLSPath ? path.join(c.Storage.TLSPath, "docker") : "";
        const withTls = tlsDir && fs.existsSync(path.join(tlsDir, "cert.pem"));
        return endpointOf({ DOCKER_HOST: host, ...(withTls ? { DOCKER_CERT_PATH: tlsDir, ...(c.Endpoints?.docker?.SkipTLSVerify ? { DOCKER_TLS: "1" } : { DOCKER_TLS_VERIFY: "1" }) } : {}) });
    } catch (e) {
        return `docker context ${context} cannot be read: ${(e as Error).message.split("\n")[0]}`;
    }
}
