// The Docker hosts of a stack, in release order. One host unless the config
// lists several (`hosts`): then the first is the canary, the others follow
// `rollout.batchSize` at a time, and one of them (the first unless data.host
// names another) runs Postgres, Redis and the backups.
import { SwitchyardConfig } from "./config";
import { DockerEndpoint, plainTcpProblem, resolveDockerEndpoint } from "./dockerhost";

export interface StackHost {
    /** hosts[].name; undefined for a one-host stack (no `hosts` in config). */
    name?: string;
    /** Prefix of this host's resource names: the component's own name for the first host, so a one-host stack keeps every name. */
    prefix: string;
    endpoint: DockerEndpoint;
    /** This host's listener ports: hosts[].* where set, else proxy.*. */
    ports: { livePort: number; previewPort: number; tlsPort: number; previewTlsPort: number };
    /** Where this host's networks take their /24s: hosts[].networkPool, else network.pool. */
    networkPool: string;
}

/**
 * The hosts to deploy to. Without `hosts`, the one host `dockerHost` names
 * (then DOCKER_HOST, the docker context, the local socket). With `hosts`,
 * `dockerHost` must be unset: two answers to "where" would be one too many.
 */
export function stackHosts(cfg: SwitchyardConfig, name: string, dockerHost: string | undefined, env: NodeJS.ProcessEnv = process.env): StackHost[] {
    const proxyPorts = { livePort: cfg.proxy.livePort, previewPort: cfg.proxy.previewPort, tlsPort: cfg.proxy.tlsPort, previewTlsPort: cfg.proxy.previewTlsPort };
    if (!cfg.hosts) {
        const endpoint = resolveDockerEndpoint(dockerHost, env);
        const problem = plainTcpProblem(endpoint, env);
        if (problem) throw new Error(problem);
        return [{ prefix: name, endpoint, ports: proxyPorts, networkPool: cfg.network.pool }];
    }
    if (dockerHost) {
        throw new Error(`docker:host = ${JSON.stringify(dockerHost)} and switchyard:hosts are both set: with hosts, each host's dockerHost says where it is; unset docker:host (pulumi config rm docker:host)`);
    }
    return cfg.hosts.map((h, i) => ({
        name: h.name,
        prefix: i === 0 ? name : `${name}-${h.name}`,
        endpoint: { host: h.dockerHost, source: `hosts[${i}]` },
        ports: {
            livePort: h.livePort ?? proxyPorts.livePort,
            previewPort: h.previewPort ?? proxyPorts.previewPort,
            tlsPort: h.tlsPort ?? proxyPorts.tlsPort,
            previewTlsPort: h.previewTlsPort ?? proxyPorts.previewTlsPort,
        },
        networkPool: h.networkPool ?? cfg.network.pool,
    }));
}

/**
 * Host indexes in the order they switch: the canary (0) alone, then the rest
 * `batchSize` at a time. Each batch re-points only after every host of the
 * batch before it passed verify (the canary: its bake too).
 */
export function rolloutBatches(hostCount: number, batchSize: number): number[][] {
    const batches: number[][] = [[0]];
    for (let i = 1; i < hostCount; i += batchSize) {
        batches.push(Array.from({ length: Math.min(batchSize, hostCount - i) }, (_, k) => i + k));
    }
    return batches;
}

/**
 * Which host runs Postgres, Redis and the backups store: data.host's index,
 * else the first (0). The config check has made sure data.host names a host.
 */
export function dataHostIndex(cfg: Pick<SwitchyardConfig, "hosts" | "data">): number {
    const named = cfg.data?.host;
    return named === undefined ? 0 : (cfg.hosts ?? []).findIndex((h) => h.name === named);
}
