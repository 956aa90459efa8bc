// What the Docker host runs right now, read before any resource is declared.
//
// A Pulumi program cannot read its previous state synchronously, yet two
// decisions need it before resources are declared: which colour nginx routes
// to now (is this update a switch?) and whether the idle colour was retired
// (so a no-op `pulumi up` must not bring it back). The proxy's state volume
// holds both (the route marker and the retire ledger), and container labels
// say what each slot runs, so the host itself is the record.
import { execFileSync } from "child_process";
import type { FactsAnswer, HostFactsRaw } from "../engine/host-facts";
import { ADDRESSING_LABEL, MASQUERADE_OPTION, NetworkFacts } from "./addressing";
import { foreignObjects, NamedObject, parseNamed } from "./collisions";
import { Colour, COLOURS } from "./config";
import { factsRequest, readFactsSync } from "./factsreader";
import { imageIdOf, LIST_MARKERS_SCRIPT, parseMarkers } from "./routemarker";
import { runningValueDigests } from "./valuedigests";
import { LIVE_LISTEN_PORT, LIVE_SOCKET } from "../nginx/render";

export interface RunningSlot {
    /** The image the slot's containers were created from (label switchyard.image). */
    image: string;
    /** The image id they were created from, when they were created by id (as the program does). */
    imageId?: string;
    /** Names of the slot's running containers. */
    containers: string[];
    /** The app's variables one of them runs, as keyed digests by name (lib/valuedigests.ts). Defaults to unknown. */
    values?: Record<string, string>;
}

/** A replica the program declared that is not running now: stopped from outside, crashed, killed for memory. */
export interface StoppedReplica {
    name: string;
    colour: Colour;
    /** The image it was created from (label switchyard.image). */
    image: string;
    /** Docker's state: exited, created, dead, paused, restarting. */
    state: string;
    exitCode: number;
    oomKilled: boolean;
    /** When it stopped (Docker's FinishedAt): a stop after a heal is a new one. */
    finishedAt: string;
}

export interface HostState {
    /** The colour the live listener routes to, or undefined when no proxy runs yet. */
    route?: Colour;
    /** Slots with running containers, by colour. */
    running: Partial<Record<Colour, RunningSlot>>;
    /** Image each colour had when it was last retired (standby: retire). */
    retired: Partial<Record<Colour, string>>;
    /** The image id each retired colour ran, from the retire ledger (not in ledgers written before it). Defaults to none. */
    retiredImageId?: Partial<Record<Colour, string>>;
    /** Whether the live listener is in maintenance mode now (its marker exists). */
    maintenance?: boolean;
    /** Who runs `npm run restore` on this stack and since when, while one runs. */
    restoring?: string;
    /** A canary in progress (canary.steps): the colour that gets a share of new traffic, and the share in percent. */
    canary?: { colour: Colour; weight: number };
    /** The last canary's figures, one line per step (engine/canary.ts). */
    canaryFigures?: string[];
    /**
     * Whether the daemon enforces swap limits. Without them Docker stores
     * memory_swap as -1, and the program must send what Docker will keep.
     */
    swapLimit: boolean;
    /**
     * The healthcheck test the stack's Postgres container on this host was
     * created with (["CMD-SHELL", "…"] or ["CMD", …]), when one exists. Docker
     * cannot change a container's healthcheck, so the program keeps an existing
     * container's form unless the operator allows its re-creation.
     */
    postgresHealthcheck?: string[];
    /**
     * The user the stack's Redis container on this host was created with
     * ("" when none was given: the image's, root for most Redis images), when
     * one exists. Changing it re-creates Redis, so an existing root one is kept
     * unless the operator allows the re-creation (components/redis.ts).
     */
    redisUser?: string;
    /**
     * Whether the stack's Redis container on this host was created with TLS on
     * its published port, when one exists (lib/datatls.ts keepsClearData: a
     * stack of several hosts made before TLS keeps clear until it is moved).
     */
    redisTls?: boolean;
    /**
     * The POSTGRES_USER the stack's Postgres container on this host was created
     * with, when one exists: the superuser its data directory was initialised
     * with. Equal to postgres.user, the app connects as that superuser (stacks
     * made before the app role owned its database only; components/postgres.ts).
     */
    postgresUser?: string;
    /** App containers of the stack that exist but do not run. */
    stopped: StoppedReplica[];
    /** Process containers (workers, schedulers) that exist but do not run, by colour: the live colour's are started again by the next up. Defaults to none. */
    stoppedProcesses?: { name: string; colour: Colour; finishedAt: string }[];
    /** The engine's networks: every subnet in use, and the stack's own two. */
    networks: NetworkFacts;
    /** Networks and volumes named as this stack's but labelled for another stack (lib/collisions.ts). */
    foreign?: NamedObject[];
}

export type HostProbe = (stackLabel: string, proxyContainer: string, env?: NodeJS.ProcessEnv) => HostState;

