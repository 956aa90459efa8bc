// The proxy's metrics sidecar: engine/metrics-exporter.ts on a plain Node
// image, in the host's network beside the proxy (fixed addresses), with the
// proxy's state volume, where nginx writes its access records one file a
// minute. It serves Prometheus's text at bindAddress:port/metrics.
//
// A sidecar, not nginx itself: nginx can count nothing by colour without a
// module the Debian and official images differ on, and a release must never
// restart the proxy. The sidecar can be added, changed or removed without
// touching the proxy's container.
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerOptions, DaemonFacts, dockerLabels, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { Colour, DEFAULTS } from "../lib/config";
import { dockerCapabilities } from "../lib/dockerform";
import { DeleteGuard } from "../lib/guard";
import { packageFile } from "../lib/package";
import { CANARY_PREFIX, ROUTE_MARKER, STATE_DIR } from "../lib/routemarker";
import { METRICS_LOG_DIR, WORKER_UID } from "../nginx/render";

/** Where the program lands in the container. */
const PROGRAM_PATH = "/switchyard/metrics-exporter.js";

export interface MetricsArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** Any image with node 18 or later. Defaults to "node:20-bookworm-slim". */
    image?: string;
    /** The port /metrics is served on. */
    port: number;
    /** The address it binds. Defaults to 127.0.0.1. */
    bindAddress?: string;
    /** The proxy's state volume (Nginx.stateVolume): the access records and the markers. */
    stateVolume: pulumi.Input<string>;
    /** Each colour's replica addresses and the app's port: the open upstream connections are counted by colour. */
    upstreams: Record<Colour, string[]>;
    appPort: number;
    /** Memory (MB) and CPU. Defaults to 96 MB and 0.25 CPU. */
    limits?: Limits;
    daemon?: DaemonFacts;
    guard?: DeleteGuard;
}

export class Metrics extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** Where Prometheus scrapes it. */
    public readonly url: string;

    constructor(name: string, args: MetricsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:proxy:Metrics", name, {}, opts);
        // The compiled exporter, one file of Node's own modules (npm run build:program makes it).
        const program = fs.readFileSync(packageFile("dist", "engine", "metrics-exporter.js"), "utf8");
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? DEFAULTS.metricsImage, keepLocally: true }, { parent: this });
        const address = args.bindAddress ?? DEFAULTS.bindAddress;
        const upstreams = (["blue", "green"] as const).map((c) => `${c}=${args.upstreams[c].map((ip) => `${ip}:${args.appPort}`).join(",")}`).join(" ");
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-metrics`,
                image: image.imageId,
                command: ["node", PROGRAM_PATH],
                uploads: [{ file: PROGRAM_PATH, content: program }],
                envs: [
                    `METRICS_ADDRESS=${address}`,
                    `METRICS_PORT=${args.port}`,
                    `LOG_DIR=${METRICS_LOG_DIR}`,
                    `STATE_DIR=${STATE_DIR}`,
                    `ROUTE_MARKER=${ROUTE_MARKER}`,
                    `CANARY_PREFIX=${CANARY_PREFIX}`,
                    `WORKER_UID=${WORKER_UID}`,
                    `UPSTREAMS=${upstreams}`,
                ],
                mounts: [{ type: "volume", source: args.stateVolume, target: STATE_DIR }],
                // The host's network, as the proxy's: its port binds there, and /proc/net/tcp is the proxy's.
                networkMode: "host",
                // Root in group root reads and removes the records nginx's workers write (a directory of theirs, group root); CHOWN makes it so.
                capabilities: { drops: ["ALL"], adds: dockerCapabilities(["CHOWN"]) },
                securityOpts: ["no-new-privileges:true"],
                labels: dockerLabels({ stack: args.stackLabel, role: "metrics" }),
                ...lifecycleArgs(5),
                ...limitArgs(args.limits ?? { memoryMb: 96, cpus: 0.25 }, args.daemon ?? { swapLimit: true }),
            },
            containerOptions({ parent: this }),
        );
        this.url = `http://${address.includes(":") ? `[${address}]` : address}:${args.port}/metrics`;
        this.registerOutputs({ container: this.container.name, url: this.url });
    }
}
