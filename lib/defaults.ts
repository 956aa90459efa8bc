// The names and defaults every part of Switchyard shares: the config's
// namespace and secret keys, the colours, the names Switchyard reserves, and
// every default value, defined once (the config schema fills them in, the
// components use them when their args leave a field out).
import { DEFAULT_ADDRESS_POOL } from "./addressing";

export const NAMESPACE = "switchyard";
export const COLOURS = ["blue", "green"] as const;
export type Colour = (typeof COLOURS)[number];
export const ENVIRONMENTS = ["local", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/**
 * Keys that must be set with `pulumi config set --secret` (notify holds the
 * webhook URL, slotSecrets the app's secret variables). Every other key is a
 * plain setting: one that Pulumi holds as a secret is refused, because its
 * value would reach state and resource inputs in plaintext.
 */
export const SECRET_KEYS = ["postgresPassword", "redisPassword", "notify", "slotSecrets", "appSecrets", "registryPassword", "tls", "postgresUrl", "redisUrl", "hostsTls", "acmeEabHmacKey"] as const;
/** Secret keys whose value is an object (JSON), not text. */
export const SECRET_OBJECT_KEYS: readonly string[] = ["notify", "slotSecrets", "appSecrets", "tls", "hostsTls"];

/** Variables Switchyard sets in every app container; config may not set them. */
export const RESERVED_ENV = ["PORT", "DATABASE_URL", "REDIS_URL"] as const;
export const RESERVED_ENV_PREFIX = "SWITCHYARD_";
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A process type's name (the `processes` key): part of its containers' names. */
export const PROCESS_NAME_RE = /^[a-z][a-z0-9]{0,19}$/;

/** Methods an app may mark idempotent (proxy.idempotentMethods); GET, HEAD and OPTIONS always are. */
export const RETRIABLE_METHODS = ["PUT", "DELETE", "POST", "PATCH"] as const;
export type RetriableMethod = (typeof RETRIABLE_METHODS)[number];

export function otherColour(c: Colour): Colour {
    return c === "blue" ? "green" : "blue";
}

/**
 * Every default, defined once: the config schema fills them in, and the
 * components use the same values when their args leave a field out.
 */
export const DEFAULTS = {
    replicas: 2,
    standby: "retire",
    appPort: 3000,
    healthPath: "/health",
    verifyRequests: 5,
    // Off: a release is promoted once verify passes, as before the bake existed.
    bake: { seconds: 0, maxErrorPercent: 1, minRequests: 50 },
    drainSeconds: 15,
    // Each canary step's window: long enough for a few checks (every 2 s) under modest traffic.
    canaryStepSeconds: 30,
    proxyImage: "nginx:1.27-bookworm",
    // What a framework app needs from its proxy (README, "The proxy: what your app sees").
    proxy: { maxBodyMb: 25, readTimeoutSeconds: 75, sendTimeoutSeconds: 60, streamTimeoutSeconds: 3600, upstreamKeepaliveSeconds: 0.25 },
    addressPool: DEFAULT_ADDRESS_POOL,
    // Let's Encrypt's production directory; certbot's image, which runs the renewals.
    acmeDirectoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
    acmeImage: "certbot/certbot:v2.11.0",
    // Any image with node (18 or later) runs the metrics sidecar: it is one file of Node's own modules.
    metricsImage: "node:20-bookworm-slim",
    acmeCheckSeconds: 3600,
    livePort: 8080,
    previewPort: 8081,
    bindAddress: "127.0.0.1",
    tlsPort: 8443,
    previewTlsPort: 8444,
    postgresImage: "postgres:16-bookworm",
    database: "app",
    user: "app",
    // Postgres's own default max_connections, and the pool of one replica of the
    // sample app (node-postgres's default; HikariCP's too).
    postgresMaxConnections: 100,
    connectionsPerReplica: 10,
    redisImage: "redis:7-bookworm",
    redisUser: "redis",
    limits: {
        app: { memoryMb: 256, cpus: 0.5 },
        proxy: { memoryMb: 128, cpus: 0.5 },
        postgres: { memoryMb: 512, cpus: 1 },
        redis: { memoryMb: 128, cpus: 0.5 },
    },
    dataPorts: { postgres: 5432, redis: 6379 },
    rolloutBatchSize: 1,
    backupsKeep: 10,
    migrationTimeoutSeconds: 600,
} as const;

/** The most hosts one stack spans. */
export const MAX_HOSTS = 10;

/** An image is pinned when it has a digest, or a tag that is not `latest`. */
export function isPinned(ref: string): boolean {
    if (ref.includes("@sha256:")) return true;
    const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
    const colon = lastSegment.indexOf(":");
    return colon >= 0 && lastSegment.slice(colon + 1) !== "latest";
}
