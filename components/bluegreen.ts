// A blue-green app on one Docker host: the shared services, the proxy and a
// release (components/release.ts), from settings with the stack config's
// schema. Read before anything is declared: the settings (every problem in one
// message) and what the host runs now, which decides the release plan.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { Addressing, colourAddresses, postgresAddress, redisAddress } from "../lib/addressing";
import { acmeHostnames, checkSettings, Colour, COLOURS, ConfigError, healthHost, healthProto, SwitchyardConfig, SwitchyardSettings } from "../lib/config";
import { cookieMaxAgeSeconds } from "../lib/canary";
import { rolloutBatches } from "../lib/hosts";
import { ALLOW_ENV, DeleteGuard, parseAllowList } from "../lib/guard";
import { processHealToken } from "../lib/heal";
import { liveRoute } from "../lib/host";
import { postgresServer } from "../lib/dataservice";
import { rootAlias } from "../lib/aliases";
import { colourValues, describePlan, describeProcesses, pinnedImageId, valuesSource } from "../lib/release";
import { ReleaseSteps, rerunKey } from "../lib/steps";
import { certificateFromOutput, clearDataWarning, keepsClearData } from "../lib/datatls";
import { proxyBehaviour, recordFiles, routingOf } from "../lib/proxy";
import { refusedAs } from "../lib/stackconfig";
import { combinedPem, materialProblems, tlsFacts } from "../lib/tls";
import { Acme } from "./acme";
import { Backups } from "./backups";
import { dataEgressWarning, keepsDataEgress, Networks } from "./networks";
import { Nginx } from "./nginx";
import { METRICS_LOG_DIR } from "../nginx/render";
import { keepsShellHealthcheck, keepsSuperuserApp, Postgres, shellHealthcheckWarning, superuserAppWarning } from "./postgres";
import { keepsRootRedis, Redis, rootRedisWarning } from "./redis";
import { Release, ReleaseBackupArgs } from "./release";
import { ReleasedValues } from "./releasedvalues";
import { Discovery, discoverHosts, HostTarget } from "./discovery";

type Settings = SwitchyardSettings;

/**
 * The args: the `switchyard:` stack config's keys, the same schema (README,
 * "Config", has every nested key). Secret ones (postgresPassword,
 * redisPassword, registryPassword, slotSecrets, tls, notify) are marked
 * secret before they reach any resource.
 */
