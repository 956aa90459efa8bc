// The keeper of the proxy's record files, for a stack with a bake or a canary
// and no metrics sidecar: nginx writes its access records one file a minute
// (nginx/render.ts renderMetricsLog), the bake and the canary read them from a
// cursor (engine/watch.ts), and this removes the files nobody writes any more,
// so they never grow. With metrics, the metrics sidecar keeps them instead.
//
// The proxy's own image and a shell loop: the image is on every engine that
// runs the proxy already (a stack with a bake needs no Node image), and a
// release never restarts the proxy, so the loop cannot run inside it. No
// network, no capability but CHOWN (it makes the directory the workers write).
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerOptions, DaemonFacts, dockerLabels, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { dockerCapabilities } from "../lib/dockerform";
import { STATE_DIR } from "../lib/routemarker";
import { KEEP_MINUTES, KEEP_RECORDS } from "../lib/records";
import { METRICS_LOG_DIR, WORKER_UID } from "../nginx/render";

export interface RecordKeeperArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** The proxy's image (its id): any image with sh, find and stat. */
    image: pulumi.Input<string>;
    /** The proxy's state volume (Nginx.stateVolume), where nginx writes the files. */
    stateVolume: pulumi.Input<string>;
    /** Seconds between two sweeps. Defaults to 30. */
    intervalSeconds?: number;
    /** Memory (MB) and CPU. Defaults to 16 MB and 0.05 CPU. */
    limits?: Limits;
    daemon?: DaemonFacts;
}

export class RecordKeeper extends pulumi.ComponentResource {
    public readonly container: docker.Container;

    constructor(name: string, args: RecordKeeperArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:proxy:RecordKeeper", name, {}, opts);
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-records`,
                image: args.image,
                command: ["sh", "-c", KEEP_RECORDS, "sh", METRICS_LOG_DIR, String(WORKER_UID), String(KEEP_MINUTES), String(args.intervalSeconds ?? 30)],
                mounts: [{ type: "volume", source: args.stateVolume, target: STATE_DIR }],
                networkMode: "none",
                // Root in group root removes what the workers write (their directory, group root); CHOWN makes it so.
                capabilities: { drops: ["ALL"], adds: dockerCapabilities(["CHOWN"]) },
                securityOpts: ["no-new-privileges:true"],
                labels: dockerLabels({ stack: args.stackLabel, role: "records" }),
                ...lifecycleArgs(5),
                ...limitArgs(args.limits ?? { memoryMb: 16, cpus: 0.05 }, args.daemon ?? { swapLimit: true }),
            },
            containerOptions({ parent: this }),
        );
        this.registerOutputs({ container: this.container.name });
    }
}
