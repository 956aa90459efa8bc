// The release: every step of a blue-green switch, in the order it runs.
//
// The safety argument is this order, enforced by dependsOn:
//   notify      the webhook URL is in the proxy before any step can fail
//   maintenance on (when asked), before anything of the release runs
//   slots       the new colour's containers start beside the live ones, and
//               the slot's own gate waits for every replica to answer health
//   gate        the colour going live is gated again, as one release step
//   backup      a dump of Postgres beside that re-check: only for a release
//               whose colour passed its own gate (the slot's, above)
//   expand      the expand migration, after the re-check and the dump, while
//               old code serves
//   processes   (with process types) the new colour's workers start and are
//               gated, and each scheduler is handed over, old one stopped first
//   canary      (with canary steps) the new colour gets a rising share of new
//               traffic, judged at each step; a failed step sends it all back
//   re-point    the route marker moves; nothing moved before the gate passed
//   verify      the live listener must answer from the new colour, or the
//               route goes back and the update fails
//   bake        (when asked) the new colour's real traffic is judged for a
//               while: too many 5xx or too slow, and the route goes back to
//               the old colour, which still runs, and the update fails
//   settle      (with process types) the old colour's workers and schedulers
//               get SIGTERM and their grace to finish the job in hand
//   retire      the old colour drains and stops, only once verify (and the
//               bake) passed
//   contract    the contract migration, once no old code runs
//   maintenance off, only once the new colour is verified
// A step that fails stops the update there: everything before it stays, and
// nothing after it runs, so live traffic is never on an unverified colour.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Colour, COLOURS, DEFAULTS } from "../lib/config";
import { migrationFingerprint } from "../lib/fingerprint";
import { rootAlias } from "../lib/aliases";
import { ReleasePlan } from "../lib/release";
import { ReleaseKey, ReleaseSteps, rerunKey } from "../lib/steps";
import { LIVE_LISTEN_PORT } from "../nginx/render";
import { Backup, BackupArgs } from "./backup";
import { Maintenance } from "./maintenance";
import { Migration } from "./migration";
import { Notifier } from "./notifier";
import { Processes, ProcessSpec, processSpecLines } from "./processes";
import { Slot, SlotArgs } from "./slot";

/** What every slot shares; the colour, image and variables come per colour. */
export type SlotDefaults = Omit<SlotArgs, "colour" | "image" | "env" | "secretEnv" | "proxyReady" | "steps" | "addresses" | "keepValues">;

export interface ColourSettings {
    /** Image reference the colour runs. */
    image: string;
    /** The image id its containers are created from instead of what `image` resolves to now (lib/release.ts pinnedImageId). Defaults to none. */
    pinnedImageId?: string;
    /** The app's own plain variables. Defaults to none. */
    env?: pulumi.Input<Record<string, string>>;
    /** The app's own secret variables; secret in state and plan. Defaults to none. */
    secretEnv?: pulumi.Input<Record<string, string>>;
    /** Each replica's fixed address on the frontend network (lib/addressing.ts). Defaults to none: found by DNS alias. */
    addresses?: string[];
    /** Keep the variables the colour's containers run with, whatever env and secretEnv say now (lib/release.ts keepsReleasedValues). Defaults to false. */
    keepValues?: boolean;
}

/** The bake's window and thresholds (the `bake` config key). */
export interface BakeSettings {
    /** How long real traffic to the new colour is watched; 0 declares no bake step. */
    seconds: number;
    /** Most 5xx answers allowed, as a percentage of the colour's real requests. */
    maxErrorPercent: number;
    /** Highest p99 request time allowed, in ms. Defaults to none: reported, not judged. */
    maxP99Ms?: number;
    /** Fewest real requests worth judging; fewer, and the bake passes and says so. */
    minRequests: number;
}

/** The weighted canary before the re-point (the `canary` config key). */
export interface CanarySettings {
    /** Percent of new traffic the new colour gets at each step, rising, 1-99. */
    steps: number[];
    /** How long each step's real traffic is judged (with the bake's thresholds). */
    stepSeconds: number;
}

/** The dump before every switch: Backup's args, less what the release supplies itself. */
export type ReleaseBackupArgs = Omit<BackupArgs, "key" | "after" | "migrationFingerprint" | "steps">;