export interface BlueGreenAppArgs {
    /** `local`, `staging` or `production` (pinned images, protected data, backups required). Defaults to "local". */
    environment?: Settings["environment"];
    /** The colour on the live listener after this update: "blue" or "green". */
    liveColor: Settings["liveColor"];
    /** Image and plain variables per colour; the live colour needs an image. */
    slots: Settings["slots"];
    /** The app's secret variables per colour. Defaults to none. */
    slotSecrets?: Settings["slotSecrets"];
    /** The app's plain variables for both colours; slots.<colour>.env overrides them. Defaults to none. */
    env?: Settings["env"];
    /** The app's secret variables for both colours; slotSecrets.<colour> overrides them. Defaults to none. */
    appSecrets?: Settings["appSecrets"];
    /** Workers and schedulers beside the web process, by name: kind, command (exec form), replicas, stopGraceSeconds, healthCommand, limits. On the first host. Defaults to none. */
    processes?: Settings["processes"];
    /** Containers per colour (1-20). Defaults to 2. */
    replicas?: Settings["replicas"];
    /** After a switch: "retire" stops the old colour, "keep" keeps it for an instant rollback. Defaults to "retire". */
    standby?: Settings["standby"];
    /** Port the app listens on. Defaults to 3000. */
    appPort?: Settings["appPort"];
    /** uid[:gid] or user name the app runs as. Defaults to the image's USER. */
    appUser?: Settings["appUser"];
    /** Gate and health probing: path, port, interval, timeout, threshold, opt-in command. Defaults to /health, 2 s, 60 s, 3. */
    health?: Settings["health"];
    /** Consecutive answers from the new colour verify needs. Defaults to 5. */
    verifyRequests?: Settings["verifyRequests"];
    /** After verify, judge the new colour's real traffic: seconds (0 = off), maxErrorPercent, maxP99Ms, minRequests. Defaults to off, 1 %, not judged, 50. */
    bake?: Settings["bake"];
    /** Before the switch, the new colour's share of new traffic at each step (percent, rising) and each step's window, judged with bake's thresholds. Defaults to none: all traffic moves at once. */
    canary?: Settings["canary"];
    /** The proxy's figures for Prometheus from a sidecar: port, bindAddress, public, image. Defaults to none. */
    metrics?: Settings["metrics"];
    /** Longest wait for in-flight requests to the old colour (0-600 s). Defaults to 15. */
    drainSeconds?: Settings["drainSeconds"];
    /** The nginx proxy: image, ports, bind addresses, TLS ports, extra http config. Defaults to 127.0.0.1:8080 live, :8081 preview. */
    proxy?: Settings["proxy"];
    /** Shared Postgres: image, database, user. Defaults to postgres:16-bookworm, app, app. */
    postgres?: Settings["postgres"];
    /** Shared Redis: image. Defaults to redis:7-bookworm. */
    redis?: Settings["redis"];
    /** Memory and CPU per container kind. Defaults to 256 MB/0.5 (app), 128/0.5 (proxy), 512/1 (Postgres), 128/0.5 (Redis). */
    limits?: Settings["limits"];
    /** The dump before every switch: enabled, keep, hostDir. Defaults to on, 10 kept, a volume. */
    backups?: Settings["backups"];
    /** Expand and contract migrations in exec form, and their timeout. Defaults to none, 600 s. */
    migrations?: Settings["migrations"];
    /** The live listener answers 503 "down for maintenance". Defaults to false. */
    maintenance?: Settings["maintenance"];
    /** Webhook for failed steps and rollbacks (secret). Defaults to none. */
    notify?: Settings["notify"];
    /** A private registry for the slot images: server and username. Defaults to none. */
    registry?: Settings["registry"];
    /** The private registry's password (secret); required with registry. */
    registryPassword?: Settings["registryPassword"];
    /** Certificate chain and key (PEM, secret) for the HTTPS listeners. Defaults to none: HTTP only. */
    tls?: Settings["tls"];
    /** Docker hosts in release order: the first is the canary; the first or data.host runs Postgres and Redis. Defaults to one host, `dockerHost`. */
    hosts?: Settings["hosts"];
    /** Each tcp:// host's client TLS material (CA, certificate, key; PEM, secret), by host name. Required for every tcp:// host. */
    hostsTls?: Settings["hostsTls"];
    /** Which host runs Postgres and Redis (host; defaults to the first) and where the others reach them: address and ports. Required with two or more hosts. */
    data?: Settings["data"];
    /** How the hosts after the canary follow: batchSize at a time. Defaults to 1. */
    rollout?: Settings["rollout"];
    /** A managed Postgres (secret URL): no Postgres container; the app, backups and migrations use it. Defaults to none. */
    postgresUrl?: Settings["postgresUrl"];
    /** Where new networks' fixed addresses come from: pool (an IPv4 CIDR). Defaults to 172.30.0.0/16. */
    network?: Settings["network"];
    /** HTTPS certificates from an ACME CA, renewed by a sidecar: email, hostnames, directoryUrl, caCertificate, eabKid, image, checkSeconds. Defaults to none. */
    acme?: Settings["acme"];
    /** External account binding's HMAC key for acme (secret). Defaults to none. */
    acmeEabHmacKey?: Settings["acmeEabHmacKey"];
    /** A managed Redis (secret URL): no Redis container. Defaults to none. */
    redisUrl?: Settings["redisUrl"];
    /** The app role's Postgres password (secret, 16+ characters). Defaults to a generated one. */
    postgresPassword?: Settings["postgresPassword"];
    /** Redis's password (secret, 16+ characters). Defaults to a generated one. */
    redisPassword?: Settings["redisPassword"];
    /**
     * The Docker host to deploy to: unix://, tcp:// or ssh://. Defaults to
     * DOCKER_HOST, then the docker CLI's current context, then the local socket.
     */
    dockerHost?: string;
    /**
     * Adopt the parts a Switchyard 0.1 program declared at the stack's root,
     * by alias, so a stack it made upgrades with nothing replaced or deleted.
     * Defaults to false.
     */
    adoptRootResources?: boolean;
}

// The args hold exactly the config's keys: this fails to compile if a key is added to one and not the other.
type SettingsKeys = keyof Settings;
type ArgKeys = Exclude<keyof BlueGreenAppArgs, "dockerHost" | "adoptRootResources">;
const sameKeys: [Exclude<SettingsKeys, ArgKeys>, Exclude<ArgKeys, SettingsKeys>] extends [never, never] ? true : never = true;
void sameKeys;

/**
 * Postgres, Redis, the nginx proxy and the app's blue and green slots, with
 * a health-gated release whenever liveColor or the live colour's image or
 * variables change. The args are the `switchyard:` stack config's keys
 * (README, "Config"); secret ones (passwords, slotSecrets, tls, notify) are
 * marked secret before they reach any resource.
 */
export class BlueGreenApp extends pulumi.ComponentResource {
    /** The colour live after the last completed release, and what it runs. */
    public readonly liveColor: pulumi.Output<string>;
    public readonly liveImage: pulumi.Output<string>;
    public readonly idleColor: pulumi.Output<string>;
    public readonly idleState: pulumi.Output<string>;
    public readonly idleImage: pulumi.Output<string | null>;
    public readonly liveUrl: pulumi.Output<string>;
    public readonly previewUrl: pulumi.Output<string>;
    public readonly liveTlsUrl: pulumi.Output<string | null>;
    public readonly previewTlsUrl: pulumi.Output<string | null>;
    /** Every host in release order: its name, Docker host, live colour and listener URLs (one entry for a one-host stack). */
    public readonly hosts: pulumi.Output<{ name: string | null; dockerHost: string; liveColor: string; liveUrl: string; previewUrl: string }[]>;
    /** The settings policies judge a stack by (policy/): plain values, known in a preview. */
    public readonly settings: ReturnType<typeof policySettings>;

