import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { Colour, DEFAULTS } from "../lib/config";
import { containerOptions, DaemonFacts, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DeleteGuard } from "../lib/guard";
import { healPlan, stopReason } from "../lib/heal";
import { StoppedReplica } from "../lib/host";
import { DATA_TLS, DataTlsAccess, dataTlsContainerArgs } from "../lib/datatls";
import { ReleaseSteps, rerunKey } from "../lib/steps";

export interface HealthSettings {
    /** Path the gate probes from the proxy. Defaults to "/health". */
    path: string;
    /** Port probed. Defaults to the app port. */
    port?: number;
    /** Seconds between probes. Defaults to 2. */
    intervalSeconds: number;
    /** Seconds the gate waits for the threshold. Defaults to 60. */
    timeoutSeconds: number;
    /** Consecutive healthy answers each replica needs. Defaults to 3. */
    healthyThreshold: number;
    /**
     * Docker's own health check inside each replica, in exec form (the image
     * must contain the program), such as ["/app", "healthcheck"]. Defaults to
     * none: the gate alone decides, so images without a shell or curl work.
     */
    command?: string[];
    /** The Host header of every probe (an app with strict allowed hosts refuses others). Defaults to none: the address probed. */
    host?: string;
    /** X-Forwarded-Proto of every probe. Defaults to none (the app sees plain HTTP). */
    forwardedProto?: "http" | "https";
}

export interface SlotArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** The colour of this slot. */
    colour: Colour;
    /** Image reference the slot runs. */
    image: string;
    /**
     * The image id to create the containers from instead of what `image`
     * resolves to now: the one a running colour runs, or a retired colour ran
     * (lib/release.ts pinnedImageId). Defaults to none: `image` as pulled.
     */
    pinnedImageId?: string;
    /** Containers in the slot; nginx spreads requests over them. Defaults to 2. */
    replicas?: number;
    /** Port the app listens on. Defaults to 3000. */
    appPort?: number;
    /** User (uid[:gid] or name) the replicas run as. Defaults to the image's own USER. */
    user?: string;
    /** Gate and healthcheck settings. */
    health: HealthSettings;
    /** Drain time; the stop grace period is longer. Defaults to 15. */
    drainSeconds?: number;
    /** postgres:// URL, secret. */
    databaseUrl: pulumi.Input<string>;
    /** redis:// URL, secret. */
    redisUrl: pulumi.Input<string>;
    /**
     * On a host that reaches the published data services over TLS
     * (lib/datatls.ts): every replica has the certificate at DATA_TLS.caFile,
     * named by SWITCHYARD_DATA_CA (DATABASE_URL names it as sslrootcert), and
     * DATA_TLS.hostName in its /etc/hosts. Defaults to none (the data host
     * itself, one host, managed services).
     */
    dataTls?: DataTlsAccess;
    /** The app's own plain variables for this colour (an output when they come from the colour's record, components/releasedvalues.ts). Defaults to none. */
    env?: pulumi.Input<Record<string, string>>;
    /** The app's own secret variables for this colour; secret in state and plan. Defaults to none. */
    secretEnv?: pulumi.Input<Record<string, string>>;
    frontendNetwork: pulumi.Input<string>;
    backendNetwork: pulumi.Input<string>;
    /** Proxy container the gate probes from (inside the frontend network). */
    proxyContainerName: string;
    /** The proxy's config step; the gate needs a running proxy. */
    proxyReady: pulumi.Resource;
    /** Postgres and Redis containers: replicas start after them (their /health needs both). */
    dataServices: pulumi.Resource[];
    /** Memory (MB) and CPU limits per replica. Defaults to 256 MB and 0.5 CPU. */
    limits?: Limits;
    /** Makes the gate command (it runs docker against the stack's host). */
    steps: ReleaseSteps;
    /** What the daemon enforces (swap limits). Defaults to swap limits enforced. */
    daemon?: DaemonFacts;
    /** Refuses deleting a replica of the colour that serves live traffic. Defaults to no guard. */
    guard?: DeleteGuard;
    /** Provider that pulls the image (one with the private registry's credentials). Defaults to the component's. */
    imageProvider?: pulumi.ProviderResource;
    /**
     * Each replica's fixed address on the frontend network, in replica order
     * (lib/addressing.ts): nginx's upstreams name them. Defaults to none: the
     * replicas are found by the app-<colour> alias (stacks made by 0.2).
     */
    addresses?: string[];
    /** App containers of the host that exist but do not run (lib/host.ts): the heal step starts this slot's. Defaults to none. */
    stopped?: StoppedReplica[];
    /**
     * Keep the variables (and their labels) the replicas run with, whatever env
     * and secretEnv say now: a live colour keeps the values it was released
     * with (lib/release.ts keepsReleasedValues). Defaults to false.
     */
    keepValues?: boolean;
}

