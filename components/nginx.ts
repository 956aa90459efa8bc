import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { containerOptions, DaemonFacts, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DEFAULTS, urlHost } from "../lib/config";
import { dockerCapabilities } from "../lib/dockerform";
import { DeleteGuard } from "../lib/guard";
import { STATE_DIR } from "../lib/routemarker";
import { Metrics } from "./metrics";
import { RecordKeeper } from "./records";
import { ReleaseSteps, rerunKey } from "../lib/steps";
import {
    ACME_DIR,
    ACME_TLS_FILE,
    CONF_DIR,
    Listeners,
    LIVE_LISTEN_PORT,
    LIVE_SOCKET,
    LIVE_TLS_LISTEN_PORT,
    LIVE_TLS_SOCKET,
    PREVIEW_LISTEN_PORT,
    PREVIEW_TLS_LISTEN_PORT,
    ProxyBehaviour,
    renderNginxConfig,
    Routing,
    TLS_FILES,
} from "../nginx/render";

export interface NginxArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** Image reference; needs sh and curl (the gate probes from inside the proxy). Defaults to "nginx:1.27-bookworm". */
    image?: string;
    /** Host port of the live listener. Defaults to 8080. */
    livePort?: number;
    /** Host port of the preview listener (the idle colour). Defaults to 8081. */
    previewPort?: number;
    /** Host address the live listener binds to. Defaults to "127.0.0.1". */
    bindAddress?: string;
    /**
     * Host address the preview listener binds to. It serves the idle colour
     * (a staged release, or the previous one under standby keep), so it stays
     * on loopback unless the stack publishes it on purpose. Defaults to "127.0.0.1".
     */
    previewBindAddress?: string;
    /** Port the app listens on in every slot. Defaults to 3000. */
    appPort?: number;
    /** Drain time: worker_shutdown_timeout after a reload. Defaults to 15. */
    drainSeconds?: number;
    /** The metrics sidecar (components/metrics.ts): where it serves, its image. Needs hostNetwork. Defaults to none. */
    metrics?: { port: number; bindAddress?: string; image?: string };
    /**
     * Write the access records one file a minute as well, for the bake and the
     * canary to read from a cursor (engine/watch.ts); the metrics sidecar keeps
     * them, or without it a keeper of the proxy's image (components/records.ts).
     * Metrics implies them. Defaults to false.
     */
    records?: boolean;
    /** Split the live listener's traffic by the canary ladder (lib/canary.ts), with the sticky cookie's lifetime. Defaults to no split. */
    canary?: { cookieMaxAgeSeconds: number };
    /** The frontend network, shared with the app slots. */
    frontendNetwork: pulumi.Input<string>;
    /** Memory (MB) and CPU limits. Defaults to 128 MB and 0.5 CPU. */
    limits?: Limits;
    /** Extra nginx directives for the http block: trusted input, `nginx -t` decides. Defaults to none. */
    extraHttpConfig?: string;
    /** Makes the proxy-config command (it runs docker against the stack's host). */
    steps: ReleaseSteps;
    /** What the daemon enforces (swap limits). Defaults to swap limits enforced. */
    daemon?: DaemonFacts;
    /** Refuses replacing the proxy container. Defaults to no guard. */
    guard?: DeleteGuard;
    /** HTTPS listeners beside the plain ones. Defaults to none (plain HTTP only). */
    tls?: ProxyTls;
    /** How nginx finds the replicas: upstreams of fixed addresses, or Docker's DNS. Defaults to DNS (a stack made by 0.2). */
    routing?: Routing;
    /** Body limit, timeouts, buffering, security headers, host names, trusted proxies. Defaults to DEFAULT_PROXY_BEHAVIOUR (nginx/render.ts). */
    behaviour?: Partial<ProxyBehaviour>;
    /**
     * Host networking: nginx binds bindAddress:livePort (and the other listeners)
     * on the host itself and reaches the replicas at their fixed addresses, so no
     * Docker port rule or DNS stands between a client and the app (an engine
     * restart rewrites both). Needs `routing` of upstreams. Defaults to false:
     * ports published by Docker from the frontend network (stacks made by 0.2).
     */
    hostNetwork?: boolean;
}