    constructor(name: string, args: BlueGreenAppArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validation first, before the component registers: bad settings
        // create, change and delete nothing.
        const { dockerHost, adoptRootResources, ...settings } = args;
        const cfg = validSettings(settings, name);
        const allowDelete = refusedAs(() => parseAllowList(process.env[ALLOW_ENV]));
        // What every host runs now decides its plan; an unreachable host, a restore
        // in progress or another stack's names fail here, before anything registers.
        const found = discoverHosts(cfg, name, dockerHost, allowDelete);
        super("switchyard:index:BlueGreenApp", name, {}, opts);
        const at: Declaring = { ...found, name, cfg, allowDelete, adopt: adoptRootResources ?? false, sources: found.targets.map((t) => valueSources(t, cfg)) };
        this.logPlans(at);
        const records = this.valueRecords(at);
        // First what each host has of its own (provider, guard, networks), so the
        // data services can be declared on theirs before any host's slots need them.
        const onHosts = at.targets.map((t, i) => this.hostParts(at, t, i));
        const data = this.dataOn(at, onHosts[at.dataAt]);
        // Each batch re-points once the batch before it is promoted; contract waits for every host's retire.
        const batches = rolloutBatches(at.targets.length, cfg.rollout.batchSize);
        let settleRetires: (retires: pulumi.Resource[]) => void = () => undefined;
        const everyRetire = at.targets.length > 1 ? new Promise<pulumi.Resource[]>((resolve) => (settleRetires = resolve)) : undefined;
        const proxies: Nginx[] = [];
        const releases: Release[] = [];
        // A canary on every host: the first host's canary waits for every other host's new colour, ready.
        let settleReady: (ready: pulumi.Resource[]) => void = () => undefined;
        const everyReady = cfg.canary && at.targets.length > 1 ? new Promise<pulumi.Resource[]>((resolve) => (settleReady = resolve)) : undefined;
        const canaryHosts = everyReady ? canaryHostsValue(at, onHosts) : undefined;
        for (const [i, t] of at.targets.entries()) {
            const proxy = this.proxyOn(at, t, onHosts[i]);
            const batch = batches.findIndex((b) => b.includes(i));
            const repointAfter = batch > 0 ? batches[batch - 1].map((j) => releases[j].promoted) : undefined;
            const canary = i === 0 && everyReady ? { canaryHosts, canaryAfter: everyReady } : {};
            proxies.push(proxy);
            releases.push(this.releaseOn(at, t, i, onHosts[i], { proxy, data, records, repointAfter, everyRetire, dataSteps: onHosts[at.dataAt].steps, ...canary }));
        }
        settleRetires(releases.slice(1).map((r) => r.retire));
        settleReady(releases.slice(1).flatMap((r) => r.ready));

        // Outputs say what happened, not what was asked: each waits for the
        // last release step of every host. An update that fails before them (a
        // failed gate, verify or bake) never sets them, so the stack keeps the
        // last completed release's.
        const done = pulumi.all(releases.map((r) => r.lastStep.id));
        const released = <T>(value: pulumi.Input<T>): pulumi.Output<T> => pulumi.all([done, value]).apply(([, v]) => v) as pulumi.Output<T>;
        const plan = at.targets[0].plan;
        const [proxy, release] = [proxies[0], releases[0]];
        this.liveColor = released(plan.live);
        this.liveImage = released(cfg.slots[plan.live]!.image);
        this.idleColor = released(plan.idle);
        this.idleState = released(plan.idleState);
        this.idleImage = released(release.slots[plan.idle]?.image ?? null);
        this.liveUrl = released(proxy.liveUrl);
        this.previewUrl = released(proxy.previewUrl);
        this.liveTlsUrl = released(proxy.liveTlsUrl ?? null);
        this.previewTlsUrl = released(proxy.previewTlsUrl ?? null);
        this.hosts = released(
            pulumi.all(at.targets.map((t, i) => pulumi.all([proxies[i].liveUrl, proxies[i].previewUrl]).apply(([liveUrl, previewUrl]) => ({ name: t.name ?? null, dockerHost: t.endpoint.host, liveColor: t.plan.live, liveUrl, previewUrl })))),
        );
        this.settings = policySettings(cfg);
        this.registerOutputs({ liveColor: this.liveColor, liveImage: this.liveImage, liveUrl: this.liveUrl, previewUrl: this.previewUrl, hosts: this.hosts });
    }

    /** One line per host saying what this update does there, and the warnings that go with it. */
    private logPlans({ cfg, stack, namePrefix, targets }: Declaring): void {
        for (const t of targets) {
            pulumi.log.info(`switchyard ${stack}${t.name ? ` host ${t.name}` : ""}: ${describePlan(t.plan)} (Docker host ${t.endpoint.host}, from ${t.endpoint.source})`);
            if (t === targets[0] && Object.keys(cfg.processes).length > 0) pulumi.log.info(`switchyard ${stack}: ${describeProcesses(cfg.processes, t.plan.declared)}`);
            if (t.addressing.mode === "dns") pulumi.log.warn(dnsAddressingWarning(stack, namePrefix, t.name), this);
        }
    }

