// HTTPS that renews itself: a sidecar container runs certbot (the EFF's ACME
// client) in a loop (scripts/acme/renew.py). It obtains the certificate with
// HTTP-01, answering the CA's requests through the proxy's live listener (the
// proxy serves its webroot), and renews it once two thirds of its lifetime
// have passed. A renewed certificate replaces the proxy's file by a rename, and
// nginx reads the file at each handshake: no `pulumi up`, no reload. A failed
// attempt is retried every checkSeconds and reported to the stack's webhook
// (the first of a run of failures, then hourly); the certificate in place
// keeps serving meanwhile.
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { containerOptions, DaemonFacts, dockerLabels, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DEFAULTS } from "../lib/config";
import { dockerCapabilities } from "../lib/dockerform";
import { DeleteGuard } from "../lib/guard";
import { packageFile } from "../lib/package";
import { ReleaseSteps } from "../lib/steps";
import { ACME_TLS_FILE, WORKER_UID } from "../nginx/render";

/** Where the sidecar mounts the volume it shares with the proxy, and its own state (scripts/acme/renew.py's OUT and STATE). */
const OUT_DIR = "/acme-out";
const STATE_DIR = "/acme-state";

/** The sidecar's program, run by the image's python3 (it ships with certbot). */
export const ACME_PROGRAM = fs.readFileSync(packageFile("scripts", "acme", "renew.py"), "utf8");

export interface AcmeArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** An image with certbot and python3. Defaults to "certbot/certbot:v2.11.0". */
    image?: string;
    /** The ACME account's e-mail. */
    email: string;
    /** The names on the certificate; each must reach this host's live listener on port 80. */
    hostnames: string[];
    /** The CA's directory. Defaults to Let's Encrypt's production directory. */
    directoryUrl?: string;
    /** A PEM CA the directory's own HTTPS is checked against (a private CA). Defaults to the image's trust store. */
    caCertificate?: string;
    /** External account binding: key id and HMAC key (secret). Defaults to none. */
    eab?: { kid: string; hmacKey: pulumi.Input<string> };
    /** Seconds between checks (and retries of a failed renewal). Defaults to 3600. */
    checkSeconds?: number;
    /** The proxy's ACME volume (Nginx.acmeVolume): the certificate and the HTTP-01 answers. */
    volume: pulumi.Input<string>;
    /** A network with a route out to the CA; unused with hostNetwork. */
    network: pulumi.Input<string>;
    /**
     * Run in the host's network, as the proxy does on a stack with fixed
     * addresses: the CA and the webhook are reached as from the host itself.
     * Defaults to false (the `network`).
     */
    hostNetwork?: boolean;
    /** The proxy container; the ready step checks HTTPS from inside it. */
    proxyContainerName: string;
    /** The proxy's config step: the webroot must be served before the first order. */
    proxyReady: pulumi.Resource;
    /** How a step reaches the proxy's HTTPS listener from inside it (Nginx.probe.liveTls). */
    tlsProbe: Record<string, string>;
    /** The stack's webhook for failed renewals (secret). Defaults to none. */
    webhookUrl?: pulumi.Input<string>;
    /** Memory (MB) and CPU. Defaults to 64 MB and 0.25 CPU. */
    limits?: Limits;
    steps: ReleaseSteps;
    daemon?: DaemonFacts;
    guard?: DeleteGuard;
}

/** The ACME sidecar, its state volume, and a step that waits for the first certificate. */
export class Acme extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** Passes once the proxy answers HTTPS with the sidecar's certificate. */
    public readonly ready: command.local.Command;

    constructor(name: string, args: AcmeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:proxy:Acme", name, {}, opts);
        if (args.hostnames.length === 0) throw new pulumi.ResourceError("hostnames: the certificate needs at least one name", this);
        const labels = [{ label: "switchyard.stack", value: args.stackLabel }];
        // The account key and every certificate certbot holds: this container's alone.
        const state = new docker.Volume(`${name}-state`, { name: `${args.namePrefix}-acme-state`, labels }, { parent: this, hooks: args.guard?.binding("volume") });
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? DEFAULTS.acmeImage, keepLocally: true }, { parent: this });
        const env = pulumi
            .all([pulumi.output(args.webhookUrl ?? ""), pulumi.output(args.eab?.hmacKey ?? "")])
            .apply(([webhook, hmac]) => [
                `SWITCHYARD_STACK=${args.stackLabel}`,
                `SWITCHYARD_ACME_EMAIL=${args.email}`,
                `SWITCHYARD_ACME_DOMAINS=${args.hostnames.join(" ")}`,
                `SWITCHYARD_ACME_SERVER=${args.directoryUrl ?? DEFAULTS.acmeDirectoryUrl}`,
                `SWITCHYARD_ACME_CHECK_SECONDS=${args.checkSeconds ?? DEFAULTS.acmeCheckSeconds}`,
                ...(args.caCertificate ? [`SWITCHYARD_ACME_CA=${args.caCertificate}`] : []),
                ...(webhook ? [`SWITCHYARD_NOTIFY_URL=${webhook}`] : []),
                `SWITCHYARD_WORKER_UID=${WORKER_UID}`,
                ...(args.eab ? [`SWITCHYARD_ACME_EAB_KID=${args.eab.kid}`, `SWITCHYARD_ACME_EAB_HMAC=${hmac}`] : []),
            ]);
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-acme`,
                image: image.imageId,
                entrypoints: ["python3", "-c"],
                command: [ACME_PROGRAM],
                // Secret as a whole: the webhook URL and the EAB key are in it.
                envs: pulumi.secret(env),
                mounts: [
                    { type: "volume", source: args.volume, target: OUT_DIR },
                    { type: "volume", source: state.name, target: STATE_DIR },
                ],
                ...(args.hostNetwork ? { networkMode: "host" } : { networksAdvanced: [{ name: args.network }] }),
                // Root in its own container, for chown of the proxy's certificate file and nothing else.
                capabilities: { drops: ["ALL"], adds: dockerCapabilities(["CHOWN"]) },
                securityOpts: ["no-new-privileges:true"],
                labels: dockerLabels({ stack: args.stackLabel, role: "acme" }),
                ...lifecycleArgs(5),
                ...limitArgs(args.limits ?? { memoryMb: 64, cpus: 0.25 }, args.daemon ?? { swapLimit: true }),
            },
            // dependsOn: the proxy must answer the CA's HTTP-01 requests before the first order.
            containerOptions({ parent: this, dependsOn: [args.proxyReady] }),
        );
        this.ready = args.steps.step(
            `${name}-ready`,
            "acme-ready",
            {
                SWITCHYARD_PROXY: args.proxyContainerName,
                ACME_CONTAINER: `${args.namePrefix}-acme`,
                ACME_CONTAINER_ID: this.container.id,
                ACME_TLS_FILE,
                ACME_NAMES: args.hostnames.join(" "),
                ...args.tlsProbe,
            },
            { parent: this, dependsOn: [this.container] },
        );
        this.registerOutputs({ container: this.container.name, hostnames: args.hostnames });
    }
}
