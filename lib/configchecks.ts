// Checks across fields of the config (lib/config.ts runs them after each
// field passed its own): the proxy's host names against the gate's Host and
// ACME, the hosts and their data host, and Postgres's connection budget. Plus
// the small derivations the components share (HTTPS or not, the gate's Host).
import { z } from "zod";
import { MAX_REPLICAS_ADDRESSED } from "./addressing";
import type { HostSettings } from "./config";
import { dataAddressProblem } from "./dataaddress";
import { DEFAULTS } from "./defaults";
import { hostMatches } from "./netrules";

/** Whether the proxy serves HTTPS: with a certificate from config, or from ACME. */
export function servesHttps(c: { tls?: unknown; acme?: unknown }): boolean {
    return c.tls !== undefined || c.acme !== undefined;
}

/** The names on the ACME certificate: acme.hostnames, else proxy.hostnames. */
export function acmeHostnames(c: { acme?: { hostnames?: string[] }; proxy: { hostnames: string[] } }): string[] {
    return c.acme?.hostnames ?? c.proxy.hostnames;
}

/** The Host the gate and verify send: health.host, else the first host name that is not a wildcard. */
export function healthHost(c: { health: { host?: string }; proxy: { hostnames: string[] } }): string | undefined {
    return c.health.host ?? c.proxy.hostnames.find((h) => !h.startsWith("*."));
}

/** The X-Forwarded-Proto the gate and verify send. */
export function healthProto(c: { health: { forwardedProto?: "http" | "https" }; tls?: unknown; acme?: unknown }): "http" | "https" {
    return c.health.forwardedProto ?? (servesHttps(c) ? "https" : "http");
}

/** Host names, the gate's Host, ACME against TLS and the host names, replicas within the fixed addresses. */
export function proxyProblems(
    c: {
        proxy: { hostnames: string[]; maxBodyMb: number };
        health: { host?: string };
        acme?: { hostnames?: string[]; eabKid?: string };
        acmeEabHmacKey?: string;
        tls?: unknown;
        replicas: number;
        hosts?: unknown[];
    },
    ctx: z.RefinementCtx,
) {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    const names = c.proxy.hostnames;
    if (names.length && c.health.host !== undefined && !hostMatches(c.health.host.split(":")[0], names)) {
        issue(["health", "host"], `is not one of proxy.hostnames (${names.join(", ")}): the proxy would answer the verify step 421`);
    }
    if (names.length && c.health.host === undefined && names.every((n) => n.startsWith("*."))) {
        issue(["health", "host"], `is required: proxy.hostnames has only wildcards (${names.join(", ")}), so name the host the gate and verify send`);
    }
    if (c.acme) {
        if (c.tls) issue(["acme"], "and tls are both set: the certificate comes from one of them; remove tls to use ACME, or acme to keep the certificate from config");
        if ((c.hosts?.length ?? 1) > 1) {
            issue(["acme"], "is for one host: with several behind a load balancer, the CA's HTTP-01 request reaches whichever host it picks, not the one that asked; terminate TLS at the load balancer, or give the hosts a certificate from config (tls)");
        }
        const acmeNames = c.acme.hostnames ?? names;
        if (!acmeNames.length) issue(["acme", "hostnames"], "is required: name the host names on the certificate (or set proxy.hostnames)");
        for (const [i, n] of acmeNames.entries()) {
            if (n.startsWith("*.")) issue(["acme", "hostnames", i], "is a wildcard, which HTTP-01 cannot validate; list each name");
            else if (names.length && !hostMatches(n, names)) issue(["acme", "hostnames", i], `is not one of proxy.hostnames (${names.join(", ")}): the proxy would refuse its own certificate's name`);
        }
        if ((c.acme.eabKid === undefined) !== (c.acmeEabHmacKey === undefined)) {
            issue(c.acme.eabKid === undefined ? ["acme", "eabKid"] : ["acmeEabHmacKey"], "and acmeEabHmacKey go together (external account binding needs the key id and its HMAC key)");
        }
    } else if (c.acmeEabHmacKey !== undefined) {
        issue(["acmeEabHmacKey"], "is only for acme (external account binding)");
    }
    if (c.replicas > MAX_REPLICAS_ADDRESSED) issue(["replicas"], `must be <= ${MAX_REPLICAS_ADDRESSED} (each colour has that many fixed addresses)`);
}

