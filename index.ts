// Switchyard: config -> components -> release steps.
//
// 1. Validate the `switchyard:` config (every problem in one message).
// 2. Read what the host runs now and plan the release: which colour is live
//    after this update, whether it switches, which slots exist, and refuse
//    anything that would recreate the live colour in place.
// 3. Declare the shared services, the proxy, the slots and the switch.
import * as pulumi from "@pulumi/pulumi";
import { COLOURS, ConfigError, parseConfig, SwitchyardConfig } from "./lib/config";
import { readHostState } from "./lib/host";
import { describePlan, planRelease, ReleasePlan, ReleaseRefused } from "./lib/release";
import { Networks } from "./components/networks";
import { Postgres } from "./components/postgres";
import { Redis } from "./components/redis";
import { Nginx } from "./components/nginx";
import { Slot } from "./components/slot";
import { Switch } from "./components/switch";
import { stackNames } from "./lib/naming";

// isConfigSecret is exported by the runtime but missing from its typings.
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

const stack = pulumi.getStack();
const { stackLabel, namePrefix, proxyContainer: proxyContainerName } = stackNames(pulumi.getProject(), stack);

function loadConfig(): SwitchyardConfig {
    const raw = pulumi.runtime.allConfig();
    const secret = new Set(Object.keys(raw).filter((k) => runtimeConfig.isConfigSecret(k)));
    return parseConfig(raw, secret, stack);
}

function plan(cfg: SwitchyardConfig): ReleasePlan {
    return planRelease(cfg, readHostState(stackLabel, proxyContainerName));
}

let cfg: SwitchyardConfig;
let release: ReleasePlan;
try {
    cfg = loadConfig();
    release = plan(cfg);
} catch (err) {
    // RunError prints the message alone: the problem list, not a stack trace.
    if (err instanceof ConfigError || err instanceof ReleaseRefused) throw new pulumi.RunError(err.message);
    throw err;
}
pulumi.log.info(`switchyard ${stack}: ${describePlan(release)}`);

const production = cfg.environment === "production";
const config = new pulumi.Config("switchyard");

const networks = new Networks("networks", { namePrefix, stackLabel });
const dataService = { namePrefix, stackLabel, backendNetwork: networks.backend.name, protectData: production };
const postgres = new Postgres("postgres", {
    ...dataService,
    image: cfg.postgres.image,
    database: cfg.postgres.database,
    user: cfg.postgres.user,
    password: cfg.postgresPassword ? config.requireSecret("postgresPassword") : undefined,
    limits: cfg.limits.postgres,
});
const redis = new Redis("redis", {
    ...dataService,
    image: cfg.redis.image,
    password: cfg.redisPassword ? config.requireSecret("redisPassword") : undefined,
    limits: cfg.limits.redis,
});
const proxy = new Nginx("proxy", {
    namePrefix,
    stackLabel,
    image: cfg.proxy.image,
    livePort: cfg.proxy.livePort,
    previewPort: cfg.proxy.previewPort,
    bindAddress: cfg.proxy.bindAddress,
    appPort: cfg.appPort,
    drainSeconds: cfg.drainSeconds,
    frontendNetwork: networks.frontend.name,
    limits: cfg.limits.proxy,
});

const slots: Partial<Record<(typeof COLOURS)[number], Slot>> = {};
for (const colour of release.declared) {
    slots[colour] = new Slot(`app-${colour}`, {
        namePrefix,
        stackLabel,
        colour,
        image: cfg.slots[colour]!.image,
        replicas: cfg.replicas,
        appPort: cfg.appPort,
        health: cfg.health,
        drainSeconds: cfg.drainSeconds,
        fingerprint: release.fingerprints[colour]!,
        databaseUrl: postgres.url,
        redisUrl: redis.url,
        frontendNetwork: networks.frontend.name,
        backendNetwork: networks.backend.name,
        proxyContainerName,
        proxyReady: proxy.config,
        limits: cfg.limits.app,
        dataServices: [postgres.container, redis.container],
    });
}

new Switch("switch", {
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
});

export const liveColor = release.live;
export const liveImage = cfg.slots[release.live]!.image;
export const idleColor = release.idle;
export const idleState = release.idleState;
export const idleImage = slots[release.idle]?.image ?? null;
export const liveUrl = proxy.liveUrl;
export const previewUrl = proxy.previewUrl;
export const releaseSummary = describePlan(release);
