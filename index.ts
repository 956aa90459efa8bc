// Switchyard: config -> plan -> components -> release steps.
//
// 1. Validate the `switchyard:` config (every problem in one message).
// 2. Resolve the one Docker host this update touches, read what it runs now
//    and plan the release: which colour is live after this update, whether it
//    switches, which slots exist.
// 3. Declare the shared services, the proxy, the slots and the release chain,
//    every container and volume behind the delete guard:
//    gate -> backup -> migrate (expand) -> re-point -> verify -> retire -> contract,
//    with the notifier and maintenance mode around it.
import { createHash } from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { COLOURS, ConfigError, parseConfig, SwitchyardConfig } from "./lib/config";
import { combinedPem, tlsFacts, tlsProblems } from "./lib/tls";
import { dockerCliEnv, resolveDockerEndpoint } from "./lib/dockerhost";
import { ALLOW_ENV, DeleteGuard, parseAllowList } from "./lib/guard";
import { readHostState, readRoute } from "./lib/host";
import { describePlan, planRelease } from "./lib/release";
import { stackNames } from "./lib/naming";
import { ReleaseSteps } from "./lib/steps";
import { Networks } from "./components/networks";
import { Postgres } from "./components/postgres";
import { Redis } from "./components/redis";
import { Nginx } from "./components/nginx";
import { Slot } from "./components/slot";
import { ReleaseKey, Switch } from "./components/switch";
import { Backups } from "./components/backups";
import { Backup } from "./components/backup";
import { Migration } from "./components/migration";
import { Maintenance } from "./components/maintenance";
import { Notifier } from "./components/notifier";

// isConfigSecret is exported by the runtime but missing from its typings.
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

const stack = pulumi.getStack();
const { stackLabel, namePrefix, proxyContainer: proxyContainerName } = stackNames(pulumi.getProject(), stack);

function loadConfig(): SwitchyardConfig {
    const raw = pulumi.runtime.allConfig();
    const secret = new Set(Object.keys(raw).filter((k) => runtimeConfig.isConfigSecret(k)));
    const parsed = parseConfig(raw, secret, stack);
    const tlsIssues = parsed.tls ? tlsProblems(parsed.tls) : [];
    if (tlsIssues.length) throw new ConfigError(tlsIssues, stack);
    return parsed;
}

function failWith<T>(read: () => T): T {
    try {
        return read();
    } catch (err) {
        // RunError prints the message alone: the problem list, not a stack trace.
        throw err instanceof Error ? new pulumi.RunError(err.message) : err;
    }
}

const cfg = failWith(loadConfig);
const allowDelete = failWith(() => parseAllowList(process.env[ALLOW_ENV]));
const endpoint = resolveDockerEndpoint(new pulumi.Config("docker").get("host"));
const dockerEnv = dockerCliEnv(endpoint);
const host = failWith(() => readHostState(stackLabel, proxyContainerName, dockerEnv));
const release = planRelease(cfg, host);
pulumi.log.info(`switchyard ${stack}: ${describePlan(release)} (Docker host ${endpoint.host}, from ${endpoint.source})`);

const guard = new DeleteGuard({ stack, plan: release, allow: allowDelete, route: () => readRoute(proxyContainerName, dockerEnv) });
// An explicit provider: the host the plan was read from is the host deployed to.
const provider = new docker.Provider("docker", { host: endpoint.host });
const config = new pulumi.Config("switchyard");
const opts: pulumi.ComponentResourceOptions = { providers: [provider] };
// The slot images alone are pulled with the private registry's credentials:
// a change of credentials touches this provider and those pulls, nothing else.
const registryProvider = cfg.registry
    ? new docker.Provider("registry", {
          host: endpoint.host,
          registryAuth: [{ address: cfg.registry.server, username: cfg.registry.username, password: config.requireSecret("registryPassword") }],
      })
    : undefined;
const steps = new ReleaseSteps(endpoint.host);
const daemon = { swapLimit: host.swapLimit };
const production = cfg.environment === "production";

const networks = new Networks("networks", { namePrefix, stackLabel, guard }, opts);
const dataService = { namePrefix, stackLabel, backendNetwork: networks.backend.name, protectData: production, daemon, guard };
const postgres = new Postgres(
    "postgres",
    {
        ...dataService,
        image: cfg.postgres.image,
        database: cfg.postgres.database,
        user: cfg.postgres.user,
        password: cfg.postgresPassword ? config.requireSecret("postgresPassword") : undefined,
        limits: cfg.limits.postgres,
    },
    opts,
);
const redis = new Redis(
    "redis",
    { ...dataService, image: cfg.redis.image, password: cfg.redisPassword ? config.requireSecret("redisPassword") : undefined, limits: cfg.limits.redis },
    opts,
);
const proxy = new Nginx(
    "proxy",
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
                  pem: config.requireSecretObject<{ certificate: string; key: string }>("tls").apply(combinedPem),
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
    opts,
);

const notifier = new Notifier(
    "notify",
    {
        proxyContainerName,
        webhookUrl: cfg.notify.webhookUrl ? config.requireSecretObject<{ webhookUrl: string }>("notify").apply((n) => n.webhookUrl) : undefined,
        proxyReady: proxy.config,
        steps,
    },
    opts,
);
const backups = new Backups("backups", { namePrefix, stackLabel, hostDir: cfg.backups.hostDir, protect: production, guard }, opts);
// Maintenance turns on before anything of a release runs, and off only once
// the new colour is verified (the program reads the marker to know which).
const maintenanceTurnsOff = host.maintenance === true && !cfg.maintenance;
const maintenanceOn = maintenanceTurnsOff
    ? undefined
    : new Maintenance("maintenance", { proxyContainerName, on: cfg.maintenance, after: [notifier.config], steps }, opts);

