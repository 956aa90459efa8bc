// The small Docker interface the release engine's steps use: the docker CLI
// against the host the program resolved (DOCKER_HOST, and for a tcp:// host
// the client TLS material the program wrote: lib/dockertls.ts), plus the
// calls the steps share (the proxy's route marker, a colour's containers).
// Arguments go to docker as an argument vector, never through a shell; the
// only shell is `sh` inside the proxy container, with data as its arguments.
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { dockerTlsEnv } from "../lib/dockertls";
import { ROUTE_MARKER, STATE_DIR } from "../lib/routemarker";

export interface DockerResult {
    status: number;
    stdout: string;
    stderr: string;
}

/** What a step asks of Docker: one CLI call, optionally with stdin. */
export interface Docker {
    run(args: string[], input?: string): Promise<DockerResult>;
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
    return {
        run: (args, input) =>
            new Promise((resolve) => {
                const child = execFile("docker", args, { env, maxBuffer: 256 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
                    const code = err ? ((err as { code?: unknown }).code) : 0;
                    resolve({ status: typeof code === "number" ? code : err ? 1 : 0, stdout, stderr });
                });
                if (input !== undefined) child.stdin?.end(input);
                else child.stdin?.end();
            }),
    };
}

/** `$(...)`'s text: the output without its trailing newlines. */
export const trimmed = (s: string): string => s.replace(/\n+$/, "");

// In-proxy shell, as constants: the proxy image has sh and coreutils, nothing else of ours.
/** Points the route at green: a rename, atomic; nginx reads the marker per request. */
const ROUTE_TO_GREEN = 'mkdir -p "$1" && : > "$1/.$2.tmp" && mv -f "$1/.$2.tmp" "$1/$2"';
/** Points the route at blue: an unlink, atomic. */
const ROUTE_TO_BLUE = 'mkdir -p "$1" && rm -f "$1/$2"';
/** Replaces a state file whole with stdin, by a rename. */
const WRITE_FILE = 'mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && mv -f "$1.tmp" "$1"';

/** The calls the steps share, over one proxy and one stack. */
export class Proxy {
    constructor(
        readonly docker: Docker,
        readonly container: string,
    ) {}

    exec(...args: string[]): Promise<DockerResult> {
        return this.docker.run(["exec", this.container, ...args]);
    }

    /** A state file's content, without trailing newlines; "" when it is absent. */
    async readState(file: string): Promise<string> {
        const r = await this.exec("cat", `${STATE_DIR}/${file}`);
        return r.status === 0 ? trimmed(r.stdout) : "";
    }

    async writeState(file: string, content: string): Promise<boolean> {
        return (await this.docker.run(["exec", "-i", this.container, "sh", "-c", WRITE_FILE, "sh", `${STATE_DIR}/${file}`], content)).status === 0;
    }

    async removeState(file: string): Promise<boolean> {
        return (await this.exec("rm", "-f", `${STATE_DIR}/${file}`)).status === 0;
    }

    /** The colour the live listener routes to: the marker present means green. */
    async route(): Promise<"blue" | "green"> {
        return (await this.exec("test", "-f", `${STATE_DIR}/${ROUTE_MARKER}`)).status === 0 ? "green" : "blue";
    }

    async setRoute(colour: "blue" | "green"): Promise<boolean> {
        const script = colour === "green" ? ROUTE_TO_GREEN : ROUTE_TO_BLUE;
        return (await this.exec("sh", "-c", script, "sh", STATE_DIR, ROUTE_MARKER)).status === 0;
    }
}

/** docker ps filters for a stack's app containers of one colour. */
function slotFilters(stack: string, colour: string): string[] {
    return ["--filter", `label=switchyard.stack=${stack}`, "--filter", "label=switchyard.role=app", "--filter", `label=switchyard.colour=${colour}`];
}

/** The full IDs of a colour's running app containers: a re-created replica keeps its name, not its ID. */
export async function slotContainerIds(docker: Docker, stack: string, colour: string): Promise<string[]> {
    const r = await docker.run(["ps", "--no-trunc", ...slotFilters(stack, colour), "--format", "{{.ID}}"]);
    if (r.status !== 0) throw new Error(`could not list the ${colour} containers: ${trimmed(r.stderr)}`);
    return r.stdout.split("\n").filter(Boolean).sort();
}

/** The image a colour's running containers were created from ("" when none runs). */
export async function imageOf(docker: Docker, stack: string, colour: string): Promise<string> {
    const r = await docker.run(["ps", ...slotFilters(stack, colour), "--format", '{{.Label "switchyard.image"}}']);
    return r.status === 0 ? (r.stdout.split("\n")[0] ?? "") : "";
}

/** The engine's clock, which stamps the containers' log records. */
export async function engineTime(docker: Docker): Promise<string | undefined> {
    const r = await docker.run(["info", "--format", "{{.SystemTime}}"]);
    return r.status === 0 ? trimmed(r.stdout) : undefined;
}