/**
 * One colour's slot: its replicas, reachable as app-<colour> on the frontend
 * network, and a gate that must pass whenever the slot's containers are new.
 */
export class Slot extends pulumi.ComponentResource {
    public readonly colour: Colour;
    public readonly image: string;
    public readonly containers: docker.Container[];
    /** Passes when every replica answered the health path healthyThreshold times in a row. */
    public readonly gate: command.local.Command;
    public readonly containerNames: string[];
    /** Container ids joined: changes whenever any replica is re-created. */
    public readonly containerIds: pulumi.Output<string>;
    /** What gate.sh needs to gate this slot; the switch gates it again with the same. */
    public readonly gateEnvironment: Record<string, pulumi.Input<string>>;
    /** Starts and gates replicas found stopped; a no-op update when none are. */
    public readonly heal: command.local.Command;
    /** The pulled image's id: the colour's other process types run the same build. */
    public readonly imageId: pulumi.Output<string>;
    /** The certificate file and hosts line every replica gets (dataTls), or none: the colour's other process types get the same. */
    public readonly dataTlsArgs?: ReturnType<typeof dataTlsContainerArgs>;
    /** Every replica's environment (secret): the colour's other process types get the same. */
    public readonly envs: pulumi.Output<string[]>;
    /** The plain variables as the `switchyard.env` label shows them ("" for none). */
    public readonly envLabel: pulumi.Output<string>;
    /** The secret variables' names, comma-separated (the `switchyard.secret-env` label). */
    public readonly secretNames: pulumi.Output<string>;