export interface ReleaseArgs {
    /** Which colour is live after this update, which slots exist, whether the idle one retires (lib/release.ts). */
    plan: ReleasePlan;
    /** Image and variables per colour; the plan's declared colours must have one. */
    colours: Partial<Record<Colour, ColourSettings>>;
    /** What every slot shares (replicas, port, health, networks, data URLs, limits). */
    slot: SlotDefaults;
    /** The proxy's config step: nothing is gated or routed before it. */
    proxyReady: pulumi.Resource;
    /** How verify reaches the live listener from inside the proxy (Nginx.probe.live). Defaults to its port in the container. */
    proxyProbe?: Record<string, string>;
    /** Webhook for failed steps and rollbacks, secret. Defaults to none: notifications off. */
    webhookUrl?: pulumi.Input<string>;
    /** Maintenance mode asked for by this update. Defaults to false. */
    maintenance?: boolean;
    /** Whether the proxy is in maintenance mode now: turning it off waits for verify. Defaults to false. */
    maintenanceNow?: boolean;
    /** The dump before every switch. Defaults to none (no backup). */
    backup?: ReleaseBackupArgs;
    /** Where the dump runs: the data host's steps, which may be another host's than this release's. Defaults to `steps`. */
    backupSteps?: ReleaseSteps;
    /** The network the migrations' one-off container joins. Defaults to the slots' backend network. */
    migrationNetwork?: pulumi.Input<string>;
    /** Expand (before the re-point) and contract (after retire) migrations, in exec form. Defaults to none. */
    migrations?: { command?: string[]; contractCommand?: string[]; timeoutSeconds?: number };
    /** Consecutive answers from the new colour that verify needs. Defaults to 5. */
    verifyRequests?: number;
    /** After verify, judge the new colour's real traffic for `seconds` (0: no bake step). Defaults to off. */
    bake?: BakeSettings;
    /** Where the bake and the canary read the proxy's record files (nginx/render.ts METRICS_LOG_DIR; the proxy needs `records`). Required with a bake or a canary. */
    recordsDir?: string;
    /** Before the re-point, give the new colour a rising share of new traffic, judged at each step by the bake's thresholds. Defaults to none: the switch moves all traffic at once. */
    canary?: CanarySettings;
    /**
     * With several hosts, the other hosts' proxies (engine/canary-hosts.ts,
     * as JSON): the canary sets each weight there too, and verify and the
     * bake remove those canaries when they send this host back. Defaults to
     * none: the canary splits this host's traffic alone.
     */
    canaryHosts?: string;
    /** With a canary on every host: what it waits for too (every other host's new colour ready). Defaults to nothing. */
    canaryAfter?: Promise<pulumi.Resource[]>;
    /** "retire" stops the old colour after the switch; "keep" keeps it for an instant rollback. Defaults to "retire". */
    standby?: "retire" | "keep";
    /** Makes the command resources (they run docker against the stack's host). */
    steps: ReleaseSteps;
    /**
     * With several hosts: what must pass before this host's re-point (the
     * canary's bake, or the previous batch's verify). Defaults to nothing.
     */
    repointAfter?: pulumi.Resource[];
    /** With several hosts: what the contract migration waits for too (every host's retire). Defaults to nothing. */
    contractAfter?: Promise<pulumi.Resource[]>;
    /** Adopt the parts a Switchyard 0.1 program declared at the stack's root (aliases). Defaults to false. */
    adoptRootResources?: boolean;
    /** Workers and schedulers beside the web process, by name, from each colour's image and variables. Defaults to none. */
    processes?: Record<string, ProcessSpec>;
    /** The live colour's process containers found stopped (lib/heal.ts processHealToken): the processes step starts them again. Defaults to none. */
    processHeal?: string;
}

/**
 * A blue-green release: the slots, then gate and backup (side by side) ->
 * expand -> re-point -> verify -> retire -> contract as command resources, with the notifier and
 * maintenance mode around them. Every step carries the release key (the
 * target colour and its container ids), so the chain runs again exactly when
 * the live colour or its containers change, and not on a no-op update.
 */
export class Release extends pulumi.ComponentResource {
    public readonly slots: Partial<Record<Colour, Slot>>;
    /** Each declared colour's workers and schedulers, when the release has process types. */
    public readonly processes: Partial<Record<Colour, Processes>> = {};
    public readonly gate: command.local.Command;
    /** The last steps before the switch on this host: the gate and the backup, or the expand migration or the processes' start after them. */
    public readonly ready: pulumi.Resource[];
    public readonly repoint: command.local.Command;
    public readonly verify: command.local.Command;
    /** The weighted canary before the re-point, when canary steps are asked for. */
    public readonly canary?: command.local.Command;
    /** The bake after verify, when one is asked for. */
    public readonly bake?: command.local.Command;
    public readonly retire: command.local.Command;
    /** The last check of the new colour: the bake when there is one, else verify. The next hosts wait for it. */
    public readonly promoted: command.local.Command;
    /** The step every output waits for: contract when there is one, else retire. */
    public readonly lastStep: command.local.Command;
    /** The release key every step carries. */
    public readonly key: ReleaseKey;

