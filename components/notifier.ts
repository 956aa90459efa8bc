import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ReleaseSteps } from "../lib/steps";

export interface NotifierArgs {
    /** The proxy container whose state volume keeps the URL. */
    proxyContainerName: string;
    /** Webhook for failed steps and rollbacks, secret (Slack-compatible). Defaults to none: notifications off. */
    webhookUrl?: pulumi.Input<string>;
    /** The proxy's config step: the state volume is there once it ran. */
    proxyReady: pulumi.Resource;
    /** Makes the command resource. */
    steps: ReleaseSteps;
}

/**
 * Hands the webhook URL to the release steps: stored in the proxy's state
 * volume (scripts/release/notify-config.sh), so the steps' own inputs never
 * hold the secret and a changed URL runs this step alone, not a release.
 */
export class Notifier extends pulumi.ComponentResource {
    public readonly config: command.local.Command;

    constructor(name: string, args: NotifierArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:release:Notifier", name, {}, opts);
        this.config = args.steps.step(
            `${name}-config`,
            "notify-config",
            { SWITCHYARD_PROXY: args.proxyContainerName, NOTIFY_WEBHOOK_URL: pulumi.secret(args.webhookUrl ?? "") },
            { parent: this, dependsOn: [args.proxyReady] },
        );
        this.registerOutputs({ enabled: args.webhookUrl !== undefined });
    }
}
