import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { Colour } from "../lib/config";
import { ReleaseSteps } from "../lib/steps";
import { LIVE_LISTEN_PORT } from "../nginx/render";
import { Slot } from "./slot";

export interface SwitchArgs {
    /** Value of the switchyard.stack label; retire finds the old colour by it. */
    stackLabel: string;
    /** The slot that must be live after this update. */
    target: Slot;
    /**
     * Colour to drain and stop after the switch, or undefined when none: the
     * idle colour under standby "retire" once it has been switched away from.
     */
    retireColour?: Colour;
    /** Proxy container that holds the route marker. */
    proxyContainerName: string;
    /** The proxy's config step: nothing is routed before it. */
    proxyReady: pulumi.Resource;
    /** Health path verify requests on the live listener. Defaults to "/health". */
    healthPath?: string;
    /** Consecutive answers from the target that verify needs. Defaults to 5. */
    verifyRequests?: number;
    /** Longest wait for in-flight requests to the old colour. Defaults to 15. */
    drainSeconds?: number;
    /** Port the app listens on (retire counts connections to it). Defaults to 3000. */
    appPort?: number;
    /** "retire" records the old colour in the retire ledger; "keep" does not. Defaults to "retire". */
    standby?: "retire" | "keep";
    /** Makes the command resources (they run docker against the stack's host). */
    steps: ReleaseSteps;
    /** Steps that must finish before the gate (the notifier, maintenance turning on). Defaults to none. */
    before?: pulumi.Resource[];
    /**
     * Steps between the gate and the re-point (backup, expand migration),
     * given the gate and the release key; the re-point waits for what it
     * returns. Defaults to none.
     */
    beforeRepoint?: (gate: pulumi.Resource, key: ReleaseKey) => pulumi.Resource;
}

/** The inputs that make a release: when any changes, every release step runs again. */
export type ReleaseKey = Record<string, pulumi.Input<string>>;

/**
 * gate -> [before re-point: backup, expand migration] -> re-point -> verify
 * -> retire, as command resources chained by dependsOn. Every step carries the target colour and its container ids, so
 * all four run again exactly when the live colour or its containers change,
 * and none runs on an update that changes neither.
 */
export class Switch extends pulumi.ComponentResource {
    public readonly gate: command.local.Command;
    public readonly repoint: command.local.Command;
    public readonly verify: command.local.Command;
    public readonly retire: command.local.Command;
    /** The release key every step carries (steps outside this component carry it too). */
    public readonly key: ReleaseKey;

    constructor(name: string, args: SwitchArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:release:Switch", name, {}, opts);
        const target = args.target.colour;
        if (args.retireColour === target) {
            throw new pulumi.ResourceError(`cannot retire ${target}: it is the colour going live`, this);
        }
        const drainSeconds = args.drainSeconds ?? 15;
        // The release key: any change to it runs every step again.
        const key: ReleaseKey = {
            SWITCHYARD_PROXY: args.proxyContainerName,
            SWITCHYARD_STACK: args.stackLabel,
            SWITCHYARD_COLOR: target,
            TARGET_CONTAINER_IDS: args.target.containerIds,
        };
        this.key = key;

        // dependsOn (each step): the order is the safety argument — nothing is
        // re-pointed before the gate, verified before the re-point, retired before verify.
        this.gate = args.steps.step(`${name}-gate`, "gate", { ...args.target.gateEnvironment, ...key }, {
            parent: this,
            dependsOn: [args.proxyReady, args.target.gate, ...(args.before ?? [])],
        });
        const ready = args.beforeRepoint ? args.beforeRepoint(this.gate, key) : this.gate;
        this.repoint = args.steps.step(`${name}-repoint`, "repoint", { ...key, STANDBY: args.standby ?? "retire" }, {
            parent: this,
            dependsOn: [ready],
        });
        this.verify = args.steps.step(
            `${name}-verify`,
            "verify",
            {
                ...key,
                // Verify applies the switch again when a failed verify undid it, as re-point would.
                STANDBY: args.standby ?? "retire",
                VERIFY_REQUESTS: String(args.verifyRequests ?? 5),
                HEALTH_PATH: args.healthPath ?? "/health",
                LIVE_LISTEN_PORT: String(LIVE_LISTEN_PORT),
            },
            { parent: this, dependsOn: [this.repoint] },
        );
        this.retire = args.steps.step(
            `${name}-retire`,
            "retire",
            {
                ...key,
                RETIRE_COLOR: args.retireColour ?? "",
                DRAIN_SECONDS: String(drainSeconds),
                APP_PORT: String(args.appPort ?? 3000),
                STOP_GRACE_SECONDS: String(drainSeconds + 5),
            },
            { parent: this, dependsOn: [this.verify] },
        );
        this.registerOutputs({ live: target, retires: args.retireColour ?? null });
    }
}