    /**
     * With shared values, each configured colour's record of what it was last
     * created with: a rollback under standby retire brings those back
     * (lib/release.ts valuesSource). One per stack; the first host decides.
     */
    private valueRecords({ name, cfg, stack, targets, sources }: Declaring): Partial<Record<Colour, ReleasedValues>> {
        const records: Partial<Record<Colour, ReleasedValues>> = {};
        if (cfg.env === undefined && cfg.appSecrets === undefined) return records;
        for (const colour of COLOURS.filter((c) => cfg.slots[c])) {
            const source = sources[0][colour];
            records[colour] = new ReleasedValues(`${name}-values-${colour}`, { ...colourValues(cfg, colour), follow: source === "config" }, { parent: this });
            if (source === "remembered") pulumi.log.info(`switchyard ${stack}: ${colour} comes back with the variables it ran when it was retired (config holds nothing ${targets[0].state.route} lacks)`);
        }
        return records;
    }

    /** What a host has of its own: its Docker providers, release steps, delete guard and networks. */
    private hostParts(at: Declaring, t: HostTarget, i: number): HostParts {
        const { cfg, adopt, allowDelete, stack, proxyContainerName, namePrefix, stackLabel, dataAt } = at;
        const several = at.targets.length > 1;
        // With both services external there is no data container on any host.
        const runsData = !(cfg.postgresUrl && cfg.redisUrl);
        // The first host keeps a one-host stack's names (and its aliases to Switchyard 0.1's root parts).
        const first = i === 0;
        const providerOpts = (role: string): pulumi.ComponentResourceOptions => ({ parent: this, aliases: first ? rootAlias(adopt, role) : [] });
        const guard = new DeleteGuard({ stack, plan: t.plan, allow: allowDelete, route: () => liveRoute(proxyContainerName, t.env), hostName: first ? undefined : t.name });
        // An explicit provider per host: the host the plan was read from is the host deployed to.
        // A tcp:// host's provider reads the files written above (certPath), not the
        // material as inputs: with raw material the provider lets a DOCKER_HOST in the
        // environment override `host` (seen: it dialled another engine's socket).
        const engine = { host: t.endpoint.host, ...(t.endpoint.tls ? { certPath: t.env.DOCKER_CERT_PATH } : {}) };
        const provider = new docker.Provider(`${t.prefix}-docker`, engine, providerOpts("docker"));
        const opt = { parent: this, providers: [provider] };
        const partOpts = (role: string): pulumi.ComponentResourceOptions => ({ ...opt, aliases: first ? rootAlias(adopt, role) : [] });
        // The slot images alone are pulled with the private registry's credentials:
        // a change of credentials touches this provider and those pulls, nothing else.
        const registryProvider = cfg.registry
            ? new docker.Provider(
                  `${t.prefix}-registry`,
                  { ...engine, registryAuth: [{ address: cfg.registry.server, username: cfg.registry.username, password: pulumi.secret(cfg.registryPassword!) }] },
                  providerOpts("registry"),
              )
            : undefined;
        const steps = new ReleaseSteps(t.endpoint.host, undefined, undefined, t.name, t.endpoint.tls);
        const daemon = { swapLimit: t.state.swapLimit };
        const publishData = i === dataAt && several && runsData;
        const dataEgress = publishData && keepsDataEgress(t.state.networks.data, allowDelete);
        if (dataEgress) pulumi.log.warn(dataEgressWarning(stack, namePrefix, t.name), this);
        const networks = new Networks(
            `${t.prefix}-networks`,
            { namePrefix, stackLabel, guard, publishData, dataEgress, subnets: t.addressing.mode === "fixed" ? t.addressing.subnets : undefined },
            partOpts("networks"),
        );
        return { first, opt, partOpts, provider, registryProvider, steps, daemon, guard, networks };
    }

    /** Postgres, Redis and the backups on the data host, keeping what an existing stack's were made with until it is moved on purpose. */
    private dataOn(at: Declaring, d: HostParts): DataServices {
        const { cfg, stack, namePrefix, stackLabel, allowDelete, name } = at;
        const there = at.targets[at.dataAt];
        const shellHealthcheck = keepsShellHealthcheck(there.state.postgresHealthcheck, cfg.postgres, allowDelete);
        if (shellHealthcheck) pulumi.log.warn(shellHealthcheckWarning(stack, namePrefix), this);
        const rootRedis = !cfg.redisUrl && keepsRootRedis(there.state.redisUser, allowDelete);
        if (rootRedis) pulumi.log.warn(rootRedisWarning(stack, namePrefix), this);
        const superuserApp = !cfg.postgresUrl && keepsSuperuserApp(there.state.postgresUser, cfg.postgres.user);
        if (superuserApp) pulumi.log.warn(superuserAppWarning(stack, namePrefix, cfg.postgres.user), this);
        const clearData = !cfg.redisUrl && cfg.data !== undefined && keepsClearData(there.state.redisTls, allowDelete);
        if (clearData) pulumi.log.warn(clearDataWarning(stack, namePrefix, there.name ?? "the data host"), this);
        return this.dataServices(name, cfg, { ...d, namePrefix, stackLabel, shellHealthcheck, rootRedis, superuserApp, clearData, addressing: there.addressing });
    }