/**
 * Reads the host with the environment the program resolved (lib/dockerhost.ts):
 * its raw facts over one engine connection (engine/host-facts.ts), then the
 * decisions from them (hostStateOf).
 */
export const dockerHostProbe: HostProbe = (stackLabel, proxyContainer, env = process.env) => readHostsFacts([{ stackLabel, proxyContainer, env }])[0];

/** Each host's state, read all at once on the reader thread (the program declares nothing before it knows every host). */
function readHostsFacts(hosts: { stackLabel: string; proxyContainer: string; env: NodeJS.ProcessEnv }[]): HostState[] {
    const requests = hosts.map((h) => factsRequest(h.stackLabel, h.proxyContainer, h.env));
    const where = (h: (typeof hosts)[number]) => `the Docker host${h.env.DOCKER_HOST ? ` ${h.env.DOCKER_HOST}` : ""}`;
    let answers: FactsAnswer[];
    try {
        answers = readFactsSync(requests);
    } catch (e) {
        const message = (e as Error).message;
        // The engine not built says so itself; anything else is about the hosts.
        throw message.startsWith("switchyard:") ? e : new Error(`switchyard: could not read ${where(hosts[0])}: ${message}`);
    }
    return answers.map((a, i) => {
        if ("error" in a) throw new Error(`switchyard: could not read ${where(hosts[i])}: ${a.error}`);
        return hostStateOf(a.facts, hosts[i].stackLabel, hosts[i].proxyContainer);
    });
}

/** What the host runs, decided from its raw facts (pure: test/unit/host-state.test.ts). */
export function hostStateOf(facts: HostFactsRaw, stackLabel: string, proxyContainer: string): HostState {
    const namePrefix = proxyContainer.replace(/-proxy$/, "");
    const named: NamedObject[] = [];
    const state: HostState = {
        running: {},
        retired: {},
        swapLimit: facts.swapLimit,
        stopped: [],
        networks: networkFacts(facts.networks, namePrefix, named),
    };
    // Every stack has its networks and volumes, so those two find a stack whose
    // names coincide with this one's (the network listing is read anyway).
    for (const v of facts.volumes) named.push(...parseNamed("volume", `${v.name}\t${v.labels["switchyard.stack"] ?? ""}`));
    state.foreign = foreignObjects(named, namePrefix, stackLabel);
    const byName = new Map(facts.containers.map((c) => [c.name, c]));
    let postgres: string | undefined;
    let redis: string | undefined;
    const stoppedProcesses: { name: string; colour: Colour; finishedAt: string }[] = [];
    // Docker lists the newest first; the CLI version read them in that order too.
    for (const c of facts.containers) {
        const role = c.labels["switchyard.role"];
        const colour = c.labels["switchyard.colour"];
        if (role === "postgres") postgres ??= c.name;
        if (role === "redis") redis ??= c.name;
        if (!isColour(colour)) continue;
        if (role === "process") {
            if (c.status !== "running") stoppedProcesses.push({ name: c.name, colour, finishedAt: c.finishedAt });
            continue;
        }
        if (role !== "app") continue;
        const image = c.labels["switchyard.image"] ?? "";
        if (c.status !== "running") {
            // Only what does not run: why (exit code, OOM) and since when, so a stop after a heal is a new one.
            state.stopped.push({ name: c.name, colour, image, state: c.status, exitCode: c.exitCode, oomKilled: c.oomKilled, finishedAt: c.finishedAt });
            continue;
        }
        const slot = (state.running[colour] ??= { image, containers: [] });
        slot.containers.push(c.name);
        if (imageIdOf(c.image)) slot.imageId ??= c.image;
    }
    if (stoppedProcesses.length) state.stoppedProcesses = stoppedProcesses;
    // A proxy without the stack's label (made before labels) is found by name.
    if (facts.proxyRunning) {
        const markers = parseMarkers(facts.markers ?? "");
        Object.assign(state.retired, markers.retired);
        state.retiredImageId = { ...state.retiredImageId, ...markers.retiredImageId };
        state.maintenance = markers.maintenance;
        if (markers.restoring) state.restoring = markers.restoring;
        if (markers.canary) state.canary = markers.canary;
        if (markers.canaryFigures) state.canaryFigures = markers.canaryFigures;
        state.route = markers.route;
    }
    // What Docker cannot change in place on the data services, and what one replica of each running colour runs.
    for (const slot of Object.values(state.running)) {
        const c = byName.get(slot!.containers[0]);
        slot!.values = c?.env ? runningValueDigests(c.labels, c.env) : undefined;
    }
    const pg = postgres ? byName.get(postgres) : undefined;
    if (pg) {
        state.postgresHealthcheck = pg.healthcheck;
        state.postgresUser = pg.postgresUser;
    }
    const rd = redis ? byName.get(redis) : undefined;
    if (rd) {
        state.redisUser = rd.user;
        state.redisTls = rd.tls ?? false;
    }
    return state;
}

/**
 * Every network's subnets (to pick free ones) and the stack's frontend and
 * backend networks (lib/addressing.ts); each network's name and stack label
 * go to `named`.
 */
