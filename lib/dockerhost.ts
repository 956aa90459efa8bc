// One Docker host for everything an update touches.
//
// The Docker provider follows `docker:host` config or DOCKER_HOST only; the
// docker CLI (which the host reader, the release steps and the delete guard
// use) also follows `docker context use` and DOCKER_CONTEXT. Left alone, a
// plan could be read from one host and deployed to another. So the program
// resolves the host once, gives it to an explicit provider, and runs every
// docker CLI call with DOCKER_HOST set to it (and DOCKER_CONTEXT unset).
import { execFileSync } from "child_process";
import { dockerTlsEnv } from "./dockertls";

export interface DockerEndpoint {
    /** unix:///var/run/docker.sock, ssh://deploy@host, tcp://host:2376 ... */
    host: string;
    /** Where the host came from, for the plan line and error messages. */
    source: string;
    /** A tcp:// host's client material: its directory's name (lib/dockertls.ts), written before any docker call. */
    tls?: string;
}

export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

/**
 * `docker:host` config first (what the provider itself would use), then
 * DOCKER_HOST, then the docker CLI's current context, then the local socket.
 */
export function resolveDockerEndpoint(configHost: string | undefined, env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
    if (configHost) return { host: configHost, source: "config docker:host" };
    if (env.DOCKER_HOST) return { host: env.DOCKER_HOST, source: "DOCKER_HOST" };
    const context = currentContextHost(env);
    if (context) return { host: context.host, source: `docker context ${context.name}` };
    return { host: DEFAULT_DOCKER_HOST, source: "default socket" };
}

/**
 * The docker CLI's current context, asked once per process for the same
 * environment: the program resolves its host twice at start (the early host
 * read, lib/factsreader.ts, then the discovery), and each ask is a docker CLI
 * process. The context is the CLI's config, which no update changes.
 */
const contexts = new Map<string, { name: string; host: string } | undefined>();

function currentContextHost(env: NodeJS.ProcessEnv): { name: string; host: string } | undefined {
    const key = JSON.stringify([env.DOCKER_CONTEXT, env.DOCKER_CONFIG, env.HOME, env.PATH]);
    if (!contexts.has(key)) contexts.set(key, askContextHost(env));
    return contexts.get(key);
}

function askContextHost(env: NodeJS.ProcessEnv): { name: string; host: string } | undefined {
    try {
        const out = execFileSync("docker", ["context", "inspect", "--format", "{{.Name}}\t{{.Endpoints.docker.Host}}"], {
            encoding: "utf8",
            env,
            stdio: ["ignore", "pipe", "ignore"],
            timeout: 10000,
        }).trim();
        const [name, host] = out.split("\t");
        return host ? { name, host } : undefined;
    } catch {
        return undefined; // no docker CLI or no contexts: the provider's own default applies
    }
}

/**
 * Why a one-host stack's engine may not be used, or undefined: an engine on
 * plain TCP runs anyone's containers as root. A tcp:// host needs client TLS
 * (DOCKER_TLS_VERIFY=1 with DOCKER_CERT_PATH holding ca.pem, cert.pem,
 * key.pem, which the provider and the docker CLI both read), as hosts[] needs
 * hostsTls.
 */
export function plainTcpProblem(endpoint: DockerEndpoint, env: NodeJS.ProcessEnv = process.env): string | undefined {
    if (!endpoint.host.startsWith("tcp://") || endpoint.tls) return undefined;
    if (env.DOCKER_TLS_VERIFY === "1" && env.DOCKER_CERT_PATH) return undefined;
    return (
        `${endpoint.source} = ${JSON.stringify(endpoint.host)}: is a TCP engine without TLS (DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH are not set); ` +
        "an engine on plain TCP runs anyone's containers as root. Give it client TLS (DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH with ca.pem, cert.pem and key.pem), " +
        "list it in switchyard:hosts with its hostsTls material, or reach it over ssh://user@host. Nothing was created or changed."
    );
}

/** The environment every docker CLI call runs with: this host (and its TLS material), no context override. */
export function dockerCliEnv(endpoint: DockerEndpoint, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...base, DOCKER_HOST: endpoint.host, ...(endpoint.tls ? dockerTlsEnv(endpoint.tls, base) : {}) };
    delete env.DOCKER_CONTEXT;
    return env;
}