    /**
     * The published Postgres and Redis over TLS: the data-tls step makes the
     * certificate on the data host (its key stays there) and turns TLS on in
     * both; its output is the certificate, the other hosts' CA file.
     */
    private dataTls(name: string, address: string, backendSubnet: string | undefined, steps: ReleaseSteps, postgres?: Postgres, redis?: Redis): pulumi.Output<string> {
        const run = steps.step(
            `${name}-data-tls`,
            "data-tls",
            {
                ...rerunKey({ DATA_CONTAINER_IDS: pulumi.all([postgres?.container.id ?? "", redis?.container.id ?? ""]).apply((ids) => ids.join(" ")) }),
                DATA_ADDRESS: address,
                // Without fixed addresses (a stack made before them) the backend has no known subnet: clear connections stay accepted.
                REQUIRE_TLS: backendSubnet ? "1" : "0",
                ...(backendSubnet ? { BACKEND_SUBNET: backendSubnet } : {}),
                ...(postgres ? { POSTGRES_CONTAINER: postgres.container.name } : {}),
                ...(redis ? { REDIS_CONTAINER: redis.container.name } : {}),
            },
            { parent: this, dependsOn: [postgres?.container, redis?.container].filter((c): c is docker.Container => c !== undefined) },
        );
        return run.stdout.apply((out) => certificateFromOutput(out ?? ""));
    }

    /** A host's nginx proxy, and with acme its certificate sidecar. */
    private proxyOn(at: Declaring, t: HostTarget, h: HostParts): Nginx {
        const { cfg, namePrefix, stackLabel, proxyContainerName } = at;
        const { first, opt, partOpts, steps, daemon, guard, networks } = h;
        const proxy = new Nginx(
            `${t.prefix}-proxy`,
            {
                namePrefix,
                stackLabel,
                image: cfg.proxy.image,
                livePort: t.ports.livePort,
                previewPort: t.ports.previewPort,
                bindAddress: cfg.proxy.bindAddress,
                previewBindAddress: cfg.proxy.previewBindAddress,
                extraHttpConfig: cfg.proxy.extraHttpConfig,
                routing: routingOf(t.addressing, cfg),
                // With fixed addresses nginx needs neither Docker's DNS nor its port rules: it binds the host's ports.
                hostNetwork: t.addressing.mode === "fixed",
                behaviour: proxyBehaviour(cfg),
                tls: cfg.tls
                    ? {
                          pem: pulumi.secret(combinedPem(cfg.tls)),
                          fingerprint: tlsFacts(cfg.tls.certificate).fingerprint,
                          port: t.ports.tlsPort,
                          previewPort: t.ports.previewTlsPort,
                          redirectHttp: cfg.proxy.redirectHttp,
                      }
                    : cfg.acme
                      ? { acme: true, port: t.ports.tlsPort, previewPort: t.ports.previewTlsPort, redirectHttp: cfg.proxy.redirectHttp }
                      : undefined,
                appPort: cfg.appPort,
                drainSeconds: cfg.drainSeconds,
                metrics: cfg.metrics ? { port: cfg.metrics.port, bindAddress: cfg.metrics.bindAddress, image: cfg.metrics.image } : undefined,
                // The bake and the canary read the record files; on every host, as the canary watches every proxy.
                records: recordFiles(cfg),
                // The canary splits every host's traffic (engine/canary-hosts.ts).
                canary: cfg.canary ? { cookieMaxAgeSeconds: cookieMaxAgeSeconds(cfg.canary.steps, cfg.canary.stepSeconds) } : undefined,
                frontendNetwork: networks.frontend.name,
                limits: cfg.limits.proxy,
                steps,
                daemon,
                guard,
            },
            partOpts("proxy"),
        );
        if (cfg.acme) {
            new Acme(
                `${t.prefix}-acme`,
                {
                    namePrefix,
                    stackLabel,
                    image: cfg.acme.image,
                    email: cfg.acme.email,
                    hostnames: acmeHostnames(cfg),
                    directoryUrl: cfg.acme.directoryUrl,
                    caCertificate: cfg.acme.caCertificate,
                    eab: cfg.acme.eabKid ? { kid: cfg.acme.eabKid, hmacKey: pulumi.secret(cfg.acmeEabHmacKey!) } : undefined,
                    checkSeconds: cfg.acme.checkSeconds,
                    volume: proxy.acmeVolume!.name,
                    network: networks.frontend.name,
                    hostNetwork: t.addressing.mode === "fixed",
                    proxyContainerName,
                    proxyReady: proxy.config,
                    tlsProbe: proxy.probe.liveTls,
                    webhookUrl: secret(cfg.notify.webhookUrl),
                    steps,
                    daemon,
                    guard,
                },
                opt,
            );
        }
        return proxy;
    }

