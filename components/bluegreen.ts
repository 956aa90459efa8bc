// A blue-green app on one Docker host: the shared services, the proxy and a
// release (components/release.ts), from settings with the stack config's
// schema. Read before anything is declared: the settings (every problem in one
// message) and what the host runs now, which decides the release plan.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { checkSettings, ConfigError, SwitchyardConfig, SwitchyardSettings } from "../lib/config";
import { dockerCliEnv, resolveDockerEndpoint } from "../lib/dockerhost";
import { ALLOW_ENV, DeleteGuard, parseAllowList } from "../lib/guard";
import { readHostState, readRoute } from "../lib/host";
import { rootAlias, stackNames } from "../lib/naming";
import { describePlan, planRelease } from "../lib/release";
import { ReleaseSteps } from "../lib/steps";
import { refusedAs } from "../lib/stackconfig";
import { combinedPem, tlsFacts, tlsProblems } from "../lib/tls";
import { Backups } from "./backups";
import { Networks } from "./networks";
import { Nginx } from "./nginx";
import { Postgres } from "./postgres";
import { Redis } from "./redis";
import { Release } from "./release";

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
    /** The settings policies judge a stack by (policy/): plain values, known in a preview. */
    public readonly settings: ReturnType<typeof policySettings>;

    constructor(name: string, args: BlueGreenAppArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validation first, before the component registers: bad settings
        // create, change and delete nothing.
        const { dockerHost, adoptRootResources, ...settings } = args;
        const cfg = validSettings(settings, name);
        const allowDelete = refusedAs(() => parseAllowList(process.env[ALLOW_ENV]));
        // What the host runs now decides the plan; an unreachable host fails here, before anything registers.
        const stack = pulumi.getStack();
        const { stackLabel, namePrefix, proxyContainer: proxyContainerName } = stackNames(pulumi.getProject(), stack);
        const endpoint = resolveDockerEndpoint(dockerHost);
        const dockerEnv = dockerCliEnv(endpoint);
        const host = refusedAs(() => readHostState(stackLabel, proxyContainerName, dockerEnv));
        const plan = planRelease(cfg, host);
        super("switchyard:index:BlueGreenApp", name, {}, opts);
        const adopt = adoptRootResources ?? false;
        const providerOpts = (role: string): pulumi.ComponentResourceOptions => ({ parent: this, aliases: rootAlias(adopt, role) });
        pulumi.log.info(`switchyard ${stack}: ${describePlan(plan)} (Docker host ${endpoint.host}, from ${endpoint.source})`);

        const guard = new DeleteGuard({ stack, plan, allow: allowDelete, route: () => readRoute(proxyContainerName, dockerEnv) });
        // An explicit provider: the host the plan was read from is the host deployed to.
        const provider = new docker.Provider(`${name}-docker`, { host: endpoint.host }, providerOpts("docker"));
        const opt = { parent: this, providers: [provider] };
        const partOpts = (role: string): pulumi.ComponentResourceOptions => ({ ...opt, aliases: rootAlias(adopt, role) });
        // The slot images alone are pulled with the private registry's credentials:
        // a change of credentials touches this provider and those pulls, nothing else.
        const registryProvider = cfg.registry
            ? new docker.Provider(
                  `${name}-registry`,
                  { host: endpoint.host, registryAuth: [{ address: cfg.registry.server, username: cfg.registry.username, password: pulumi.secret(cfg.registryPassword!) }] },
                  providerOpts("registry"),
              )
            : undefined;
        const steps = new ReleaseSteps(endpoint.host);
        const daemon = { swapLimit: host.swapLimit };
        const production = cfg.environment === "production";

        const networks = new Networks(`${name}-networks`, { namePrefix, stackLabel, guard }, partOpts("networks"));
        const dataService = { namePrefix, stackLabel, backendNetwork: networks.backend.name, protectData: production, daemon, guard };
        const secret = (v: string | undefined) => (v === undefined ? undefined : pulumi.secret(v));
        const postgres = new Postgres(
            `${name}-postgres`,
            { ...dataService, image: cfg.postgres.image, database: cfg.postgres.database, user: cfg.postgres.user, password: secret(cfg.postgresPassword), limits: cfg.limits.postgres },
            partOpts("postgres"),
        );
        const redis = new Redis(`${name}-redis`, { ...dataService, image: cfg.redis.image, password: secret(cfg.redisPassword), limits: cfg.limits.redis }, partOpts("redis"));
        const proxy = new Nginx(
            `${name}-proxy`,
            {
                namePrefix,
                stackLabel,
                image: cfg.proxy.image,
                livePort: cfg.proxy.livePort,
                previewPort: cfg.proxy.previewPort,
                bindAddress: cfg.proxy.bindAddress,
                previewBindAddress: cfg.proxy.previewBindAddress,
                extraHttpConfig: cfg.proxy.extraHttpConfig,
                tls: cfg.tls
                    ? {
                          pem: pulumi.secret(combinedPem(cfg.tls)),
                          fingerprint: tlsFacts(cfg.tls.certificate).fingerprint,
                          port: cfg.proxy.tlsPort,
                          previewPort: cfg.proxy.previewTlsPort,
                          redirectHttp: cfg.proxy.redirectHttp,
                      }
                    : undefined,
                appPort: cfg.appPort,
                drainSeconds: cfg.drainSeconds,
                frontendNetwork: networks.frontend.name,
                limits: cfg.limits.proxy,
                steps,
                daemon,
                guard,
            },
            partOpts("proxy"),
        );
        const backups = new Backups(`${name}-backups`, { namePrefix, stackLabel, hostDir: cfg.backups.hostDir, protect: production, guard }, partOpts("backups"));

        const release = new Release(
            `${name}-release`,
            {
                plan,
                colours: Object.fromEntries(
                    plan.declared.map((colour) => [
                        colour,
                        { image: cfg.slots[colour]!.image, env: cfg.slots[colour]!.env, secretEnv: cfg.slotSecrets?.[colour] ? pulumi.secret(cfg.slotSecrets[colour]!) : undefined },
                    ]),
                ),
                slot: {
                    namePrefix,
                    stackLabel,
                    replicas: cfg.replicas,
                    appPort: cfg.appPort,
                    user: cfg.appUser,
                    health: cfg.health,
                    drainSeconds: cfg.drainSeconds,
                    databaseUrl: postgres.url,
                    redisUrl: redis.url,
                    frontendNetwork: networks.frontend.name,
                    backendNetwork: networks.backend.name,
                    proxyContainerName,
                    limits: cfg.limits.app,
                    dataServices: [postgres.container, redis.container],
                    imageProvider: registryProvider,
                    daemon,
                    guard,
                },
                proxyReady: proxy.config,
                webhookUrl: secret(cfg.notify.webhookUrl),
                maintenance: cfg.maintenance,
                maintenanceNow: host.maintenance === true,
                backup: cfg.backups.enabled
                    ? {
                          postgresContainer: postgres.container.name,
                          backendNetwork: networks.backend.name,
                          store: backups.store,
                          keep: cfg.backups.keep,
                          database: cfg.postgres.database,
                          user: cfg.postgres.user,
                          password: postgres.password,
                      }
                    : undefined,
                migrations: cfg.migrations,
                verifyRequests: cfg.verifyRequests,
                bake: cfg.bake,
                standby: cfg.standby,
                steps,
                adoptRootResources: adopt,
            },
            opt,
        );

        // Outputs say what happened, not what was asked: each waits for the
        // last release step. An update that fails before it (a failed gate or
        // verify) never sets them, so the stack keeps the last completed release's.
        const released = <T>(value: T): pulumi.Output<T> => release.lastStep.id.apply(() => value);
        this.liveColor = released(plan.live);
        this.liveImage = released(cfg.slots[plan.live]!.image);
        this.idleColor = released(plan.idle);
        this.idleState = released(plan.idleState);
        this.idleImage = released(release.slots[plan.idle]?.image ?? null);
        this.liveUrl = released(proxy.liveUrl);
        this.previewUrl = released(proxy.previewUrl);
        this.liveTlsUrl = released(proxy.liveTlsUrl ?? null);
        this.previewTlsUrl = released(proxy.previewTlsUrl ?? null);
        this.settings = policySettings(cfg);
        this.registerOutputs({ liveColor: this.liveColor, liveImage: this.liveImage, liveUrl: this.liveUrl, previewUrl: this.previewUrl });
    }
}

/** The settings checked with the config's own schema, the certificate pair too; or every problem, named. */
function validSettings(settings: SwitchyardSettings, name: string): SwitchyardConfig {
    const { settings: cfg, problems } = checkSettings(settings as Record<string, unknown>, "args.");
    if (cfg?.tls) problems.push(...tlsProblems(cfg.tls, new Date(), "args."));
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
