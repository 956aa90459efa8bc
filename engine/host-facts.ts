// The raw facts of one Docker host that the program's host probe decides from
// (lib/host.ts hostStateOf), read over one connection to the engine
// (engine/dockerapi.ts): the swap-limit flag, every network, the stack's
// volumes, every container of the stack inspected, the proxy by name, and
// the proxy's state markers. The program reads a host synchronously, before
// it declares anything, and the docker CLI cost one process per read (eight
// on every preview and up, each a new ssh session on an ssh:// host); this
// runs as one child process instead (lib/host.ts readHostFacts).
//
// Of each container it passes on only what the probe uses: Postgres's
// environment holds its password, so of it only POSTGRES_USER; an app
// replica's environment whole, which the parent turns into keyed digests at
// once (lib/valuedigests.ts), as the CLI version did.
//
// Usage: node dist/engine/host-facts.js < REQUESTS.json: a list of hosts,
//   each with its names and its docker environment as the program resolved
//   it (DOCKER_HOST, and a tcp:// host's DOCKER_CERT_PATH and
//   DOCKER_TLS_VERIFY). Every host is read at once, over its own connection;
//   prints one answer per host (its facts, or why not) as JSON.
import { LIST_MARKERS_SCRIPT } from "../lib/routemarker";
import { EngineConnection, resolveEndpoint } from "./dockerapi";

/** One container as the probe sees it (a subset of GET /containers/NAME/json). */
export interface ContainerFacts {
    name: string;
    labels: Record<string, string>;
    /** Docker's state: created, running, paused, restarting, removing, exited, dead. */
    status: string;
    exitCode: number;
    oomKilled: boolean;
    finishedAt: string;
    /** What it was created from: an image id (sha256:…) when created by id. */
    image: string;
    user: string;
    healthcheck?: string[];
    /** POSTGRES_USER from its environment ("" when unset); nothing else of a non-app container's environment. */
    postgresUser: string;
    /** An app replica's whole environment (role app only). */
    env?: string[];
    /** Whether Redis's command turns on TLS (role redis only). */
    tls?: boolean;
}

export interface NetworkFactsRaw {
    name: string;
    labels: Record<string, string>;
    options: Record<string, string>;
    subnets: string[];
}

export interface HostFactsRaw {
    swapLimit: boolean;
    networks: NetworkFactsRaw[];
    /** Volumes whose name contains the stack's prefix, with their labels. */
    volumes: { name: string; labels: Record<string, string> }[];
    /** Every container that carries the stack's label, in any state. */
    containers: ContainerFacts[];
    /** Whether a container with the proxy's name runs (one made before labels has none). */
    proxyRunning: boolean;
    /** LIST_MARKERS_SCRIPT's output, when the proxy runs. */
    markers?: string;
}

interface Inspected {
    Name?: string;
    State?: { Status?: string; ExitCode?: number; OOMKilled?: boolean; FinishedAt?: string; Running?: boolean };
    Config?: { Image?: string; User?: string; Labels?: Record<string, string> | null; Env?: string[] | null; Healthcheck?: { Test?: string[] } | null; Cmd?: string[] | null };
}

