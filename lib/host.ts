// What the Docker host runs right now, read before any resource is declared.
//
// A Pulumi program cannot read its previous state synchronously, yet two
// decisions need it before resources are declared: which colour nginx routes
// to now (is this update a switch?) and whether the idle colour was retired
// (so a no-op `pulumi up` must not bring it back). The proxy's state volume
// holds both (the route marker and the retire ledger), and container labels
// say what each slot runs, so the host itself is the record.
import { execFileSync } from "child_process";
import { ADDRESSING_LABEL, MASQUERADE_OPTION, NetworkFacts } from "./addressing";
import { foreignObjects, NamedObject, parseNamed } from "./collisions";
import { Colour, COLOURS } from "./config";
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

/** Reads the host through the docker CLI, with the environment the program resolved (lib/dockerhost.ts). */
export const dockerHostProbe: HostProbe = (stackLabel, proxyContainer, env = process.env) => {
    const docker = (args: string[]) => dockerCli(args, env);
    const namePrefix = proxyContainer.replace(/-proxy$/, "");
    const named: NamedObject[] = [];
    const state: HostState = {
        running: {},
        retired: {},
        swapLimit: docker(["info", "--format", "{{json .SwapLimit}}"]).trim() === "true",
        stopped: [],
        networks: readNetworks(namePrefix, env, named),
    };
    // Every stack has its networks and volumes, so those two find a stack whose
    // names coincide with this one's (the network listing is read above anyway).
    named.push(...parseNamed("volume", docker(["volume", "ls", "--filter", `name=${namePrefix}-`, "--format", '{{.Name}}\t{{.Label "switchyard.stack"}}'])));
    state.foreign = foreignObjects(named, namePrefix, stackLabel);
    // App and process containers in one call (one docker process per read is what an up costs).
    const ps = docker([
        "ps", "-a", "--no-trunc",
        "--filter", `label=switchyard.stack=${stackLabel}`,
        "--format", '{{.Names}}\t{{.Label "switchyard.colour"}}\t{{.Label "switchyard.image"}}\t{{.State}}\t{{.Label "switchyard.role"}}\t{{.Image}}',
    ]);
    const notRunning: { name: string; colour: Colour; image: string; state: string }[] = [];
    const processesDown: { name: string; colour: Colour }[] = [];
    let proxyRunning = false;
    let postgres: string | undefined;
    let redis: string | undefined;
    for (const line of ps.split("\n").filter(Boolean)) {
        const [name, colour, image, status, role, createdFrom] = line.split("\t");
        // The same listing says whether the proxy runs and what the Postgres container is called.
        if (name === proxyContainer && status === "running") proxyRunning = true;
        if (role === "postgres") postgres ??= name;
        if (role === "redis") redis ??= name;
        if (!isColour(colour)) continue;
        if (role === "process") {
            if (status !== "running") processesDown.push({ name, colour });
            continue;
        }
        if (role !== "app") continue;
        if (status !== "running") {
            notRunning.push({ name, colour, image, state: status });
            continue;
        }
        const slot = (state.running[colour] ??= { image, containers: [] });
        slot.containers.push(name);
        if (imageIdOf(createdFrom)) slot.imageId ??= createdFrom;
    }
    // Only when something does not run: why (exit code, OOM) and since when.
    if (notRunning.length) {
        const facts = docker(["inspect", "--format", "{{.Name}}\t{{.State.ExitCode}}\t{{.State.OOMKilled}}\t{{.State.FinishedAt}}", ...notRunning.map((c) => c.name)]);
        for (const line of facts.split("\n").filter(Boolean)) {
            const [name, exitCode, oom, finishedAt] = line.split("\t");
            const c = notRunning.find((n) => n.name === name.replace(/^\//, ""));
            if (c) state.stopped.push({ ...c, exitCode: Number(exitCode), oomKilled: oom === "true", finishedAt });
        }
    }
    // Only when some do not run: since when, so a stop after a heal is a new one.
    if (processesDown.length) {
        const facts = docker(["inspect", "--format", "{{.Name}}\t{{.State.FinishedAt}}", ...processesDown.map((c) => c.name)]);
        state.stoppedProcesses = facts
            .split("\n")
            .filter(Boolean)
            .map((line) => line.split("\t"))
            .flatMap(([name, finishedAt]) => processesDown.filter((c) => c.name === name.replace(/^\//, "")).map((c) => ({ ...c, finishedAt })));
    }
    // A proxy without the stack's label (made before labels) is still found by name.
    state.route = proxyRunning ? readMarkers(proxyContainer, env, state) : readRoute(proxyContainer, env, state);
    // What Docker cannot change in place on the data services, and what one
    // replica of each running colour runs, in one call.
    const apps = Object.values(state.running).map((slot) => slot!.containers[0]);
    const data = readCreatedWith([postgres, redis, ...apps].filter((n): n is string => n !== undefined), env);
    for (const slot of Object.values(state.running)) slot!.values = data.get(slot!.containers[0])?.values;
    if (postgres) state.postgresHealthcheck = data.get(postgres)?.healthcheck;
    if (postgres && data.has(postgres)) state.postgresUser = data.get(postgres)!.postgresUser;
    if (redis && data.has(redis)) state.redisUser = data.get(redis)!.user;
    return state;
};

/**
 * Every network's subnets (to pick free ones) and the stack's frontend and
 * backend networks (lib/addressing.ts); each network's name and stack label
 * go to `named`.
 */
function readNetworks(namePrefix: string, env: NodeJS.ProcessEnv, named: NamedObject[]): NetworkFacts {
    const docker = (args: string[]) => dockerCli(args, env);
    const ids = docker(["network", "ls", "--quiet"]).split("\n").filter(Boolean);
    const facts: NetworkFacts = { taken: [] };
    if (!ids.length) return facts;
    const out = docker(["network", "inspect", "--format", `{{.Name}}\t{{index .Labels "${ADDRESSING_LABEL}"}}\t{{range .IPAM.Config}}{{.Subnet}} {{end}}\t{{index .Labels "switchyard.stack"}}\t{{index .Options "${MASQUERADE_OPTION}"}}`, ...ids]);
    for (const line of out.split("\n").filter(Boolean)) {
        const [name, fixed, subnets, owner, masquerade] = line.split("\t");
        named.push(...parseNamed("network", `${name}\t${owner ?? ""}`));
        const list = (subnets ?? "").split(" ").filter(Boolean);
        facts.taken.push(...list);
        const own = { subnet: list.find((s) => s.includes(".")), fixed: fixed === "fixed" };
        if (name === `${namePrefix}-frontend`) facts.frontend = own;
        if (name === `${namePrefix}-backend`) facts.backend = own;
        if (name === `${namePrefix}-data`) facts.data = { egress: masquerade !== "false" };
    }
    return facts;
}

/** The colour the live listener routes to now, or undefined when no proxy runs; fills `state` from the ledger when given. */
export function readRoute(proxyContainer: string, env: NodeJS.ProcessEnv = process.env, state?: HostState): Colour | undefined {
    const proxyRunning = dockerCli(["ps", "--filter", `name=^${proxyContainer}$`, "--format", "{{.Names}}"], env).trim() === proxyContainer;
    return proxyRunning ? readMarkers(proxyContainer, env, state) : undefined;
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

interface CreatedWith {
    healthcheck?: string[];
    user: string;
    postgresUser: string;
    /** An app container's variables as digests (lib/valuedigests.ts); the values themselves go no further than this function. */
    values?: Record<string, string>;
}

/**
 * What each container was created with: the healthcheck test and the user
 * (the stack's Postgres and Redis, running or not), POSTGRES_USER, and an app
 * replica's variables as digests.
 */
function readCreatedWith(containers: string[], env: NodeJS.ProcessEnv): Map<string, CreatedWith> {
    const facts = new Map<string, CreatedWith>();
    if (!containers.length) return facts;
    // POSTGRES_USER alone of Postgres's environment: the rest holds the password.
    const postgresUser = `{{range .Config.Env}}{{if eq (index (split . "=") 0) "POSTGRES_USER"}}{{slice . 14}}{{end}}{{end}}`;
    const app = `{{if eq (index .Config.Labels "switchyard.role") "app"}}{{json .Config.Labels}}\t{{json .Config.Env}}{{end}}`;
    const out = dockerCli(["inspect", "--format", `{{.Name}}\t{{.Config.User}}\t{{json .Config.Healthcheck}}\t${postgresUser}\t${app}`, ...containers], env);
    for (const line of out.split("\n").filter(Boolean)) {
        const [name, user, health, pgUser, labels, appEnv] = line.split("\t");
        facts.set(name.replace(/^\//, ""), {
            user: user ?? "",
            healthcheck: (JSON.parse(health || "null") as { Test?: string[] } | null)?.Test,
            postgresUser: pgUser ?? "",
            values: labels ? runningValueDigests(JSON.parse(labels), JSON.parse(appEnv || "null")) : undefined,
        });
    }
    return facts;
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

export function readHostState(stackLabel: string, proxyContainer: string, env?: NodeJS.ProcessEnv): HostState {
    return probe(stackLabel, proxyContainer, env);
}
