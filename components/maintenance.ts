import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ReleaseSteps } from "../lib/steps";

export interface MaintenanceArgs {
    /** The proxy container that holds the maintenance marker. */
    proxyContainerName: string;
    /** Whether the live listener answers 503 "down for maintenance". */
    on: boolean;
    /** Steps it waits for: the proxy's config, or verify when it turns off after a switch. */
    after: pulumi.Resource[];
    /** Makes the command resource. */
    steps: ReleaseSteps;
}

/**
 * Maintenance mode as a marker in the proxy's state volume, read per request
 * (scripts/release/maintenance.sh): no reload, in-flight requests finish. The
 * command runs when `on` changes, so a no-op update leaves it alone.
 */
export class Maintenance extends pulumi.ComponentResource {
    public readonly toggle: command.local.Command;

    constructor(name: string, args: MaintenanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:release:Maintenance", name, {}, opts);
        this.toggle = args.steps.step(
            `${name}-toggle`,
            "maintenance",
            { SWITCHYARD_PROXY: args.proxyContainerName, MAINTENANCE: args.on ? "on" : "off" },
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({ on: args.on });
    }
}