    constructor(name: string, args: ReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
        const adopt = args.adoptRootResources ?? false;
        // Switchyard 0.1 had a Switch component ("switch") for gate..retire:
        // this component is it, so those steps keep their state.
        super("switchyard:release:Release", name, {}, { ...opts, aliases: adopt ? [{ name: "switch", type: "switchyard:release:Switch", parent: pulumi.rootStackResource }] : [] });
        const { plan } = args;
        for (const colour of plan.declared) {
            if (!args.colours[colour]) throw new pulumi.ResourceError(`colours.${colour}: the plan declares ${colour}, so it needs an image`, this);
        }
        const live = plan.live;
        const retireColour = plan.idleState === "retired" ? plan.idle : undefined;
        const standby = args.standby ?? DEFAULTS.standby;
        const drainSeconds = args.slot.drainSeconds ?? DEFAULTS.drainSeconds;
        const child = (oldName: string): pulumi.ComponentResourceOptions => ({ parent: this, aliases: rootAlias(adopt, oldName) });

        // The notifier runs after the proxy's config, and every step after it, so any failure is reported.
        const notifier = new Notifier(`${name}-notify`, { proxyContainerName: args.slot.proxyContainerName, webhookUrl: args.webhookUrl, proxyReady: args.proxyReady, steps: args.steps }, child("notify"));
        // Maintenance turns on before anything of a release runs, and off only
        // once the new colour is verified (below).
        const turnsOff = (args.maintenanceNow ?? false) && !(args.maintenance ?? false);
        const maintenanceOn = turnsOff
            ? undefined
            : new Maintenance(`${name}-maintenance`, { proxyContainerName: args.slot.proxyContainerName, on: args.maintenance ?? false, after: [notifier.config], steps: args.steps }, child("maintenance"));

        this.slots = {};
        for (const colour of plan.declared) {
            const settings = args.colours[colour]!;
            this.slots[colour] = new Slot(
                `${name}-app-${colour}`,
                { ...args.slot, colour, image: settings.image, pinnedImageId: settings.pinnedImageId, env: settings.env, secretEnv: settings.secretEnv, addresses: settings.addresses, keepValues: settings.keepValues, proxyReady: notifier.config, steps: args.steps },
                child(`app-${colour}`),
            );
        }
        const target = this.slots[live]!;
        const processSpecs = args.processes && Object.keys(args.processes).length > 0 ? args.processes : undefined;
        if (processSpecs) {
            for (const colour of plan.declared) {
                const slot = this.slots[colour]!;
                this.processes[colour] = new Processes(
                    `${name}-processes-${colour}`,
                    {
                        namePrefix: args.slot.namePrefix,
                        stackLabel: args.slot.stackLabel,
                        colour,
                        processes: processSpecs,
                        image: slot.image,
                        imageId: slot.imageId,
                        envs: slot.envs,
                        dataTlsArgs: slot.dataTlsArgs,
                        envLabel: slot.envLabel,
                        secretNames: slot.secretNames,
                        user: args.slot.user,
                        backendNetwork: args.slot.backendNetwork,
                        limits: args.slot.limits,
                        daemon: args.slot.daemon,
                        dataServices: args.slot.dataServices,
                        keepValues: args.colours[colour]!.keepValues,
                    },
                    { parent: this },
                );
            }
        }
        this.key = {
            SWITCHYARD_PROXY: args.slot.proxyContainerName,
            SWITCHYARD_STACK: args.slot.stackLabel,
            SWITCHYARD_COLOR: live,
            ...rerunKey({ TARGET_CONTAINER_IDS: target.containerIds }),
        };
        const key = this.key;

        // dependsOn (every step): the order above is the safety argument.
        // The target whole again first: a replica found stopped is healed before the colour is gated.
        const gateAfter = [args.proxyReady, target.gate, target.heal, notifier.config, ...(maintenanceOn ? [maintenanceOn.toggle] : [])];
        this.gate = args.steps.step(`${name}-gate`, "gate", { ...target.gateEnvironment, ...key }, { parent: this, dependsOn: gateAfter });
        const migrations = args.migrations ?? {};
        const backup = args.backup
            ? new Backup(
                  `${name}-backup`,
                  {
                      ...args.backup,
                      key,
                      // Beside the re-check, not after it: the colour passed its own gate (the slot's),
                      // and nothing that changes the database runs before both are done (issue 30).
                      after: gateAfter,
                      // A migration that runs again (a new command) gets a fresh dump first.
                      migrationFingerprint: migrations.command
                          ? migrationFingerprint(migrations.command, target.image, migrations.timeoutSeconds ?? DEFAULTS.migrationTimeoutSeconds)
                          : undefined,
                      steps: args.backupSteps ?? args.steps,
                  },
                  child("backup"),
              )
            : undefined;
        const migration = (phase: "expand" | "contract", cmd: string[], after: pulumi.Resource[], alsoAfter?: Promise<pulumi.Resource[]>) =>
            new Migration(
                `${name}-migrate-${phase}`,
                {
                    phase,
                    command: cmd,
                    image: target.image,
                    key,
                    after,
                    alsoAfter,
                    backendNetwork: args.migrationNetwork ?? args.slot.backendNetwork,
                    databaseUrl: args.slot.databaseUrl,
                    dataTls: args.slot.dataTls,
                    timeoutSeconds: migrations.timeoutSeconds,
                    steps: args.steps,
                },
                child(`migrate-${phase}`),
            );
        // The re-check and the dump: what the switch (and the expand migration before it) waits for.
        const gatedAndDumped = [this.gate, ...(backup ? [backup.dump] : [])];
        const expand = migrations.command ? migration("expand", migrations.command, gatedAndDumped) : undefined;

        // The new colour's workers and schedulers start before the switch, with the schema the expand made.
        const processInput = processSpecs ? { ...key, PROCESS_SPECS: processSpecLines(processSpecs), TARGET_PROCESS_IDS: this.processes[live]!.containerIds } : undefined;
        const processesStart = processInput
            ? args.steps.step(
                  `${name}-processes`,
                  "processes",
                  { ...processInput, PROCESSES_PHASE: "start", ...(args.processHeal ? { PROCESS_HEAL: args.processHeal } : {}) },
                  // Nothing to heal: the token of the last heal stays in state, so a quiet up is a no-op.
                  { parent: this, dependsOn: [...(expand ? [expand.run] : gatedAndDumped), ...this.processes[live]!.containers], ignoreChanges: args.processHeal ? [] : ["environment.PROCESS_HEAL"] },
              )
            : undefined;
        const ready = (this.ready = processesStart ? [processesStart] : expand ? [expand.run] : gatedAndDumped);
        const canaryHosts: Record<string, string> = args.canaryHosts ? { CANARY_HOSTS: args.canaryHosts } : {};
        const bake: BakeSettings = args.bake ?? DEFAULTS.bake;
        if ((bake.seconds > 0 || args.canary) && !args.recordsDir) {
            throw new pulumi.ResourceError("recordsDir: a bake or a canary reads the proxy's record files; give their directory (and the proxy's records)", this);
        }
        const beforeCanary = [...ready, ...(args.repointAfter ?? [])];
        // With a canary on every host, every host's new colour is gated (and ready) before any host splits.
        const canaryAfter: pulumi.Input<pulumi.Input<pulumi.Resource>[]> = args.canaryAfter ? args.canaryAfter.then((more) => [...beforeCanary, ...more]) : beforeCanary;
        // No step when there are no canary steps: a stack that never asked keeps exactly its resources.
        this.canary = args.canary
            ? args.steps.step(
                  `${name}-canary`,
                  "canary",
                  {
                      ...key,
                      ...(args.proxyProbe?.LIVE_SOCKET ? { LIVE_SOCKET: args.proxyProbe.LIVE_SOCKET } : {}),
                      ...(args.recordsDir ? { RECORDS_DIR: args.recordsDir } : {}),
                      CANARY_STEPS: args.canary.steps.join(","),
                      CANARY_STEP_SECONDS: String(args.canary.stepSeconds),
                      BAKE_MAX_ERROR_PERCENT: String(bake.maxErrorPercent),
                      BAKE_MAX_P99_MS: bake.maxP99Ms === undefined ? "" : String(bake.maxP99Ms),
                      BAKE_MIN_REQUESTS: String(bake.minRequests),
                      ...canaryHosts,
                  },
                  {
                      parent: this,
                      dependsOn: canaryAfter,
                  },
              )
            : undefined;
        this.repoint = args.steps.step(`${name}-repoint`, "repoint", { ...key, STANDBY: standby }, {
            parent: this,
            dependsOn: [...(this.canary ? [this.canary] : ready), ...(args.repointAfter ?? [])],
        });
        this.verify = args.steps.step(
            `${name}-verify`,
            "verify",
            {
                ...key,
                // Verify applies the switch again when a failed verify undid it, as re-point would.
                STANDBY: standby,
                VERIFY_REQUESTS: String(args.verifyRequests ?? DEFAULTS.verifyRequests),
                HEALTH_PATH: args.slot.health.path,
                ...(args.proxyProbe ?? { LIVE_LISTEN_PORT: String(LIVE_LISTEN_PORT) }),
                ...(args.slot.health.host ? { HEALTH_HOST: args.slot.health.host } : {}),
                ...(args.slot.health.forwardedProto === "https" ? { HEALTH_PROTO: "https" } : {}),
                ...canaryHosts,
            },
            { parent: this, dependsOn: [this.repoint] },
        );
        // No step at all when off: a stack that never asked for a bake keeps exactly its resources.
        this.bake =
            bake.seconds > 0
                ? args.steps.step(
                      `${name}-bake`,
                      "bake",
                      {
                          ...key,
                          // Bake, like verify, applies the switch again when a failed bake undid it.
                          STANDBY: standby,
                          // Which records are the proxy's own probes: its socket's (host networking), else 127.0.0.1's.
                          ...(args.proxyProbe?.LIVE_SOCKET ? { LIVE_SOCKET: args.proxyProbe.LIVE_SOCKET } : {}),
                          ...(args.recordsDir ? { RECORDS_DIR: args.recordsDir } : {}),
                          BAKE_SECONDS: String(bake.seconds),
                          BAKE_MAX_ERROR_PERCENT: String(bake.maxErrorPercent),
                          BAKE_MAX_P99_MS: bake.maxP99Ms === undefined ? "" : String(bake.maxP99Ms),
                          BAKE_MIN_REQUESTS: String(bake.minRequests),
                          ...canaryHosts,
                      },
                      { parent: this, dependsOn: [this.verify] },
                  )
                : undefined;
        // Once promoted, the old colour's processes stop (their grace to finish the job in hand) before its web drains.
        const settle = processInput
            ? args.steps.step(`${name}-processes-settle`, "processes", { ...processInput, PROCESSES_PHASE: "settle" }, { parent: this, dependsOn: [this.bake ?? this.verify] })
            : undefined;
        this.retire = args.steps.step(
            `${name}-retire`,
            "retire",
            {
                ...key,
                RETIRE_COLOR: retireColour ?? "",
                DRAIN_SECONDS: String(drainSeconds),
                APP_PORT: String(args.slot.appPort ?? DEFAULTS.appPort),
                STOP_GRACE_SECONDS: String(drainSeconds + 5),
            },
            {
                parent: this,
                dependsOn: [settle ?? this.bake ?? this.verify],
                // Nothing to retire (standby keep, or no colour switched away
                // from): the step would only say so. It keeps the release key
                // it last ran with, so a switch between two running colours
                // updates one step fewer (issue 30: an up near Pulumi's floor).
                // A colour to retire is a change of RETIRE_COLOR: it runs then.
                ...(retireColour ? {} : { ignoreChanges: Object.keys(key).map((k) => `environment.${k}`) }),
            },
        );
        this.promoted = this.bake ?? this.verify;
        // The retired colour's deletes come after this step: their guard reads the route as it ends.
        if (retireColour) args.slot.guard?.afterRetire(this.retire.stdout);
        const contract = migrations.contractCommand ? migration("contract", migrations.contractCommand, [this.retire], args.contractAfter) : undefined;
        if (turnsOff) {
            // After verify, not after the bake: under maintenance no real traffic reaches the colour, so there would be nothing to judge.
            new Maintenance(`${name}-maintenance`, { proxyContainerName: args.slot.proxyContainerName, on: false, after: [this.verify], steps: args.steps }, child("maintenance"));
        }
        this.lastStep = contract?.run ?? this.retire;
        this.registerOutputs({ live, retires: retireColour ?? null, colours: COLOURS.filter((c) => this.slots[c]) });
    }
}