    /** A host's release: its slots and every release step, in order after the hosts before it. */
    private releaseOn(
        at: Declaring,
        t: HostTarget,
        i: number,
        h: HostParts,
        after: {
            proxy: Nginx;
            data: DataServices;
            records: Partial<Record<Colour, ReleasedValues>>;
            repointAfter?: pulumi.Resource[];
            everyRetire?: Promise<pulumi.Resource[]>;
            dataSteps: ReleaseSteps;
            /** The first host's, with a canary on every host: the other hosts' proxies, and their new colour ready. */
            canaryHosts?: string;
            canaryAfter?: Promise<pulumi.Resource[]>;
        },
    ): Release {
        const { cfg, namePrefix, stackLabel, proxyContainerName, dataAt, adopt } = at;
        const { first, opt, registryProvider, steps, daemon, guard, networks } = h;
        const { proxy, data, records } = after;
        // The data host's slots reach the data services on its backend network; the others at data.address.
        const local = i === dataAt;
        return new Release(
            `${t.prefix}-release`,
            {
                plan: t.plan,
                colours: Object.fromEntries(
                    t.plan.declared.map((colour) => {
                        const values = colourValues(cfg, colour);
                        const source = at.sources[i][colour] ?? "config";
                        const record = source === "remembered" ? records[colour] : undefined;
                        return [
                            colour,
                            {
                                image: cfg.slots[colour]!.image,
                                pinnedImageId: pinnedImageId(t.state, colour, cfg.slots[colour]!.image),
                                env: record ? record.env : values.env,
                                secretEnv: record ? record.secrets : Object.keys(values.secrets).length ? pulumi.secret(values.secrets) : undefined,
                                // Shared values set: a running colour that is or goes live keeps the values it was released with.
                                keepValues: source === "kept",
                                addresses: t.addressing.mode === "fixed" ? colourAddresses(t.addressing.subnets.frontend, colour, cfg.replicas) : undefined,
                            },
                        ];
                    }),
                ),
                slot: {
                    namePrefix,
                    stackLabel,
                    replicas: cfg.replicas,
                    appPort: cfg.appPort,
                    user: cfg.appUser,
                    // The request a real client sends: the app's host name, HTTPS when it is served so.
                    health: { ...cfg.health, host: healthHost(cfg), forwardedProto: healthProto(cfg) },
                    stopped: t.state.stopped,
                    drainSeconds: cfg.drainSeconds,
                    databaseUrl: local ? data.urls.local.database : data.urls.remote.database,
                    redisUrl: local ? data.urls.local.redis : data.urls.remote.redis,
                    dataTls: local || !data.ca ? undefined : { ca: data.ca, address: cfg.data!.address },
                    frontendNetwork: networks.frontend.name,
                    backendNetwork: networks.backend.name,
                    proxyContainerName,
                    limits: cfg.limits.app,
                    dataServices: data.containers,
                    imageProvider: registryProvider,
                    daemon,
                    guard,
                },
                proxyReady: proxy.config,
                proxyProbe: proxy.probe.live,
                webhookUrl: secret(cfg.notify.webhookUrl),
                maintenance: cfg.maintenance,
                maintenanceNow: t.state.maintenance === true,
                // The dump and the migrations run once, before the first host's re-point: every other host re-points after it.
                // The dump runs on the data host, beside Postgres and the backups store; the migrations
                // on the first host, from the new image it has pulled, over the URL its slots use
                // (from another host than the data host: data.address, through the frontend network's route out).
                backup: first ? data.backup : undefined,
                backupSteps: first ? after.dataSteps : undefined,
                migrations: first ? cfg.migrations : undefined,
                migrationNetwork: local ? data.migrationNetwork : networks.frontend.name,
                verifyRequests: cfg.verifyRequests,
                // The canary bakes; the hosts after it were judged by its traffic.
                bake: first ? cfg.bake : undefined,
                // So does the weighted canary, on every host's proxy at once (canaryHosts).
                canary: first ? cfg.canary : undefined,
                canaryHosts: after.canaryHosts,
                canaryAfter: after.canaryAfter,
                // Both read the proxy's record files, from where the last check stopped.
                recordsDir: recordFiles(cfg) ? METRICS_LOG_DIR : undefined,
                standby: cfg.standby,
                steps,
                repointAfter: after.repointAfter,
                contractAfter: first ? after.everyRetire : undefined,
                adoptRootResources: first && adopt,
                // One scheduler for the whole stack: the process types run on the first host.
                processes: first ? cfg.processes : undefined,
                processHeal: first ? processHealToken(t.plan.live, t.state.route, t.state.stoppedProcesses ?? []) : undefined,
            },
            opt,
        );
    }