function networkFacts(networks: HostFactsRaw["networks"], namePrefix: string, named: NamedObject[]): NetworkFacts {
    const facts: NetworkFacts = { taken: [] };
    for (const n of networks) {
        named.push(...parseNamed("network", `${n.name}\t${n.labels["switchyard.stack"] ?? ""}`));
        facts.taken.push(...n.subnets);
        const own = { subnet: n.subnets.find((s) => s.includes(".")), fixed: n.labels[ADDRESSING_LABEL] === "fixed" };
        if (n.name === `${namePrefix}-frontend`) facts.frontend = own;
        if (n.name === `${namePrefix}-backend`) facts.backend = own;
        if (n.name === `${namePrefix}-data`) facts.data = { egress: n.options[MASQUERADE_OPTION] !== "false" };
    }
    return facts;
}

/** The colour the live listener routes to now, or undefined when no proxy runs; fills `state` from the ledger when given. */
export function readRoute(proxyContainer: string, env: NodeJS.ProcessEnv = process.env, state?: HostState): Colour | undefined {
    const proxyRunning = dockerCli(["ps", "--filter", `name=^${proxyContainer}$`, "--format", "{{.Names}}"], env).trim() === proxyContainer;
    return proxyRunning ? readMarkers(proxyContainer, env, state) : undefined;
}

/**
 * The colour the live listener routes to now, or undefined when no proxy runs
 * (none, or one that exited): readRoute's answer over the Engine API
 * (engine/docker.ts dockerEngine), one inspect and one exec and no docker CLI
 * process, for the delete guard, which asks before every delete of a
 * container. A proxy that runs but cannot be read (paused, restarting) throws,
 * as readRoute does: a route that was not read is no route.
 */
export async function liveRoute(proxyContainer: string, env: NodeJS.ProcessEnv = process.env): Promise<Colour | undefined> {
    // Loaded at the first delete, not at every program start: most updates delete no container.
    const { dockerEngine, Proxy } = await import("../engine/docker");
    const docker = dockerEngine(env);
    try {
        const { found } = await docker.inspect([proxyContainer]);
        // What `docker ps` lists (readRoute): running, paused or restarting.
        if (!["running", "paused", "restarting"].includes(found[0]?.State.Status ?? "")) return undefined;
        return await new Proxy(docker, proxyContainer).route();
    } catch (e) {
        throw new Error(`switchyard: could not read which colour the proxy ${proxyContainer} routes to${env.DOCKER_HOST ? ` on ${env.DOCKER_HOST}` : ""}: ${(e as Error).message}`);
    }
}

/** The route and the ledger from a running proxy's state (one docker exec); fills `state` when given. */
function readMarkers(proxyContainer: string, env: NodeJS.ProcessEnv, state?: HostState): Colour | undefined {
    const markers = parseMarkers(dockerCli(["exec", proxyContainer, "sh", "-c", LIST_MARKERS_SCRIPT], env));
    if (state) {
        Object.assign(state.retired, markers.retired);
        state.retiredImageId = { ...state.retiredImageId, ...markers.retiredImageId };
        state.maintenance = markers.maintenance;
        if (markers.restoring) state.restoring = markers.restoring;
    }
    return markers.route;
}

/**
 * curl's arguments for a path on a proxy's live listener, from inside the
 * proxy: its unix socket when it runs with host networking (a stack with fixed
 * addresses), else its port in the container (a stack made by 0.2).
 */
export function liveProbe(proxyContainer: string, env: NodeJS.ProcessEnv = process.env): (path: string) => string[] {
    const mode = dockerCli(["inspect", "--format", "{{.HostConfig.NetworkMode}}", proxyContainer], env).trim();
    return mode === "host" ? (path) => ["--unix-socket", LIVE_SOCKET, `http://localhost${path}`] : (path) => [`http://127.0.0.1:${LIVE_LISTEN_PORT}${path}`];
}

function isColour(v: string | undefined): v is Colour {
    return (COLOURS as readonly string[]).includes(v ?? "");
}

function dockerCli(args: string[], env: NodeJS.ProcessEnv): string {
    try {
        return execFileSync("docker", args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"], timeout: 20000 });
    } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new Error(`switchyard: could not read the Docker host (docker ${args.slice(0, 2).join(" ")}): ${(e.stderr || e.message).trim()}`);
    }
}

let probe: HostProbe = dockerHostProbe;

/** Unit tests replace the probe, as they replace the providers with mocks. */
export function setHostProbe(p: HostProbe): void {
    probe = p;
}

/** Every host's state, in order: the real probe reads them all at once. */
export function readHostStates(stackLabel: string, proxyContainer: string, envs: NodeJS.ProcessEnv[]): HostState[] {
    if (probe !== dockerHostProbe) return envs.map((env) => probe(stackLabel, proxyContainer, env));
    return readHostsFacts(envs.map((env) => ({ stackLabel, proxyContainer, env })));
}