/** The part of an inspected container the probe uses: see the file's header for the environment. */
export function containerFacts(c: Inspected): ContainerFacts {
    const labels = c.Config?.Labels ?? {};
    const env = c.Config?.Env ?? [];
    const pgUser = env.find((e) => e.startsWith("POSTGRES_USER="));
    return {
        name: (c.Name ?? "").replace(/^\//, ""),
        labels,
        status: c.State?.Status ?? "",
        exitCode: c.State?.ExitCode ?? 0,
        oomKilled: c.State?.OOMKilled ?? false,
        finishedAt: c.State?.FinishedAt ?? "",
        image: c.Config?.Image ?? "",
        user: c.Config?.User ?? "",
        healthcheck: c.Config?.Healthcheck?.Test,
        postgresUser: pgUser ? pgUser.slice("POSTGRES_USER=".length) : "",
        ...(labels["switchyard.role"] === "app" ? { env } : {}),
        // Redis's command turns TLS on for its published port (components/redis.ts REDIS_TLS_COMMAND).
        ...(labels["switchyard.role"] === "redis" ? { tls: (c.Config?.Cmd ?? []).some((a) => a.includes("--tls-port")) } : {}),
    };
}

const filters = (f: Record<string, string[]>) => encodeURIComponent(JSON.stringify(f));

async function read(conn: EngineConnection, stackLabel: string, proxyContainer: string, namePrefix: string): Promise<HostFactsRaw> {
    const ok = <T>(what: string, r: { status: number; json?: T; text: string }): T => {
        if (r.status !== 200 || r.json === undefined) throw new Error(`${what}: HTTP ${r.status} ${r.text.trim()}`);
        return r.json;
    };
    const info = ok("info", await conn.call<{ SwapLimit?: boolean }>("GET", "/info"));
    const networks = ok("networks", await conn.call<{ Name: string; Labels?: Record<string, string> | null; Options?: Record<string, string> | null; IPAM?: { Config?: { Subnet?: string }[] | null } }[]>("GET", "/networks"));
    const volumes = ok("volumes", await conn.call<{ Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null }>("GET", `/volumes?filters=${filters({ name: [`${namePrefix}-`] })}`));
    const listed = ok("containers", await conn.call<{ Id: string }[]>("GET", `/containers/json?all=1&filters=${filters({ label: [`switchyard.stack=${stackLabel}`] })}`));
    const containers: ContainerFacts[] = [];
    for (const { Id } of listed) {
        const r = await conn.call<Inspected>("GET", `/containers/${Id}/json`);
        // Removed between the list and now: as if never listed.
        if (r.status === 404) continue;
        containers.push(containerFacts(ok(`container ${Id.slice(0, 12)}`, r)));
    }
    // Inspected above when it carries the stack's label (up in the states `docker ps` lists, as
    // the CLI version read it); one made before labels is found by name.
    const listedProxy = containers.find((c) => c.name === proxyContainer);
    const proxy = listedProxy ? undefined : await conn.call<Inspected>("GET", `/containers/${encodeURIComponent(proxyContainer)}/json`);
    const proxyRunning = listedProxy ? ["running", "paused", "restarting"].includes(listedProxy.status) : proxy!.status === 200 && proxy!.json?.State?.Running === true;
    const facts: HostFactsRaw = {
        swapLimit: info.SwapLimit === true,
        // By name, as `docker network ls` lists them (and the CLI version read them).
        networks: [...networks].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0)).map((n) => ({ name: n.Name, labels: n.Labels ?? {}, options: n.Options ?? {}, subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? "").filter(Boolean) })),
        volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
        containers,
        proxyRunning,
    };
    if (proxyRunning) {
        // The exec takes the connection over: the last request on it.
        const exec = await conn.exec(proxyContainer, ["sh", "-c", LIST_MARKERS_SCRIPT], () => undefined);
        facts.markers = (await exec.done).stdout;
    }
    return facts;
}

/** One host to read: its names and its docker environment (the DOCKER_* variables the program resolved for it). */
export interface FactsRequest {
    stackLabel: string;
    proxyContainer: string;
    namePrefix: string;
    docker: Record<string, string>;
}

/** A host's facts, or why they could not be read. */
export type FactsAnswer = { facts: HostFactsRaw } | { error: string };

/** Reads each host over its own connection, all at once. */
async function readAll(requests: FactsRequest[]): Promise<FactsAnswer[]> {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DOCKER_")));
    return Promise.all(
        requests.map(async (q): Promise<FactsAnswer> => {
            const env = { ...base, ...q.docker };
            const endpoint = resolveEndpoint(env);
            if (typeof endpoint === "string") return { error: endpoint };
            const conn = EngineConnection.open(endpoint, env.DOCKER_HOST || "the local engine");
            try {
                return { facts: await read(conn, q.stackLabel, q.proxyContainer, q.namePrefix) };
            } catch (e) {
                return { error: (e as Error).message };
            } finally {
                conn.close();
            }
        }),
    );
}

async function main(): Promise<void> {
    let input = "";
    for await (const chunk of process.stdin) input += chunk;
    process.stdout.write(JSON.stringify(await readAll(JSON.parse(input) as FactsRequest[])));
}

if (require.main === module) {
    main().catch((e: Error) => {
        process.stderr.write(`${e.message}\n`);
        process.exit(1);
    });
}