    constructor(name: string, args: SlotArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:app:Slot", name, {}, opts);
        const replicas = args.replicas ?? DEFAULTS.replicas;
        if (!Number.isInteger(replicas) || replicas < 1) {
            throw new pulumi.ResourceError(`replicas must be an integer >= 1, got ${replicas}`, this);
        }
        if (args.addresses && args.addresses.length !== replicas) {
            throw new pulumi.ResourceError(`addresses: ${args.addresses.length} given for ${replicas} replicas`, this);
        }
        const appPort = args.appPort ?? DEFAULTS.appPort;
        const healthPort = args.health.port ?? appPort;
        const drainSeconds = args.drainSeconds ?? DEFAULTS.drainSeconds;
        this.colour = args.colour;
        this.image = args.image;

        // Names from config are checked here; a record's were checked when they were config.
        const given = args.env ?? {};
        if (!pulumi.Output.isInstance(given) && !(given instanceof Promise)) {
            for (const key of Object.keys(given)) {
                if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new pulumi.ResourceError(`slots.${args.colour}.env: "${key}" is not an environment variable name`, this);
            }
        }
        const env = pulumi.output(given);

        // A pull that fails (bad credentials, a missing tag) fails here, before
        // the gate: nothing is switched and the live colour is untouched.
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: this, ...(args.imageProvider ? { provider: args.imageProvider } : {}) });
        // Switchyard's own variables last, so nothing can override them. The
        // whole list is secret (it holds the service URLs and the app's secrets).
        const envs = pulumi.secret(
            pulumi.all([args.databaseUrl, args.redisUrl, pulumi.output(args.secretEnv ?? {}), env]).apply(([db, redis, secrets, plain]) => [
                ...Object.entries(plain).map(([k, v]) => `${k}=${v}`),
                ...Object.entries(secrets).map(([k, v]) => `${k}=${v}`),
                `PORT=${appPort}`,
                `SWITCHYARD_COLOR=${args.colour}`,
                `SWITCHYARD_IMAGE=${args.image}`,
                `DATABASE_URL=${db}`,
                `REDIS_URL=${redis}`,
                ...(args.dataTls === undefined ? [] : [`${DATA_TLS.caEnv}=${DATA_TLS.caFile}`]),
            ]),
        );
        this.dataTlsArgs = args.dataTls && dataTlsContainerArgs(args.dataTls);
        // What a reviewer reads in `pulumi preview --diff` for this colour: the
        // plain variables with their values, the secret ones by name only.
        const envLabel = env.apply((plain) => Object.entries(plain).map(([k, v]) => `${k}=${v}`).sort().join("\n"));
        const secretNames = pulumi.output(args.secretEnv ?? {}).apply((s) => Object.keys(s).sort().join(","));
        this.imageId = args.pinnedImageId ? pulumi.output(args.pinnedImageId) : image.imageId;
        this.envs = envs;
        this.envLabel = envLabel;
        this.secretNames = secretNames;

        this.containerNames = [];
        this.containers = [];
        for (let i = 1; i <= replicas; i++) {
            const containerName = `${args.namePrefix}-app-${args.colour}-${i}`;
            this.containerNames.push(containerName);
            this.containers.push(
                new docker.Container(
                    `${name}-${i}`,
                    {
                        name: containerName,
                        image: this.imageId,
                        envs,
                        ...this.dataTlsArgs,
                        ...(args.user ? { user: args.user } : {}),
                        networksAdvanced: [
                            { name: args.backendNetwork },
                            // The fixed address is how nginx finds a replica; the alias, shared by
                            // a colour's replicas, is how a 0.2 stack's nginx finds them (and ops).
                            { name: args.frontendNetwork, aliases: [`app-${args.colour}`], ...(args.addresses ? { ipv4Address: args.addresses[i - 1] } : {}) },
                        ],
                        // Opt-in and exec form: no config value reaches a shell.
                        ...(args.health.command ? { healthcheck: healthcheck(args.health.command, args.health.intervalSeconds, 3, 3, 5) } : {}),
                        // Our gate, not wait:true, decides health: its error names the
                        // colour, the last answer and the log tail.
                        wait: false,
                        // Longer than the drain, so SIGTERM lets in-flight requests finish.
                        ...lifecycleArgs(drainSeconds + 5),
                        securityOpts: ["no-new-privileges:true"],
                        capabilities: { drops: ["ALL"] },
                        labels: pulumi.all([pulumi.unsecret(secretNames), envLabel]).apply(([names, plain]) => [
                            ...dockerLabels({ stack: args.stackLabel, role: "app", colour: args.colour, image: args.image, replica: i }),
                            ...(plain ? [{ label: "switchyard.env", value: plain }] : []),
                            ...(names ? [{ label: "switchyard.secret-env", value: names }] : []),
                        ]),
                        ...limitArgs(args.limits ?? DEFAULTS.limits.app, args.daemon ?? { swapLimit: true }),
                    },
                    // dependsOn: a component's dependsOn does not reach its children.
                    containerOptions({ parent: this, dependsOn: args.dataServices, hooks: args.guard?.binding("app"), ...keepValuesOption(args.keepValues) }),
                ),
            );
        }
        this.containerIds = pulumi.all(this.containers.map((c) => c.id)).apply((ids) => ids.join(","));

        this.gateEnvironment = {
                SWITCHYARD_PROXY: args.proxyContainerName,
                SWITCHYARD_COLOR: args.colour,
                SWITCHYARD_TARGETS: this.containerNames.join(" "),
                ...rerunKey({ SLOT_CONTAINER_IDS: this.containerIds }),
                HEALTH_PATH: args.health.path,
                HEALTH_PORT: String(healthPort),
                HEALTHY_THRESHOLD: String(args.health.healthyThreshold),
                GATE_INTERVAL: String(args.health.intervalSeconds),
                GATE_TIMEOUT: String(args.health.timeoutSeconds),
                // Only when set: a stack that never set them keeps its gate's inputs.
                ...(args.addresses ? { SWITCHYARD_TARGET_ADDRESSES: args.addresses.join(" ") } : {}),
                ...(args.health.host ? { HEALTH_HOST: args.health.host } : {}),
                ...(args.health.forwardedProto === "https" ? { HEALTH_PROTO: "https" } : {}),
        };
        this.gate = args.steps.step(
            `${name}-gate`,
            "gate",
            this.gateEnvironment,
            // dependsOn: the gate probes from inside the proxy, which must be configured.
            { parent: this, dependsOn: [args.proxyReady] },
        );
        // Heal: replicas the host probe found stopped are started and gated. The
        // step's input is which replicas stopped when; with none, its input is
        // ignored, so the up after a heal (and every quiet one) is a no-op.
        const heal = healPlan(args.colour, args.image, args.stopped ?? []);
        const index = (r: StoppedReplica) => this.containerNames.indexOf(r.name);
        const healTargets = heal.replicas.filter((r) => index(r) >= 0);
        this.heal = args.steps.step(
            `${name}-heal`,
            "heal",
            {
                ...this.gateEnvironment,
                SWITCHYARD_TARGETS: healTargets.map((r) => r.name).join(" "),
                ...(args.addresses ? { SWITCHYARD_TARGET_ADDRESSES: healTargets.map((r) => args.addresses![index(r)]).join(" ") } : {}),
                HEAL_TOKEN: heal.token,
                HEAL_REASONS: healTargets.map((r) => `${r.name}: ${stopReason(r)}`).join("\n"),
            },
            // dependsOn: the gate probes from inside the proxy, which must be configured.
            { parent: this, dependsOn: [args.proxyReady, ...this.containers], ignoreChanges: healTargets.length ? [] : ["environment"] },
        );
        this.registerOutputs({ colour: this.colour, image: this.image, containers: this.containerNames });
    }
}

/** The resource option that keeps a container's variables, the labels naming them and its data certificate and hosts line, as they run. */
export function keepValuesOption(keep: boolean | undefined): pulumi.CustomResourceOptions {
    return keep ? { ignoreChanges: ["envs", "labels", "uploads", "hosts"] } : {};
}