const slots: Partial<Record<(typeof COLOURS)[number], Slot>> = {};
for (const colour of release.declared) {
    slots[colour] = new Slot(
        `app-${colour}`,
        {
            namePrefix,
            stackLabel,
            colour,
            image: cfg.slots[colour]!.image,
            replicas: cfg.replicas,
            appPort: cfg.appPort,
            user: cfg.appUser,
            health: cfg.health,
            env: cfg.slots[colour]!.env,
            secretEnv: cfg.slotSecrets?.[colour]
                ? config.requireSecretObject<Record<string, Record<string, string>>>("slotSecrets").apply((all) => stringValues(all[colour] ?? {}))
                : undefined,
            drainSeconds: cfg.drainSeconds,
            databaseUrl: postgres.url,
            redisUrl: redis.url,
            frontendNetwork: networks.frontend.name,
            backendNetwork: networks.backend.name,
            proxyContainerName,
            // The notifier runs after the proxy's config, so a failed gate is reported.
            proxyReady: notifier.config,
            limits: cfg.limits.app,
            dataServices: [postgres.container, redis.container],
            imageProvider: registryProvider,
            steps,
            daemon,
            guard,
        },
        opts,
    );
}

const sw = new Switch(
    "switch",
    {
        stackLabel,
        target: slots[release.live]!,
        retireColour: release.idleState === "retired" ? release.idle : undefined,
        proxyContainerName,
        proxyReady: proxy.config,
        healthPath: cfg.health.path,
        verifyRequests: cfg.verifyRequests,
        drainSeconds: cfg.drainSeconds,
        appPort: cfg.appPort,
        standby: cfg.standby,
        steps,
        before: [notifier.config, ...(maintenanceOn ? [maintenanceOn.toggle] : [])],
        beforeRepoint: (gate, key) => {
            const backup = cfg.backups.enabled ? beforeSwitchBackup(gate, key, cfg.migrations.command) : undefined;
            const expand = cfg.migrations.command ? migration("expand", cfg.migrations.command, backup?.dump ?? gate, key) : undefined;
            return expand?.run ?? backup?.dump ?? gate;
        },
    },
    opts,
);
const contract = cfg.migrations.contractCommand ? migration("contract", cfg.migrations.contractCommand, sw.retire, sw.key) : undefined;
if (maintenanceTurnsOff) new Maintenance("maintenance", { proxyContainerName, on: false, after: [sw.verify], steps }, opts);

// Secret values as text: YAML may give a number or a boolean.
function stringValues(env: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

function beforeSwitchBackup(gate: pulumi.Resource, key: ReleaseKey, expandCommand: string[] | undefined): Backup {
    return new Backup(
        "backup",
        {
            key,
            after: gate,
            postgresContainer: postgres.container.name,
            backendNetwork: networks.backend.name,
            store: backups.store,
            keep: cfg.backups.keep,
            database: cfg.postgres.database,
            user: cfg.postgres.user,
            password: postgres.password,
            // A migration that runs again (a new command) gets a fresh dump first.
            migrationFingerprint: expandCommand
                ? createHash("sha256").update(JSON.stringify([expandCommand, cfg.slots[release.live]!.image, cfg.migrations.timeoutSeconds])).digest("hex").slice(0, 16)
                : undefined,
            steps,
        },
        opts,
    );
}

function migration(phase: "expand" | "contract", cmd: string[], after: pulumi.Resource, key: ReleaseKey): Migration {
    return new Migration(
        `migrate-${phase}`,
        {
            phase,
            command: cmd,
            image: cfg.slots[release.live]!.image,
            key,
            after,
            backendNetwork: networks.backend.name,
            databaseUrl: postgres.url,
            timeoutSeconds: cfg.migrations.timeoutSeconds,
            steps,
        },
        opts,
    );
}

// Outputs say what happened, not what was asked: each waits for the last
// release step. An update that fails before it (a failed gate or verify)
// never registers them, so the stack keeps the outputs of the last release
// that completed.
const lastStep = contract?.run ?? sw.retire;
const released = <T>(value: T): pulumi.Output<T> => lastStep.id.apply(() => value);
export const liveColor = released(release.live);
export const liveImage = released(cfg.slots[release.live]!.image);
export const idleColor = released(release.idle);
export const idleState = released(release.idleState);
export const idleImage = released(slots[release.idle]?.image ?? null);
export const liveUrl = released(proxy.liveUrl);
export const previewUrl = released(proxy.previewUrl);
export const liveTlsUrl = released(proxy.liveTlsUrl ?? null);
export const previewTlsUrl = released(proxy.previewTlsUrl ?? null);
// The settings policies judge a stack by (policy/): a policy pack cannot read
// stack config, but it can read the stack's outputs. Plain values, known in a preview.
export const settings = {
    environment: cfg.environment,
    replicas: cfg.replicas,
    standby: cfg.standby,
    drainSeconds: cfg.drainSeconds,
    verifyRequests: cfg.verifyRequests,
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
