// What a release step reads of Docker (`docker inspect`, `docker ps`) and the
// one thing it does to a container besides exec (`docker stop`), as data over
// the Engine API: one connection per call, its requests one after another.
// The docker CLI starts a process, dials, negotiates the API version and
// renders a template for each of these, 30-75 ms apiece, and a release's
// steps make a dozen of them one after another (docs/benchmarks.md). The
// fields are the engine's own JSON, which is also what `docker inspect`
// prints, so `cliReads` (for a host the API is not reached on directly) gives
// the same answers: test/scripts/dockerapi.test.ts holds the two side by side.
import type { Docker, DockerResult } from "./docker";
import { EngineConnection, Endpoint } from "./dockerapi";

/** The fields of a container's `docker inspect` (GET /containers/{id}/json) the steps read. */
export interface ContainerInfo {
    Id: string;
    /** With its leading slash, as the engine gives it. */
    Name: string;
    /** The id of the image it was created from. */
    Image: string;
    RestartCount: number;
    State: { Status: string; StartedAt: string; Health?: { Status: string } };
    Config: { Image: string; Labels: Record<string, string> | null };
    NetworkSettings: { Networks: Record<string, { IPAddress: string }> | null };
}

/** An entry of `docker ps` (GET /containers/json): a running (or paused) container. */
export interface ListedContainer {
    Id: string;
    Names: string[];
    /** The image as it was named at creation, or its id when that name now means another image (as `docker ps` shows it). */
    Image: string;
    Labels: Record<string, string> | null;
}

/** Containers inspected: those found, in the order named, and the names docker has no container for. */
export interface Inspected {
    found: ContainerInfo[];
    missing: string[];
}

/** The reads, each rejecting with the engine's words when it cannot be asked at all. */
export interface DockerReads {
    inspect(names: string[]): Promise<Inspected>;
    /** The running containers carrying every label given (`key=value`), newest first (docker ps's order). */
    list(labels: string[]): Promise<ListedContainer[]>;
}

/** `docker stop -t N NAME...` as data (undefined for any other call). */
export function stopForm(args: string[]): { graceSeconds: number; names: string[] } | undefined {
    if (args[0] !== "stop" || args[1] !== "-t" || !/^[0-9]+$/.test(args[2] ?? "") || args.length < 4) return undefined;
    const names = args.slice(3);
    return names.some((n) => n.startsWith("-")) ? undefined : { graceSeconds: Number(args[2]), names };
}

/** GET /containers/json of the running containers carrying every label given (`key=value`). */
export function listPath(labels: string[]): string {
    return `/containers/json?filters=${encodeURIComponent(JSON.stringify({ label: labels }))}`;
}

/** The reads over the API: one connection per call. */
export function apiReads(e: Endpoint, label: string): DockerReads {
    return {
        inspect: (names) =>
            onConnection(e, label, async (conn) => {
                const out: Inspected = { found: [], missing: [] };
                for (const name of names) {
                    const r = await conn.call<ContainerInfo & { message?: string }>("GET", `/containers/${encodeURIComponent(name)}/json`);
                    if (r.status === 200 && r.json) out.found.push(r.json);
                    else if (r.status === 404) out.missing.push(name);
                    else throw new Error(`docker inspect ${name} at ${label}: ${r.json?.message ?? `HTTP ${r.status}`}`);
                }
                return out;
            }),
        list: (labels) =>
            onConnection(e, label, async (conn) => {
                const r = await conn.call<ListedContainer[] & { message?: string }>("GET", listPath(labels));
                if (r.status !== 200 || !Array.isArray(r.json)) throw new Error(`docker ps at ${label}: ${r.json?.message ?? `HTTP ${r.status}`}`);
                return r.json.map((c) => ({ Id: c.Id, Names: c.Names ?? [], Image: c.Image ?? "", Labels: c.Labels ?? null }));
            }),
    };
}

/**
 * `docker stop` over the API, every container at once, with what the CLI
 * returns: each stopped one's name on stdout, each refusal in the engine's
 * words on stderr, status 1 when any failed. A container stopped already is
 * stopped (304), as the CLI has it.
 */
export async function stopOnce(e: Endpoint, label: string, form: { graceSeconds: number; names: string[] }): Promise<DockerResult> {
    const results = await Promise.all(
        form.names.map((name) =>
            onConnection(e, label, async (conn) => {
                // The engine answers once the container has stopped: its grace, then its kill.
                const r = await conn.call<{ message?: string }>("POST", `/containers/${encodeURIComponent(name)}/stop?t=${form.graceSeconds}`, undefined, (form.graceSeconds + 30) * 1000);
                return r.status === 204 || r.status === 304 ? { name } : { why: `Error response from daemon: ${r.json?.message ?? `HTTP ${r.status}`}` };
            }).catch((err: Error) => ({ why: err.message })),
        ),
    );
    const stdout = results.flatMap((r) => ("name" in r ? [`${r.name}\n`] : [])).join("");
    const stderr = results.flatMap((r) => ("why" in r ? [`${r.why}\n`] : [])).join("");
    return { status: stderr ? 1 : 0, stdout, stderr };
}

async function onConnection<T>(e: Endpoint, label: string, work: (conn: EngineConnection) => Promise<T>): Promise<T> {
    const conn = EngineConnection.open(e, label);
    try {
        return await work(conn);
    } finally {
        conn.close();
    }
}

/**
 * The same reads through the docker CLI, for a host the API is not reached
 * on directly: `docker inspect` prints the engine's JSON as it is. A list is
 * `docker ps -q` and then an inspect of what it found, so one entry's Image is
 * the name it was created by (the API's list gives the id when that name has
 * moved to another image since).
 */
export function cliReads(cli: Pick<Docker, "run">): DockerReads {
    const inspect = async (names: string[]): Promise<Inspected> => {
        if (names.length === 0) return { found: [], missing: [] };
        const r = await cli.run(["inspect", "--type", "container", "--", ...names]);
        let found: ContainerInfo[];
        try {
            found = JSON.parse(r.stdout || "[]") as ContainerInfo[];
        } catch {
            throw new Error(`docker inspect: ${r.stderr.trim() || `exited with ${r.status}`}`);
        }
        // The CLI names each container it found none for on its own line.
        const lines = r.stderr.split("\n").filter((l) => l.trim());
        const missing = names.filter((n) => lines.some((l) => l.endsWith(`No such container: ${n}`) || l.endsWith(`No such object: ${n}`)));
        const other = lines.filter((l) => !/No such (container|object): /.test(l));
        if (r.status !== 0 && other.length > 0) throw new Error(`docker inspect: ${other.join(" ").trim()}`);
        return { found, missing };
    };
    return {
        inspect,
        list: async (labels) => {
            const r = await cli.run(["ps", "-q", "--no-trunc", ...labels.flatMap((l) => ["--filter", `label=${l}`])]);
            if (r.status !== 0) throw new Error(`docker ps: ${r.stderr.trim() || `exited with ${r.status}`}`);
            const { found } = await inspect(r.stdout.split("\n").filter(Boolean));
            return found.map((c) => ({ Id: c.Id, Names: [c.Name], Image: c.Config.Image, Labels: c.Config.Labels }));
        },
    };
}