/** Hosts: unique names and engines; data.address with two or more, and only then; nothing the data address publishes to everyone. */
export function hostProblems(
    c: {
        hosts?: HostSettings[];
        hostsTls?: Record<string, unknown>;
        data?: { host?: string; address: string; postgresPort: number; redisPort: number; allowPublicAddress: boolean };
        proxy: { livePort: number; previewPort: number };
        postgresUrl?: string;
        redisUrl?: string;
    },
    ctx: z.RefinementCtx,
) {
    const hosts = c.hosts ?? [];
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    hosts.forEach((h, i) => {
        const tcp = h.dockerHost.startsWith("tcp://");
        if (tcp && !c.hostsTls?.[h.name]) {
            issue(["hosts", i, "dockerHost"], `is a TCP engine, which needs TLS: set its client material with pulumi config set --secret --path 'hostsTls["${h.name}"].ca' < ca.pem (and .certificate, .key)`);
        }
        const firstName = hosts.findIndex((o) => o.name === h.name);
        if (firstName < i) issue(["hosts", i, "name"], `is also hosts[${firstName}].name; every host needs a name of its own`);
        const firstEngine = hosts.findIndex((o) => o.dockerHost === h.dockerHost);
        if (firstEngine < i) issue(["hosts", i, "dockerHost"], `is also hosts[${firstEngine}].dockerHost; two hosts on one engine would overwrite each other's containers`);
        const live = h.livePort ?? c.proxy.livePort;
        if ((h.previewPort ?? c.proxy.previewPort) === live) issue(["hosts", i, "previewPort"], "must differ from this host's live port");
    });
    for (const name of Object.keys(c.hostsTls ?? {})) {
        const h = hosts.find((o) => o.name === name);
        if (!h) issue(["hostsTls", name], `names no host of hosts (${hosts.map((o) => o.name).join(", ") || "none"}): TLS material is for a tcp:// host`);
        else if (!h.dockerHost.startsWith("tcp://")) issue(["hostsTls", name], `is for a tcp:// host; ${name} is reached as ${h.dockerHost}, which carries its own authentication`);
    }
    // With both services external there is nothing on the data host to publish.
    const runsData = !(c.postgresUrl && c.redisUrl);
    if (hosts.length > 1 && runsData && !c.data) {
        issue(["data", "address"], "is required with two or more hosts: the address of the data host (the first, or data.host) where the others reach Postgres and Redis, such as 10.0.0.11 (or give both postgresUrl and redisUrl)");
    }
    if (c.data && hosts.length < 2) issue(["data"], "is only for two or more hosts: with one host, Postgres and Redis stay on its internal network and are published nowhere");
    else if (c.data && !runsData) issue(["data"], "is not needed: postgresUrl and redisUrl are both set, so no data service runs on a host of the stack to publish");
    else if (c.data?.host !== undefined && !hosts.some((h) => h.name === c.data!.host)) {
        issue(["data", "host"], `names no host of hosts (${hosts.map((h) => h.name).join(", ")}): Postgres and Redis run on one of the stack's hosts`);
    }
    if (c.data && c.data.postgresPort === c.data.redisPort) issue(["data", "redisPort"], "must differ from data.postgresPort");
    const addressProblem = c.data && dataAddressProblem(c.data.address, c.data.allowPublicAddress);
    if (addressProblem) issue(["data", "address"], addressProblem);
}

/** Connections the backup step and the migrations open besides the app's. */
const OPS_CONNECTIONS = 5;

/**
 * Postgres's connection budget. During a release both colours run on every host,
 * and each replica may hold its whole pool: over max_connections, Postgres answers
 * "sorry, too many clients already" to live requests (a three-host CI run saw it).
 * A managed server's limit is only known when postgres.maxConnections names it.
 */
export function connectionProblems(
    c: { hosts?: HostSettings[]; replicas: number; postgres: { maxConnections?: number; connectionsPerReplica: number }; postgresUrl?: string; processes?: Record<string, { replicas?: number }> },
    ctx: z.RefinementCtx,
) {
    if (c.postgresUrl && c.postgres.maxConnections === undefined) return;
    const max = c.postgres.maxConnections ?? DEFAULTS.postgresMaxConnections;
    const hosts = Math.max(1, c.hosts?.length ?? 0);
    const perReplica = c.postgres.connectionsPerReplica;
    // Workers and schedulers run on the first host only, both colours during a switch, each with the app's pool.
    const processReplicas = Object.values(c.processes ?? {}).reduce((n, p) => n + (p.replicas ?? 1), 0);
    const need = (hosts * c.replicas + processReplicas) * 2 * perReplica + OPS_CONNECTIONS;
    if (need <= max) return;
    const onHosts = `${hosts} host${hosts === 1 ? "" : "s"}`;
    const containers = processReplicas
        ? `(${onHosts} × ${c.replicas} replicas + ${processReplicas} process containers) × 2 colours`
        : `${onHosts} × 2 colours × ${c.replicas} replicas`;
    const given = c.postgres.maxConnections === undefined ? `is not set (Postgres's default ${max})` : `is ${max}`;
    ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["postgres", "maxConnections"],
        message:
            `${given}, fewer than a release needs: both colours run on every host, ${containers} × ` +
            `${perReplica} connections (postgres.connectionsPerReplica) + ${OPS_CONNECTIONS} for the backup and the migrations = ${need}; ` +
            `set postgres.maxConnections to at least ${need} (and limits.postgres.memoryMb for it), or postgres.connectionsPerReplica to your app's pool size`,
    });
}