export interface ProxyTls {
    /** Certificate chain then private key, one PEM text; secret. Required unless `acme`. */
    pem?: pulumi.Input<string>;
    /** sha256 of the certificate: a new certificate runs the tls-config step again. Required with `pem`. */
    fingerprint?: string;
    /**
     * The certificate comes from the ACME sidecar (components/acme.ts), through a
     * volume of its own mounted read-only here. Defaults to false.
     */
    acme?: boolean;
    /** Host port of the live HTTPS listener (on bindAddress). Defaults to 8443. */
    port?: number;
    /** Host port of the preview HTTPS listener (on previewBindAddress). Defaults to 8444. */
    previewPort?: number;
    /** Plain HTTP on the live listener answers 301 to HTTPS. Defaults to false. */
    redirectHttp?: boolean;
}

/**
 * The nginx proxy: a live listener and a preview listener. Its config lives in
 * a volume mounted as a directory (fact 6) and is installed by a command that
 * tests it before it replaces the running one; the route marker and the retire
 * ledger live in a second volume, so they survive a proxy re-creation.
 */
export class Nginx extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** Installs the rendered config: nginx -t, rename, reload, /healthz. */
    public readonly config: command.local.Command;
    public readonly containerName: string;
    public readonly liveUrl: string;
    public readonly previewUrl: string;
    /** https:// URLs of the HTTPS listeners, or undefined without TLS. */
    public readonly liveTlsUrl?: string;
    public readonly previewTlsUrl?: string;
    /** Installs the certificate (no reload); undefined without TLS from config. */
    public readonly tlsConfig?: command.local.Command;
    /** The ACME sidecar's volume (its certificate and HTTP-01 answers); only with tls.acme. */
    public readonly acmeVolume?: docker.Volume;
    /** What a step needs to reach the live listener from inside the proxy: its unix socket (host networking) or its port. */
    public readonly probe: { live: Record<string, string>; liveTls: Record<string, string> };
    /** The metrics sidecar, when asked for. */
    public readonly metrics?: Metrics;
    /** The record files' keeper: with records and without the metrics sidecar. */
    public readonly records?: RecordKeeper;

    constructor(name: string, args: NginxArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:proxy:Nginx", name, {}, opts);
        const livePort = args.livePort ?? DEFAULTS.livePort;
        const previewPort = args.previewPort ?? DEFAULTS.previewPort;
        const bindAddress = args.bindAddress ?? DEFAULTS.bindAddress;
        const previewBindAddress = args.previewBindAddress ?? DEFAULTS.bindAddress;
        if (livePort === previewPort) {
            throw new pulumi.ResourceError(`proxy.previewPort ${previewPort} must differ from proxy.livePort ${livePort}`, this);
        }
        this.containerName = `${args.namePrefix}-proxy`;
        this.liveUrl = `http://${urlHost(bindAddress)}:${livePort}`;
        this.previewUrl = `http://${urlHost(previewBindAddress)}:${previewPort}`;
        const tlsPort = args.tls?.port ?? DEFAULTS.tlsPort;
        const previewTlsPort = args.tls?.previewPort ?? DEFAULTS.previewTlsPort;
        if (args.tls && new Set([livePort, previewPort, tlsPort, previewTlsPort]).size !== 4) {
            throw new pulumi.ResourceError(`proxy ports ${livePort}, ${previewPort}, ${tlsPort} (tlsPort) and ${previewTlsPort} (previewTlsPort) must all differ`, this);
        }
        if (args.tls && (args.tls.acme ? args.tls.pem !== undefined : args.tls.pem === undefined || args.tls.fingerprint === undefined)) {
            throw new pulumi.ResourceError("tls: give either pem and fingerprint (a certificate from config) or acme: true, not both", this);
        }
        const hostNetwork = args.hostNetwork ?? false;
        if (hostNetwork && args.routing?.mode !== "upstreams") throw new pulumi.ResourceError("hostNetwork needs routing of upstreams (fixed addresses): Docker's DNS is not reachable from the host", this);
        if (args.metrics && !hostNetwork) {
            throw new pulumi.ResourceError("metrics: the sidecar runs in the host's network beside the proxy, which needs fixed addresses; this stack was made before them (see the README, Upgrading a stack made by Switchyard 0.2)", this);
        }
        const listeners: Listeners = hostNetwork
            ? {
                  mode: "host",
                  live: { address: bindAddress, port: livePort },
                  preview: { address: previewBindAddress, port: previewPort },
                  ...(args.tls ? { liveTls: { address: bindAddress, port: tlsPort }, previewTls: { address: previewBindAddress, port: previewTlsPort } } : {}),
              }
            : { mode: "bridge" };
        // A step's way in; a stack made by 0.2 keeps its step inputs (the port).
        this.probe = hostNetwork
            ? { live: { LIVE_SOCKET }, liveTls: { LIVE_TLS_SOCKET } }
            : { live: { LIVE_LISTEN_PORT: String(LIVE_LISTEN_PORT) }, liveTls: { LIVE_TLS_LISTEN_PORT: String(LIVE_TLS_LISTEN_PORT) } };
        if (args.tls) {
            this.liveTlsUrl = `https://${urlHost(bindAddress)}:${tlsPort}`;
            this.previewTlsUrl = `https://${urlHost(previewBindAddress)}:${previewTlsPort}`;
        }
        const volumeLabels = [{ label: "switchyard.stack", value: args.stackLabel }];

        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? DEFAULTS.proxyImage, keepLocally: true }, { parent: this });
        const confVolume = new docker.Volume(`${name}-conf`, { name: `${args.namePrefix}-proxy-conf`, labels: volumeLabels }, { parent: this });
        // The route marker and the retire ledger: losing them loses which colour is live.
        const stateVolume = new docker.Volume(
            `${name}-state`,
            { name: `${args.namePrefix}-proxy-state`, labels: volumeLabels },
            { parent: this, hooks: args.guard?.binding("volume") },
        );

        // Mounted read-only: the proxy reads the certificate and the HTTP-01 answers, only the sidecar writes them.
        if (args.tls?.acme) {
            this.acmeVolume = new docker.Volume(`${name}-acme`, { name: `${args.namePrefix}-proxy-acme`, labels: volumeLabels }, { parent: this, hooks: args.guard?.binding("volume") });
        }

        this.container = new docker.Container(
            `${name}-container`,
            {
                name: this.containerName,
                image: image.imageId,
                // nginx starts once the config command has installed a tested config; a
                // socket file left by a killed nginx would stop it from binding again.
                command: ["sh", "-c", `${hostNetwork ? "rm -f /run/switchyard-*.sock; " : ""}until [ -f ${CONF_DIR}/nginx.conf ]; do sleep 0.2; done; exec nginx -c ${CONF_DIR}/nginx.conf -g 'daemon off;'`],
                mounts: [
                    { type: "volume", source: confVolume.name, target: CONF_DIR },
                    { type: "volume", source: stateVolume.name, target: STATE_DIR },
                    ...(this.acmeVolume ? [{ type: "volume", source: this.acmeVolume.name, target: ACME_DIR, readOnly: true }] : []),
                ],
                ...(hostNetwork
                    ? {
                          // Ordered after the frontend network though it does not join it: when a 0.2 stack moves
                          // to fixed addresses its networks are re-created, and without this dependency Pulumi
                          // created the new proxy before the old one (on the old network) was gone (name conflict).
                          networkMode: pulumi.output(args.frontendNetwork).apply(() => "host"),
                          // In the host's network a packet socket would see the host's traffic: only what nginx and
                          // the steps need (bind ports below 1024, become nobody, signal its workers, own its temp
                          // directories; as root, replace a certificate file the workers own).
                          capabilities: { drops: ["ALL"], adds: dockerCapabilities(["CHOWN", "DAC_OVERRIDE", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID"]) },
                          securityOpts: ["no-new-privileges:true"],
                          healthcheck: healthcheck(`curl -fsS -o /dev/null --unix-socket ${LIVE_SOCKET} http://localhost/healthz || exit 1`, 5, 3, 3, 10),
                      }
                    : {
                          ports: [
                              { internal: LIVE_LISTEN_PORT, external: livePort, ip: bindAddress },
                              { internal: PREVIEW_LISTEN_PORT, external: previewPort, ip: previewBindAddress },
                              // Published only with TLS: turning TLS on later re-creates the proxy once.
                              ...(args.tls
                                  ? [
                                        { internal: LIVE_TLS_LISTEN_PORT, external: tlsPort, ip: bindAddress },
                                        { internal: PREVIEW_TLS_LISTEN_PORT, external: previewTlsPort, ip: previewBindAddress },
                                    ]
                                  : []),
                          ],
                          networksAdvanced: [{ name: args.frontendNetwork }],
                          healthcheck: healthcheck(`curl -fsS -o /dev/null http://127.0.0.1:${LIVE_LISTEN_PORT}/healthz || exit 1`, 5, 3, 3, 10),
                      }),
                // SIGQUIT is nginx's graceful stop: in-flight requests finish first.
                stopSignal: "SIGQUIT",
                labels: dockerLabels({ stack: args.stackLabel, role: "proxy" }),
                ...lifecycleArgs((args.drainSeconds ?? DEFAULTS.drainSeconds) + 5),
                ...limitArgs(args.limits ?? DEFAULTS.limits.proxy, args.daemon ?? { swapLimit: true }),
            },
            containerOptions({ parent: this, hooks: args.guard?.binding("proxy") }),
        );

        if (args.metrics && args.routing?.mode === "upstreams") {
            this.metrics = new Metrics(
                `${name}-metrics`,
                {
                    namePrefix: args.namePrefix,
                    stackLabel: args.stackLabel,
                    image: args.metrics.image,
                    port: args.metrics.port,
                    bindAddress: args.metrics.bindAddress,
                    stateVolume: stateVolume.name,
                    upstreams: args.routing.addresses,
                    appPort: args.appPort ?? DEFAULTS.appPort,
                    daemon: args.daemon,
                    guard: args.guard,
                },
                { parent: this },
            );
        }
        if (args.records && !this.metrics) {
            this.records = new RecordKeeper(
                `${name}-records`,
                { namePrefix: args.namePrefix, stackLabel: args.stackLabel, image: image.imageId, stateVolume: stateVolume.name, daemon: args.daemon },
                { parent: this },
            );
        }
        // The sidecar that makes the records' directory, which nginx writes from its config on.
        const keeper = this.metrics?.container ?? this.records?.container;
        const rendered = renderNginxConfig({
            appPort: args.appPort ?? DEFAULTS.appPort,
            drainSeconds: args.drainSeconds ?? DEFAULTS.drainSeconds,
            extraHttpConfig: args.extraHttpConfig,
            routing: args.routing,
            listeners,
            behaviour: args.behaviour,
            tls: args.tls ? { redirectHttp: args.tls.redirectHttp ?? false, publicPort: tlsPort, file: args.tls.acme ? ACME_TLS_FILE : undefined } : undefined,
            acme: args.tls?.acme ?? false,
            canary: args.canary,
            metrics: args.metrics !== undefined,
            records: args.records ?? false,
        });
        this.config = args.steps.step(
            `${name}-config`,
            "proxy-config",
            {
                SWITCHYARD_PROXY: this.containerName,
                ...this.probe.live,
                ...rerunKey({ CONFIG_SHA: sha256(rendered), PROXY_CONTAINER_ID: this.container.id }),
            },
            { parent: this, ...(keeper ? { dependsOn: [keeper] } : {}) },
            rendered,
        );
        if (args.tls?.pem) {
            this.tlsConfig = args.steps.step(
                `${name}-tls`,
                "tls-config",
                {
                    SWITCHYARD_PROXY: this.containerName,
                    TLS_PEM: pulumi.secret(args.tls.pem),
                    TLS_FINGERPRINT: args.tls.fingerprint!,
                    TLS_FILES: `${TLS_FILES.even} ${TLS_FILES.odd}`,
                    ...this.probe.liveTls,
                    ...rerunKey({ PROXY_CONTAINER_ID: this.container.id }),
                },
                // dependsOn: the HTTPS listeners exist once the config is installed.
                { parent: this, dependsOn: [this.config] },
            );
        }
        this.registerOutputs({ liveUrl: this.liveUrl, previewUrl: this.previewUrl, liveTlsUrl: this.liveTlsUrl, previewTlsUrl: this.previewTlsUrl, container: this.containerName });
    }
}

function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
