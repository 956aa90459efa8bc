// The raw facts of one Docker host that the program's host probe decides from
// (lib/host.ts hostStateOf), read over one connection to the engine
// (engine/dockerapi.ts): the swap-limit flag, every network, the stack's
// volumes, every container of the stack inspected, the proxy by name, and
// the proxy's state markers. The program reads a host synchronously, before
// it declares anything, and the docker CLI cost one process per read (eight
// on every preview and up, each a new ssh session on an ssh:// host); this
// runs on one worker thread of the program instead (lib/factsreader.ts).
//
// Of each container it passes on only what the probe uses: Postgres's
// environment holds its password, so of it only POSTGRES_USER; an app
// replica's environment whole, which the parent turns into keyed digests at
// once (lib/valuedigests.ts), as the CLI version did.
//
// The thread gets a list of hosts, each with its names and its docker
// environment as the program resolved it (DOCKER_HOST, and a tcp:// host's
// DOCKER_CERT_PATH and DOCKER_TLS_VERIFY). Every host is read at once, over
// its own connection; it answers with one answer per host (its facts, or why
// not).
import { isMainThread, parentPort, workerData } from "worker_threads";
import type { FactsReply, FactsWorkerData } from "../lib/factsreader";
import { LIST_MARKERS_SCRIPT } from "../lib/routemarker";
import { Endpoint, EngineConnection, resolveEndpoint } from "./dockerapi";

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

/** Runs one sequence of requests on a connection (lanes). */
type Lane = <T>(work: (conn: EngineConnection) => Promise<T>) => Promise<T>;

/**
 * Where the reads of one host run. Over ssh:// a connection is an ssh
 * session: every sequence runs on the one connection, in turn, in the order
 * asked. On a socket or tcp:// a connection costs about nothing: each
 * sequence gets its own, and they all run at once.
 */
function lanes(endpoint: Endpoint, label: string): { lane: Lane; sequential: boolean; close: () => void } {
    if (endpoint.kind === "ssh") {
        const conn = EngineConnection.open(endpoint, label);
        let turn: Promise<unknown> = Promise.resolve();
        const lane: Lane = (work) => {
            const run = turn.then(() => work(conn));
            turn = run.catch(() => undefined);
            return run;
        };
        return { lane, sequential: true, close: () => conn.close() };
    }
    const open = new Set<EngineConnection>();
    const lane: Lane = async (work) => {
        const conn = EngineConnection.open(endpoint, label);
        open.add(conn);
        try {
            return await work(conn);
        } finally {
            open.delete(conn);
            conn.close();
        }
    };
    return { lane, sequential: false, close: () => open.forEach((c) => c.close()) };
}

async function read({ lane, sequential }: { lane: Lane; sequential: boolean }, stackLabel: string, proxyContainer: string, namePrefix: string): Promise<HostFactsRaw> {
    const ok = <T>(what: string, r: { status: number; json?: T; text: string }): T => {
        if (r.status !== 200 || r.json === undefined) throw new Error(`${what}: HTTP ${r.status} ${r.text.trim()}`);
        return r.json;
    };
    const inspect = (name: string) => lane((c) => c.call<Inspected>("GET", `/containers/${encodeURIComponent(name)}/json`));
    const markersRead = () =>
        lane(async (c) => {
            const exec = await c.exec(proxyContainer, ["sh", "-c", LIST_MARKERS_SCRIPT], () => undefined);
            return (await exec.done).stdout;
        }).then(
            (stdout) => ({ stdout }),
            (e: Error) => ({ error: e }),
        );
    const reads = Promise.all([
        lane((c) => c.call<{ SwapLimit?: boolean }>("GET", "/info")).then((r) => ok("info", r)),
        lane((c) => c.call<{ Name: string; Labels?: Record<string, string> | null; Options?: Record<string, string> | null; IPAM?: { Config?: { Subnet?: string }[] | null } }[]>("GET", "/networks")).then((r) => ok("networks", r)),
        lane((c) => c.call<{ Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null }>("GET", `/volumes?filters=${filters({ name: [`${namePrefix}-`] })}`)).then((r) => ok("volumes", r)),
        lane((c) => c.call<{ Id: string }[]>("GET", `/containers/json?all=1&filters=${filters({ label: [`switchyard.stack=${stackLabel}`] })}`)).then(async (r) => {
            const found = await Promise.all(
                ok("containers", r).map(async ({ Id }) => {
                    const i = await inspect(Id);
                    // Removed between the list and now: as if never listed.
                    return i.status === 404 ? undefined : containerFacts(ok(`container ${Id.slice(0, 12)}`, i));
                }),
            );
            return found.filter((c): c is ContainerFacts => c !== undefined);
        }),
    ]);
    // Where lanes run at once, the markers are read beside the rest: they count only when the proxy
    // runs (below). Over one ssh:// connection an exec takes the connection over, so there it is the
    // last request, made once the proxy is known to run.
    const early = sequential ? undefined : markersRead();
    const [info, networks, volumes, containers] = await reads;
    // Inspected above when it carries the stack's label (up in the states `docker ps` lists, as
    // the CLI version read it); one made before labels is found by name.
    const listedProxy = containers.find((c) => c.name === proxyContainer);
    const proxy = listedProxy ? undefined : await inspect(proxyContainer);
    const proxyRunning = listedProxy ? ["running", "paused", "restarting"].includes(listedProxy.status) : proxy!.status === 200 && proxy!.json?.State?.Running === true;
    const facts: HostFactsRaw = {
        swapLimit: info.SwapLimit === true,
        // By name, as `docker network ls` lists them (and the CLI version read them).
        networks: [...networks].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0)).map((n) => ({ name: n.Name, labels: n.Labels ?? {}, options: n.Options ?? {}, subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? "").filter(Boolean) })),
        volumes: (volumes.Volumes ?? []).map((v) => ({ name: v.Name, labels: v.Labels ?? {} })),
        containers,
        proxyRunning,
    };
    // A proxy that runs must answer (a paused one cannot: the read fails, as before); one that does not has no markers.
    if (proxyRunning) {
        const listed = await (early ?? markersRead());
        if ("error" in listed) throw listed.error;
        facts.markers = listed.stdout;
    } else await early;
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
            const reader = lanes(endpoint, env.DOCKER_HOST || "the local engine");
            try {
                return { facts: await read(reader, q.stackLabel, q.proxyContainer, q.namePrefix) };
            } catch (e) {
                return { error: (e as Error).message };
            } finally {
                reader.close();
            }
        }),
    );
}

// The program's reader thread (lib/factsreader.ts): one list of hosts, one reply,
// posted before the flag is set, so the waiting program finds it on its port.
if (!isMainThread && (workerData as Partial<FactsWorkerData> | undefined)?.factsReader) {
    const { flag, port } = workerData as FactsWorkerData;
    parentPort!.once("message", (requests: FactsRequest[]) => {
        const replied = (reply: FactsReply) => {
            port.postMessage(reply);
            Atomics.store(flag, 0, 1);
            Atomics.notify(flag, 0);
        };
        readAll(requests).then(
            (answers) => replied({ answers }),
            (e: Error) => replied({ error: e.message }),
        );
    });
}
