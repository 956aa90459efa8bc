// The shared recording mock: runs the real program (index.ts) against
// Pulumi's mocks and records every resource registration — its type, name,
// inputs, protect flag and the resources it depends on — so tests can assert
// on the graph and compare two runs as a preview would.
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as path from "path";
import { HostState, setHostProbe } from "../../lib/host";

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>;
    protect: boolean;
    /** Names of the resources this one depends on (dependsOn and data). */
    deps: string[];
    /** Names of the hooks the engine runs before deleting it. */
    beforeDelete: string[];
    ignoreChanges: string[];
    replaceOnChanges: string[];
    deleteBeforeReplace: boolean;
    /** The provider reference (urn::id) the resource is created with; empty for the default. */
    provider: string;
}

export interface RunOptions {
    /** Config values without the namespace: { liveColor: "blue", slots: {...} }. */
    config: Record<string, unknown>;
    /** Keys (without namespace) stored as secrets. */
    secrets?: string[];
    host?: HostState;
    /** What each Docker host runs, by its DOCKER_HOST (a stack of several hosts); the rest get `host`. */
    hostsByDocker?: Record<string, HostState>;
    stack?: string;
    /** Names of resources whose create fails, as a failed release step would. */
    failing?: string[];
    /**
     * Outputs a resource has in the state, by name: what the engine answers for
     * a resource whose inputs ignoreChanges leaves as they were stored.
     */
    stored?: Record<string, Record<string, unknown>>;
}

export interface RunResult {
    resources: Map<string, Recorded>;
    outputs: Record<string, unknown>;
    /** The docker CLI environment of each host read at plan time, in order. */
    probed: NodeJS.ProcessEnv[];
}

const PROGRAM = path.resolve(__dirname, "..", "..", "index.ts");
/** The key (and value) that marks a secret in the engine's wire form. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

const isSecret = (v: any): boolean => Boolean(v && typeof v === "object" && v[SECRET_SIG] === SECRET_SIG_VALUE);

/** Inputs with every secret replaced by its value: what a container would be given. */
export function unwrapSecrets<T>(v: T): T {
    return JSON.parse(JSON.stringify(v), (_k, x) => (isSecret(x) ? x.value : x));
}
export const EMPTY_HOST: HostState = { running: {}, retired: {}, swapLimit: true, stopped: [], networks: { taken: [] } };
/** A host where blue is live and both colours run app:1.0.0. */
export const BOTH_RUNNING: HostState = { ...EMPTY_HOST, route: "blue", running: { blue: { image: "app:1.0.0", containers: [] }, green: { image: "app:1.0.0", containers: [] } } };

// Pulumi's mock monitor has no registerResourceHook (the engine's answer is
// an empty message); without it a resource with hooks never registers.
const mockMonitor = require("@pulumi/pulumi/runtime/mocks").MockMonitor.prototype;
mockMonitor.registerResourceHook ??= (_req: unknown, cb: (err: Error | null, res: unknown) => void) => cb(null, {});

/** The program's BlueGreenApp: names are recorded relative to it ("release-gate", not "switchyard-release-gate"). */
const APP = "switchyard";
function relativeName(name: string): string {
    return name.startsWith(`${APP}-`) ? name.slice(APP.length + 1) : name;
}

function urnName(urn: string): string {
    return relativeName(urn.slice(urn.lastIndexOf("::") + 2));
}