    /**
     * Postgres, Redis and the backups store, on the data host; a service
     * given as a URL (postgresUrl, redisUrl) is managed elsewhere, so no
     * container of it is declared and everything uses the URL.
     */
    private dataServices(
        name: string,
        cfg: SwitchyardConfig,
        on: {
            namePrefix: string;
            stackLabel: string;
            networks: Networks;
            daemon: { swapLimit: boolean };
            guard: DeleteGuard;
            partOpts: (role: string) => pulumi.ComponentResourceOptions;
            provider: docker.Provider;
            shellHealthcheck: boolean;
            /** Keep the root user an existing Redis was created with (keepsRootRedis). */
            rootRedis: boolean;
            /** The app connects as the superuser an existing Postgres was initialised with (keepsSuperuserApp). */
            superuserApp: boolean;
            /** Keep the published services in clear, as a stack made before TLS has them (keepsClearData). */
            clearData: boolean;
            addressing: Addressing;
            /** The data host's steps (the data-tls step). */
            steps: ReleaseSteps;
        },
    ): DataServices {
        const { namePrefix, stackLabel, networks, daemon, guard, partOpts, shellHealthcheck, rootRedis, superuserApp } = on;
        const backendSubnet = on.addressing.mode === "fixed" ? on.addressing.subnets.backend : undefined;
        const production = cfg.environment === "production";
        const publish = (port: number) => (cfg.data && networks.data ? { network: networks.data.name, address: cfg.data.address, port, tls: !on.clearData } : undefined);
        const dataService = { namePrefix, stackLabel, backendNetwork: networks.backend.name, protectData: production, daemon, guard };
        const postgres = cfg.postgresUrl
            ? undefined
            : new Postgres(
                  `${name}-postgres`,
                  {
                      ...dataService,
                      image: cfg.postgres.image,
                      database: cfg.postgres.database,
                      user: cfg.postgres.user,
                      maxConnections: cfg.postgres.maxConnections,
                      shellHealthcheck,
                      appRoleIsSuperuser: superuserApp,
                      address: backendSubnet && postgresAddress(backendSubnet),
                      password: secret(cfg.postgresPassword),
                      limits: cfg.limits.postgres,
                      publish: publish(cfg.data?.postgresPort ?? 0),
                  },
                  partOpts("postgres"),
              );
        const redis = cfg.redisUrl
            ? undefined
            : new Redis(
                  `${name}-redis`,
                  { ...dataService, image: cfg.redis.image, user: rootRedis ? null : cfg.redis.user, address: backendSubnet && redisAddress(backendSubnet), password: secret(cfg.redisPassword), limits: cfg.limits.redis, publish: publish(cfg.data?.redisPort ?? 0) },
                  partOpts("redis"),
              );
        const ca = cfg.data && networks.data && !on.clearData && (postgres || redis) ? this.dataTls(name, cfg.data.address, backendSubnet, on.steps, postgres, redis) : undefined;
        const backups = new Backups(`${name}-backups`, { namePrefix, stackLabel, hostDir: cfg.backups.hostDir, protect: production, guard }, partOpts("backups"));
        const managed = { database: pulumi.secret(cfg.postgresUrl ?? ""), redis: pulumi.secret(cfg.redisUrl ?? "") };
        let backup: ReleaseBackupArgs | undefined;
        if (cfg.backups.enabled && postgres) {
            backup = { postgresContainer: postgres.container.name, backendNetwork: networks.backend.name, store: backups.store, keep: cfg.backups.keep, database: cfg.postgres.database, user: cfg.postgres.user, password: postgres.password };
        } else if (cfg.backups.enabled) {
            // pg_dump of the managed database from a one-off container of postgres.image, over the frontend network.
            const server = postgresServer(cfg.postgresUrl!);
            const client = new docker.RemoteImage(`${name}-postgres-client`, { name: cfg.postgres.image, keepLocally: true }, { parent: this, provider: on.provider });
            backup = {
                server: { host: server.host, port: server.port, sslmode: server.sslmode, image: client.imageId },
                backendNetwork: networks.frontend.name,
                store: backups.store,
                keep: cfg.backups.keep,
                database: server.database,
                user: server.user,
                password: pulumi.secret(server.password),
            };
        }
        return {
            urls: {
                local: { database: postgres?.url ?? managed.database, redis: redis?.url ?? managed.redis },
                remote: { database: postgres?.publishedUrl ?? managed.database, redis: redis?.publishedUrl ?? managed.redis },
            },
            containers: [postgres?.container, redis?.container].filter((c): c is docker.Container => c !== undefined),
            ca,
            backup,
            migrationNetwork: postgres ? networks.backend.name : networks.frontend.name,
        };
    }
}

/** Said on every update of a host whose networks Switchyard 0.2 made (no fixed addresses). */
export function dnsAddressingWarning(stack: string, namePrefix: string, host?: string): string {
    return (
        `${host ? `Host ${host}: ` : ""}the networks of ${namePrefix} were made before fixed addresses, so its proxy still finds the colours through Docker's DNS: ` +
        "an engine restart fails requests while the DNS is away, and a replica stopped from outside fails some before nginx notices. " +
        `Move the stack once, at a quiet time (the networks and every container are re-created, volumes kept: a short outage): ` +
        `SWITCHYARD_ALLOW_DELETE=network,live,proxy,postgres,redis pulumi up --stack ${stack} (README, "Upgrading a stack made by Switchyard 0.2")`
    );
}

