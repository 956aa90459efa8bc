// The small Docker interface the release engine's steps use: the docker CLI
// against the host the program resolved (DOCKER_HOST, and for a tcp:// host
// the client TLS material the program wrote: lib/dockertls.ts), plus the
// calls the steps share (the proxy's route marker, a colour's containers).
// Arguments go to docker as an argument vector, never through a shell; the
// only shell is `sh` inside the proxy container, with data as its arguments.
import { execFile, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { dockerTlsEnv } from "../lib/dockertls";
import { imageIdOf, ROUTE_MARKER, STATE_DIR } from "../lib/routemarker";
import { apiReads, cliReads, DockerReads, ListedContainer, stopForm, stopOnce } from "./docker-reads";
import { Endpoint, ExecForm, execOnce, resolveEndpoint } from "./dockerapi";
import { END_OF_OPS } from "./switch-rules";

export interface DockerResult {
    status: number;
    stdout: string;
    stderr: string;
    /** The call ran past its time limit and was stopped. */
    timedOut?: boolean;
}

/**
 * What a step asks of Docker: one CLI call, optionally with stdin and a time
 * limit; and the reads (engine/docker-reads.ts), as the engine's own JSON.
 */
export interface Docker extends DockerReads {
    run(args: string[], input?: string, timeoutMs?: number): Promise<DockerResult>;
    /** A call whose output (stdout and stderr) is handed over line by line as it comes; resolves when it ends. */
    stream(args: string[], onLine: (line: string) => void): Promise<number>;
    /** A call whose stdin stays open for `send` until `close`; stdout handed over line by line as it comes. */
    session(args: string[], onLine: (line: string) => void): Session;
}

/** A docker CLI call in progress (Docker.session). */
export interface Session {
    send(text: string): void;
    close(): void;
    /** Its exit status and whole output, when it ends. */
    done: Promise<DockerResult>;
}

/**
 * The docker CLI's environment for a step: SWITCHYARD_DOCKER_TLS names the
 * directory of a tcp:// host's material. Returns the problem instead when a
 * file is missing (the program writes them on every preview and up).
 */
export function stepDockerEnv(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; problem?: string } {
    if (!env.SWITCHYARD_DOCKER_TLS) return { env };
    const tls = dockerTlsEnv(env.SWITCHYARD_DOCKER_TLS, env);
    for (const pem of ["ca", "cert", "key"]) {
        const file = path.join(tls.DOCKER_CERT_PATH, `${pem}.pem`);
        try {
            fs.accessSync(file, fs.constants.R_OK);
        } catch {
            return { env, problem: `the client TLS material of ${env.DOCKER_HOST} is missing (${file}); pulumi up writes it from hostsTls, so run it again` };
        }
    }
    return { env: { ...env, ...tls } };
}

export function dockerCli(env: NodeJS.ProcessEnv): Docker {
    const run: Docker["run"] = (args, input, timeoutMs) =>
            new Promise((resolve) => {
                const child = execFile("docker", args, { env, maxBuffer: 256 * 1024 * 1024, encoding: "utf8", timeout: timeoutMs ?? 0, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
                    const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
                    const timedOut = !!e?.killed && timeoutMs !== undefined;
                    resolve({ status: typeof e?.code === "number" ? e.code : e ? 1 : 0, stdout, stderr, ...(timedOut ? { timedOut } : {}) });
                });
                // A docker CLI that exits before reading its input (a container gone, a refused
                // exec) closes the pipe: its exit status says what happened, so the EPIPE of the
                // write is not an error of its own (unhandled, it killed the step: seen in the e2e).
                child.stdin?.on("error", () => undefined);
                child.stdin?.end(input ?? "");
            });
    return {
        run,
        ...cliReads({ run }),
        stream: (args, onLine) =>
            new Promise((resolve) => {
                const child = spawn("docker", args, { env, stdio: ["ignore", "pipe", "pipe"] });
                for (const out of [child.stdout, child.stderr]) {
                    let partial = "";
                    out.setEncoding("utf8");
                    out.on("data", (d: string) => {
                        const lines = (partial + d).split("\n");
                        partial = lines.pop() ?? "";
                        lines.forEach(onLine);
                    });
                    out.on("end", () => partial && onLine(partial));
                }
                child.on("close", (code) => resolve(code ?? 1));
            }),
        session: (args, onLine) => {
            const child = spawn("docker", args, { env, stdio: ["pipe", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            let partial = "";
            child.stdout.setEncoding("utf8");
            child.stderr.setEncoding("utf8");
            child.stdout.on("data", (d: string) => {
                stdout += d;
                const lines = (partial + d).split("\n");
                partial = lines.pop() ?? "";
                lines.forEach(onLine);
            });
            child.stderr.on("data", (d: string) => (stderr += d));
            // As in run: a CLI that ended first says why by its status, not by the write's EPIPE.
            child.stdin.on("error", () => undefined);
            const done = new Promise<DockerResult>((resolve) => child.on("close", (code) => resolve({ status: code ?? 1, stdout, stderr })));
            return { send: (text) => void child.stdin.write(text), close: () => child.stdin.end(), done };
        },
    };
}

/**
 * A `docker exec` call's arguments as data, when they are the few forms the
 * steps use (`exec [-i] [-u USER] CONTAINER CMD...`); anything else is for the
 * CLI itself (undefined).
 */
export function execForm(args: string[]): ExecForm | undefined {
    if (args[0] !== "exec") return undefined;
    let stdin = false;
    let user: string | undefined;
    let i = 1;
    for (; i < args.length && args[i].startsWith("-"); i++) {
        if (args[i] === "-i") stdin = true;
        else if (args[i] === "-u" && i + 1 < args.length) user = args[++i];
        else return undefined;
    }
    if (args.length - i < 2) return undefined;
    return { container: args[i], cmd: args.slice(i + 1), stdin, ...(user !== undefined ? { user } : {}) };
}

/**
 * The steps' Docker, over the Engine API where a call is one of the few the
 * steps repeat, through the docker CLI for the rest:
 * - the reads (inspect, ps) and `docker stop`: over the API on every host
 *   reached directly (engine/docker-reads.ts). Over ssh:// one connection is
 *   one ssh session, as one CLI call is.
 * - `docker exec` (engine/dockerapi.ts execOnce): over the API on a unix
 *   socket or tcp://. Not over ssh://: an exec takes a second connection for
 *   its exit code, and there a connection is an ssh session.
 * The endpoint is resolved as the CLI would, at the first call that needs it;
 * one the API is not reached on (npipe, an unreadable context) leaves every
 * call to the CLI.
 */
export function dockerEngine(env: NodeJS.ProcessEnv): Docker {
    const cli = dockerCli(env);
    const label = env.DOCKER_HOST || "the local engine";
    let resolved: Endpoint | string | undefined;
    const endpoint = (): Endpoint | undefined => {
        resolved ??= resolveEndpoint(env);
        return typeof resolved === "string" ? undefined : resolved;
    };
    const reads = (): DockerReads => {
        const e = endpoint();
        return e ? apiReads(e, label) : cli;
    };
    return {
        ...cli,
        inspect: (names) => reads().inspect(names),
        list: (labels) => reads().list(labels),
        run: (args, input, timeoutMs) => {
            const exec = execForm(args);
            const stop = exec ? undefined : stopForm(args);
            const e = exec || stop ? endpoint() : undefined;
            if (e && stop) return stopOnce(e, label, stop);
            if (e && exec && e.kind !== "ssh") return execOnce(e, label, exec, input, timeoutMs);
            return cli.run(args, input, timeoutMs);
        },
    };
}

/** `$(...)`'s text: the output without its trailing newlines. */
export const trimmed = (s: string): string => s.replace(/\n+$/, "");

/** Why a `docker exec` failed, in Docker's own words (its exit status when it said nothing). */
export const execFailure = (r: DockerResult): string => trimmed(r.stderr).trim() || `docker exec exited with ${r.status}`;

// In-proxy shell, as constants: the proxy image has sh and coreutils, nothing else of ours.
/** Points the route at green: a rename, atomic; nginx reads the marker per request. */
const ROUTE_TO_GREEN = 'mkdir -p "$1" && : > "$1/.$2.tmp" && mv -f "$1/.$2.tmp" "$1/$2"';
/** Points the route at blue: an unlink, atomic. */
const ROUTE_TO_BLUE = 'mkdir -p "$1" && rm -f "$1/$2"';
/**
 * Applies state changes in order, in one `docker exec`: `w FILE CONTENT`
 * writes FILE whole (a rename), `r FILE` removes it. Stops at the first
 * failure, and at END_OF_OPS (what follows it is not for this write:
 * engine/switch-rules.ts SWITCH_STATE). Files are names in the state
 * directory ($1).
 */
export const APPLY_STATE = `set -e
mkdir -p "$1" && cd "$1" && shift
while [ $# -gt 0 ]; do
  case "$1" in
    w) printf '%s' "$3" > ".$2.tmp" && mv -f ".$2.tmp" "$2"; shift 3 ;;
    r) rm -f "$2"; shift 2 ;;
    "${END_OF_OPS}") exit 0 ;;
    *) echo "unknown state operation '$1'" >&2; exit 2 ;;
  esac
done`;
/**
 * Reads several state files in one exec: for each, a line "BOUNDARY FILE 1"
 * and its content, or "BOUNDARY FILE 0" when it is absent, then a line
 * "BOUNDARY - 0" that ends the last one. Each docker exec costs more than the
 * read (a process in the proxy's namespaces, 50-70 ms on a 2-core host; over
 * ssh:// a session), and a step reads three or four files before it acts. The
 * boundary is random per read, so no content can end another's.
 *
 * A step that acts next inside the proxy may run that in the same exec: a
 * script after the files, run as `sh -c SCRIPT sh ARG...` (data as arguments,
 * never spliced). WHEN makes it depend on a state file read here: "FILE" runs
 * it only when FILE is there, "!FILE" only when it is not, "" always.
 * Arguments: statedir boundary count file... [when script arg...]
 */
export const READ_STATES = `sd=$1 b=$2 n=$3; shift 3
while [ "$n" -gt 0 ]; do
  f=$1; shift; n=$((n - 1))
  if [ -f "$sd/$f" ]; then printf '%s %s 1\\n' "$b" "$f"; cat "$sd/$f"; echo; else printf '%s %s 0\\n' "$b" "$f"; fi
done
printf '%s - 0\\n' "$b"
[ $# -gt 0 ] || exit 0
when=$1 s=$2; shift 2
case $when in
  "!"*) [ ! -f "$sd/\${when#!}" ] || exit 0 ;;
  ?*) [ -f "$sd/$when" ] || exit 0 ;;
esac
exec sh -c "$s" sh "$@"`;

/** READ_STATES's output: each file's content without trailing newlines, or undefined when it is absent (or unread). */
export function parseStates(out: string, boundary: string, files: string[]): Map<string, string | undefined> {
    if (!/^[0-9a-f]{8,}$/.test(boundary)) throw new Error(`a state read's boundary is hex digits, got ${JSON.stringify(boundary)}`);
    const marks = [...out.matchAll(new RegExp(`^${boundary} (\\S+) ([01])$`, "gm"))];
    const read = new Map<string, string | undefined>(files.map((f) => [f, undefined]));
    marks.forEach((m, i) => {
        if (!read.has(m[1]) || m[2] !== "1") return;
        const end = i + 1 < marks.length ? marks[i + 1].index! : out.length;
        read.set(m[1], trimmed(out.slice(m.index! + m[0].length + 1, end)));
    });
    return read;
}

/** The route as Proxy.readStates read the marker among other files: present means green (Proxy.route's rule). */
export function routeOf(states: Map<string, string | undefined>): "blue" | "green" {
    return states.get(ROUTE_MARKER) === undefined ? "blue" : "green";
}

/** The READ_STATES condition (readStatesThen's `when`) under which the route is `colour`, as routeOf reads it. */
export function whenRoutedTo(colour: "blue" | "green"): string {
    return colour === "green" ? ROUTE_MARKER : `!${ROUTE_MARKER}`;
}

/**
 * Every process in the proxy as "PID title", one per line: nginx's workers set
 * their title to their state ("worker process is shutting down"). Read by
 * retire's drain and by proxy-config's reload (engine/drain-rules.ts).
 */
export const PROCESS_TITLES = 'for p in /proc/[0-9]*; do printf "%s " "${p#/proc/}"; tr "\\000" " " < "$p/cmdline" 2>/dev/null; echo; done';

/** Replaces a state file whole with stdin, by a rename. */
const WRITE_FILE = 'mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && mv -f "$1.tmp" "$1"';
/** The same for a secret: the directory and the file readable by root alone. */
const WRITE_SECRET = `umask 077 && ${WRITE_FILE}`;

/** One of the proxy's own listeners, as a step reaches it from inside the proxy. */
export interface Listener {
    socket?: string;
    port?: number;
    https: boolean;
    /** How a message names it: the socket, or ":port". */
    label: string;
}

/**
 * The live listener (HTTPS: the TLS one) from the step's environment:
 * LIVE_SOCKET or LIVE_LISTEN_PORT (LIVE_TLS_SOCKET or LIVE_TLS_LISTEN_PORT).
 * Returns the problem when neither is usable.
 */
export function liveListener(env: NodeJS.ProcessEnv, https: boolean): Listener | string {
    const [socketVar, portVar] = https ? ["LIVE_TLS_SOCKET", "LIVE_TLS_LISTEN_PORT"] : ["LIVE_SOCKET", "LIVE_LISTEN_PORT"];
    const socket = env[socketVar];
    if (socket) return { socket, https, label: socket };
    const port = env[portVar] ?? "";
    if (!/^[1-9][0-9]{0,4}$/.test(port) || Number(port) > 65535) return `${portVar} '${port}' must be a port number (or ${socketVar} set)`;
    return { port: Number(port), https, label: `:${port}` };
}

/**
 * A read of the proxy's state that did not happen: `docker exec` failed, so
 * there is no content to decide on. Its message names the files, the proxy
 * and Docker's own words; a step fails with it (Step.run) unless the absent
 * reading is the stricter one there (a gate with no warm record is a cold gate).
 */
export class ProxyUnreadable extends Error {}

/** The calls the steps share, over one proxy and one stack. */
export class Proxy {
    constructor(
        readonly docker: Docker,
        readonly container: string,
    ) {}

    exec(...args: string[]): Promise<DockerResult> {
        return this.docker.run(["exec", this.container, ...args]);
    }

    /** A state file's content, without trailing newlines; "" when it is absent. Throws ProxyUnreadable when the proxy cannot be read. */
    async readState(file: string): Promise<string> {
        return (await this.readStates([file])).get(file) ?? "";
    }

    /**
     * Several state files in one exec (READ_STATES): each one's content
     * without trailing newlines, undefined when absent. When the exec itself
     * fails (the proxy stopped, paused or restarting, the daemon refusing),
     * it throws ProxyUnreadable: an absent file is a decision (no lock, the
     * route on blue), and a read that did not happen must not make one.
     */
    async readStates(files: string[]): Promise<Map<string, string | undefined>> {
        return (await this.readStatesThen(files)).states;
    }

    /**
     * The files as readStates reads them, then `script` with `args` in the
     * same exec (READ_STATES), when `when` (one of `files`, or "!" and one)
     * allows: `ran` says whether it did, and `then` is its exit status and its
     * output. Throws ProxyUnreadable when the files were not read.
     */
    async readStatesThen(files: string[], when?: string, script?: string, ...args: string[]): Promise<{ states: Map<string, string | undefined>; ran: boolean; then: DockerResult }> {
        if (when && !files.includes(when.replace(/^!/, ""))) throw new Error(`readStatesThen: '${when}' names no file it reads (${files.join(", ")})`);
        const boundary = randomBytes(8).toString("hex");
        const next = script === undefined ? [] : [when ?? "", script, ...args];
        const r = await this.exec("sh", "-c", READ_STATES, "sh", STATE_DIR, boundary, String(files.length), ...files, ...next);
        const end = r.stdout.match(new RegExp(`^${boundary} - 0\\n`, "m"));
        if (!end) throw new ProxyUnreadable(`could not read ${files.join(", ")} in the proxy ${this.container}: ${execFailure(r)}`);
        const states = parseStates(r.stdout.slice(0, end.index! + end[0].length), boundary, files);
        const ran = script !== undefined && (!when || (when.startsWith("!") ? states.get(when.slice(1)) === undefined : states.get(when) !== undefined));
        return { states, ran, then: { status: r.status, stdout: r.stdout.slice(end.index! + end[0].length), stderr: r.stderr } };
    }

    /** Writes a state file whole from stdin (never a command line), by a rename; `secret`: root-only. */
    async writeState(file: string, content: string, secret = false): Promise<boolean> {
        return (await this.docker.run(["exec", "-i", this.container, "sh", "-c", secret ? WRITE_SECRET : WRITE_FILE, "sh", `${STATE_DIR}/${file}`], content)).status === 0;
    }

    /** State changes (engine/switch-rules.ts stateOpArgs), applied in order in one exec. */
    async applyState(opArgs: string[]): Promise<DockerResult> {
        return this.exec("sh", "-c", APPLY_STATE, "sh", STATE_DIR, ...opArgs);
    }

    async removeState(file: string): Promise<boolean> {
        return (await this.exec("rm", "-f", `${STATE_DIR}/${file}`)).status === 0;
    }

    /**
     * curl, inside the proxy, against one of its own listeners: its unix
     * socket (host networking) or its port in the container. HTTPS is not
     * checked for its certificate: that is what is being tested.
     */
    curl(listener: Listener, curlArgs: string[], path: string): Promise<DockerResult> {
        const tls = listener.https ? ["-k"] : [];
        const scheme = listener.https ? "https" : "http";
        if (listener.socket) return this.exec("curl", ...tls, "--unix-socket", listener.socket, ...curlArgs, `${scheme}://localhost${path}`);
        return this.exec("curl", ...tls, ...curlArgs, `${scheme}://127.0.0.1:${listener.port}${path}`);
    }

    /** The colour the live listener routes to (the marker present: green). Throws ProxyUnreadable when the proxy cannot be read. */
    async route(): Promise<"blue" | "green"> {
        return routeOf(await this.readStates([ROUTE_MARKER]));
    }

    async setRoute(colour: "blue" | "green"): Promise<boolean> {
        const script = colour === "green" ? ROUTE_TO_GREEN : ROUTE_TO_BLUE;
        return (await this.exec("sh", "-c", script, "sh", STATE_DIR, ROUTE_MARKER)).status === 0;
    }
}

/**
 * The labels of a stack's web replicas (role app), or of one process type's
 * containers (role process), of one colour or of both. The engine, the instant
 * rollback and the ops commands (exec, logs) all select this way.
 */
export function slotLabels(stack: string, o: { colour?: string; process?: string } = {}): string[] {
    return [
        `switchyard.stack=${stack}`,
        ...(o.process === undefined ? ["switchyard.role=app"] : ["switchyard.role=process", `switchyard.process=${o.process}`]),
        ...(o.colour === undefined ? [] : [`switchyard.colour=${o.colour}`]),
    ];
}

/** slotLabels as docker ps filters, for the ops commands' CLI calls. */
export function labelFilters(stack: string, o: { colour?: string; process?: string } = {}): string[] {
    return slotLabels(stack, o).flatMap((l) => ["--filter", `label=${l}`]);
}

/** A colour's running app containers, newest first; rejects naming the colour when they cannot be listed. */
async function slot(docker: Docker, stack: string, colour: string): Promise<ListedContainer[]> {
    return docker.list(slotLabels(stack, { colour })).catch((e: Error) => {
        throw new Error(`could not list the ${colour} containers: ${e.message}`);
    });
}

/** The full IDs of a colour's running app containers: a re-created replica keeps its name, not its ID. */
export async function slotContainerIds(docker: Docker, stack: string, colour: string): Promise<string[]> {
    return (await slot(docker, stack, colour)).map((c) => c.Id).sort();
}

/** The names of a colour's running app containers, sorted. */
export async function slotContainers(docker: Docker, stack: string, colour: string): Promise<string[]> {
    return (await slot(docker, stack, colour)).map((c) => (c.Names[0] ?? "").replace(/^\//, "")).sort();
}

/** The image a colour's running containers were created from ("" when none runs). */
export async function imageOf(docker: Docker, stack: string, colour: string): Promise<string> {
    return (await runningImage(docker, stack, colour)).image;
}

/** A colour's running image: its reference (label switchyard.image) and the image id its containers were created from ("" when created by name). */
export async function runningImage(docker: Docker, stack: string, colour: string): Promise<{ image: string; id: string }> {
    const [newest] = await slot(docker, stack, colour).catch(() => []);
    return { image: newest?.Labels?.["switchyard.image"] ?? "", id: imageIdOf(newest?.Image ?? "") };
}

/**
 * The state of a container as `docker inspect` has it ("running", "exited",
 * ...), "" when docker has no such container or cannot be asked.
 */
export async function containerState(docker: Docker, name: string): Promise<string> {
    const r = await docker.inspect([name]).catch(() => undefined);
    return r?.found[0]?.State.Status ?? "";
}