/** Runs the program once under mocks; rejects with the program's error. */
export async function runProgram(opts: RunOptions): Promise<RunResult> {
    const resources = new Map<string, Recorded>();
    const stack = opts.stack ?? "staging";
    const raw: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.config)) raw[`switchyard:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
    pulumi.runtime.setAllConfig(raw, (opts.secrets ?? []).map((k) => `switchyard:${k}`));
    const probed: NodeJS.ProcessEnv[] = [];
    setHostProbe((_label, _proxy, env) => {
        probed.push(env ?? {});
        return opts.hostsByDocker?.[env?.DOCKER_HOST ?? ""] ?? opts.host ?? EMPTY_HOST;
    });

    await pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                const name = relativeName(args.name);
                if (opts.failing?.includes(name)) throw new Error(`${name} failed`);
                // A deterministic id that changes when inputs change, as a
                // re-created container's would.
                const id = `${name}-${createHash("sha256").update(JSON.stringify(args.inputs)).digest("hex").slice(0, 8)}`;
                const state: Record<string, unknown> = { ...args.inputs };
                if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:${args.inputs.name}`;
                if (args.type === "random:index/randomPassword:RandomPassword") state.result = `pw-${name}`;
                Object.assign(state, opts.stored?.[name]);
                return { id, state };
            },
            call: () => ({}),
        },
        "switchyard",
        stack,
        false,
    );
    // Wrap the mock monitor to see what the engine would: dependencies and protect.
    const monitor = (pulumi.runtime as any).getMonitor();
    const register = monitor.registerResource.bind(monitor);
    // Inputs in their wire form, so secrets stay visibly wrapped.
    const wireInputs = (req: any): Record<string, any> => req.getObject()?.toJavaScript() ?? {};
    monitor.registerResource = (req: any, cb: any) => {
        const name = urnName(`::${req.getName()}`);
        resources.set(name, {
            type: req.getType(),
            name,
            inputs: wireInputs(req),
            protect: req.getProtect(),
            deps: req.getDependenciesList().map(urnName),
            beforeDelete: req.getHooks()?.getBeforeDeleteList() ?? [],
            ignoreChanges: req.getIgnorechangesList(),
            replaceOnChanges: req.getReplaceonchangesList(),
            deleteBeforeReplace: req.getDeletebeforereplace(),
            provider: req.getProvider(),
        });
        return register(req, cb);
    };

    // Pulumi records a stack trace for every promise it makes, and ts-node's
    // source maps make each one costly: about half of a run's time. A test
    // here reads what the program declared, never those traces.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
        return await declare(opts, resources, probed);
    } finally {
        Error.stackTraceLimit = stackTraceLimit;
    }
}

async function declare(opts: RunOptions, resources: Map<string, Recorded>, probed: NodeJS.ProcessEnv[]): Promise<RunResult> {
    delete require.cache[PROGRAM];
    for (const key of Object.keys(require.cache)) {
        if (key.includes(`${path.sep}components${path.sep}`) || key.endsWith(`${path.sep}index.ts`)) delete require.cache[key];
    }
    let program: Record<string, unknown>;
    try {
        program = require(PROGRAM);
    } catch (err) {
        // What a refused config leaves behind: a test asserts it is nothing.
        if (err && typeof err === "object") (err as { registered?: string[] }).registered = [...resources.keys()];
        throw err;
    }
    const outputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(program)) {
        outputs[k] = pulumi.Output.isInstance(v) ? await (v as any).promise() : v;
    }
    // Let every registration that waits on an output finish.
    let last = -1;
    while (resources.size !== last) {
        last = resources.size;
        await new Promise((r) => setTimeout(r, 50));
    }
    return { resources, outputs, probed };
}

/** Inputs as a preview would compare them: secrets unwrapped to a marker. */
export function comparable(r: Recorded): string {
    return JSON.stringify(r.inputs, (_k, v) => (isSecret(v) ? { secret: v.value } : v));
}

export interface GraphDiff {
    created: string[];
    deleted: string[];
    changed: string[];
}

/** What a second run would change relative to a first: by name, as Pulumi matches URNs. */
export function diffRuns(before: RunResult, after: RunResult): GraphDiff {
    const created = [...after.resources.keys()].filter((k) => !before.resources.has(k)).sort();
    const deleted = [...before.resources.keys()].filter((k) => !after.resources.has(k)).sort();
    const changed = [...after.resources.keys()]
        .filter((k) => before.resources.has(k) && comparable(before.resources.get(k)!) !== comparable(after.resources.get(k)!))
        .sort();
    return { created, deleted, changed };
}

export function byType(run: RunResult, type: string): Recorded[] {
    return [...run.resources.values()].filter((r) => r.type === type);
}

export function get(run: RunResult, name: string): Recorded {
    const r = run.resources.get(name);
    if (!r) throw new Error(`no resource named ${name}; have: ${[...run.resources.keys()].join(", ")}`);
    return r;
}

/** docker.Container envs/labels helpers. */
export function labelsOf(r: Recorded): Record<string, string> {
    return Object.fromEntries((r.inputs.labels ?? []).map((l: any) => [l.label, l.value]));
}