/** What the data host's services give the rest of the stack. */
interface DataServices {
    /** DATABASE_URL and REDIS_URL (secret): on the data host's backend network, and for the other hosts. */
    urls: { local: { database: pulumi.Output<string>; redis: pulumi.Output<string> }; remote: { database: pulumi.Output<string>; redis: pulumi.Output<string> } };
    /** The published services' certificate (PEM), for the other hosts' containers; none when they are not published over TLS. */
    ca?: pulumi.Output<string>;
    /** The containers the slots start after (none for a managed service). */
    containers: pulumi.Resource[];
    /** The dump before every switch, when backups are on. */
    backup?: ReleaseBackupArgs;
    /** The network of the migrations' one-off container when the canary is the data host: the backend network, or with a managed database the frontend one (it has a route out). */
    migrationNetwork: pulumi.Output<string>;
}

/** A secret value, or none when not set. */
const secret = (v: string | undefined) => (v === undefined ? undefined : pulumi.secret(v));

/** What every part of the component is declared from: the checked settings and what discovery read of each host. */
interface Declaring extends Discovery {
    name: string;
    cfg: SwitchyardConfig;
    allowDelete: ReturnType<typeof parseAllowList>;
    adopt: boolean;
    /** Per host, where each declared colour's variables come from (lib/release.ts valuesSource); decided once. */
    sources: Partial<Record<Colour, ValuesSource>>[];
}

type ValuesSource = ReturnType<typeof valuesSource>;

/** Each declared colour's values source on a host: "config" unless shared values (env, appSecrets) are set. */
function valueSources(t: HostTarget, cfg: SwitchyardConfig): Partial<Record<Colour, ValuesSource>> {
    const shared = cfg.env !== undefined || cfg.appSecrets !== undefined;
    return Object.fromEntries(t.plan.declared.map((colour) => [colour, shared ? valuesSource(t.plan, t.state, cfg, colour) : "config"]));
}

/** One host's own parts. */
interface HostParts {
    /** The first host: it keeps a one-host stack's names. */
    first: boolean;
    opt: pulumi.ComponentResourceOptions;
    partOpts: (role: string) => pulumi.ComponentResourceOptions;
    provider: docker.Provider;
    registryProvider?: docker.Provider;
    steps: ReleaseSteps;
    daemon: { swapLimit: boolean };
    guard: DeleteGuard;
    networks: Networks;
}

/** CANARY_HOSTS of the first host's canary: every other host's Docker endpoint, TLS material's name and proxy (engine/canary-hosts.ts). */
function canaryHostsValue(at: Declaring, onHosts: HostParts[]): string {
    return JSON.stringify(
        at.targets.slice(1).map((t, j) => {
            const where = onHosts[j + 1].steps.where();
            // Host networking (fixed addresses): the proxy's own probes come from its unix socket.
            return { name: where.name ?? `host${j + 2}`, dockerHost: where.dockerHost, ...(where.tls ? { tls: where.tls } : {}), proxy: at.proxyContainerName, socket: t.addressing.mode === "fixed" };
        }),
    );
}

/** The settings checked with the config's own schema, the certificates and keys too; or every problem, named. */
function validSettings(settings: SwitchyardSettings, name: string): SwitchyardConfig {
    const { settings: cfg, problems } = checkSettings(settings as Record<string, unknown>, "args.");
    if (cfg) problems.push(...materialProblems(cfg, "args."));
    if (problems.length > 0) throw new pulumi.RunError(new ConfigError(problems, pulumi.getStack(), `args of BlueGreenApp "${name}"`).message);
    return cfg!;
}

// A policy pack cannot read stack config, but it can read the stack's outputs.
function policySettings(cfg: SwitchyardConfig) {
    return {
        environment: cfg.environment,
        replicas: cfg.replicas,
        standby: cfg.standby,
        drainSeconds: cfg.drainSeconds,
        verifyRequests: cfg.verifyRequests,
        // Several hosts: how many, and how many switch at a time after the canary.
        hosts: cfg.hosts?.length ?? 1,
        rolloutBatchSize: cfg.rollout.batchSize,
        bake: { seconds: cfg.bake.seconds, maxErrorPercent: cfg.bake.maxErrorPercent, maxP99Ms: cfg.bake.maxP99Ms ?? null, minRequests: cfg.bake.minRequests },
        proxy: {
            bindAddress: cfg.proxy.bindAddress,
            previewBindAddress: cfg.proxy.previewBindAddress,
            publicPreview: cfg.proxy.publicPreview,
            livePort: cfg.proxy.livePort,
            previewPort: cfg.proxy.previewPort,
            tls: cfg.tls ? { tlsPort: cfg.proxy.tlsPort, previewTlsPort: cfg.proxy.previewTlsPort, redirectHttp: cfg.proxy.redirectHttp } : null,
            // Whether raw nginx (trusted input) is in the proxy's config.
            extraHttpConfig: cfg.proxy.extraHttpConfig !== undefined,
        },
        health: { timeoutSeconds: cfg.health.timeoutSeconds },
    };
}
