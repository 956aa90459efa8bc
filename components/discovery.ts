// What every Docker host of a stack runs now, read before BlueGreenApp
// registers anything. A Pulumi program cannot read its previous state
// synchronously, so the hosts themselves are the record (lib/host.ts): the
// route, the retire ledger, the slots, the networks. From them come each
// host's release plan and addressing, and the refusals that must come before
// anything is declared: an unreachable host, another stack's objects under
// this stack's names, a restore in progress, a data host that would move.
import * as pulumi from "@pulumi/pulumi";
import { Addressing, decideAddressing } from "../lib/addressing";
import { collisionMessage } from "../lib/collisions";
import { DEFAULTS, SwitchyardConfig } from "../lib/config";
import { ConfigError } from "../lib/configerrors";
import { dockerCliEnv } from "../lib/dockerhost";
import { dockerTlsName, pruneDockerTls, writeDockerTls } from "../lib/dockertls";
import { HostState, readHostStates } from "../lib/host";
import { dataHostIndex, StackHost, stackHosts } from "../lib/hosts";
import { stackNames } from "../lib/naming";
import { planRelease, ReleasePlan } from "../lib/release";
import { refusedAs } from "../lib/stackconfig";
import { keepsSuperuserApp, POSTGRES_SUPERUSER } from "./postgres";

/** One host of the stack, as read now: how to reach it, what it runs, its plan. */
export interface HostTarget extends StackHost {
    /** The docker CLI's environment for this host (DOCKER_HOST, and a tcp:// host's TLS files). */
    env: NodeJS.ProcessEnv;
    state: HostState;
    plan: ReleasePlan;
    addressing: Addressing;
}

export interface Discovery {
    stack: string;
    stackLabel: string;
    namePrefix: string;
    proxyContainerName: string;
    targets: HostTarget[];
    /** Index in targets of the host with Postgres, Redis and the backups. */
    dataAt: number;
}

/**
 * Reads every host of the stack and decides its plan. A tcp:// host's client
 * material is written first (the docker CLI reads it from files), and a host
 * that left the config has its material removed.
 */
export function discoverHosts(cfg: SwitchyardConfig, name: string, dockerHost: string | undefined, allowDelete: Set<string>): Discovery {
    const stack = pulumi.getStack();
    const { stackLabel, namePrefix, proxyContainer: proxyContainerName } = stackNames(pulumi.getProject(), stack);
    const hosts = refusedAs(() => stackHosts(cfg, name, dockerHost)).map((h) => {
        const tls = h.name ? cfg.hostsTls?.[h.name] : undefined;
        const endpoint = tls ? { ...h.endpoint, tls: dockerTlsName(namePrefix, h.name!) } : h.endpoint;
        if (tls) refusedAs(() => writeDockerTls(endpoint.tls!, tls));
        return { ...h, endpoint, env: dockerCliEnv(endpoint) };
    });
    // Every host at once: over ssh:// each read is a round trip to another machine.
    const states = refusedAs(() => readHostStates(stackLabel, proxyContainerName, hosts.map((h) => h.env)));
    const targets = hosts.map((h, i): HostTarget => {
        const { endpoint, env } = h;
        const state = states[i];
        const where = h.name ? `host ${h.name}` : "the Docker host";
        if (state.foreign?.length) throw new pulumi.RunError(`switchyard: ${collisionMessage(state.foreign, namePrefix, stackLabel, where)}`);
        if (state.restoring) refuseUnderRestore(stackLabel, h.name, state.restoring);
        // Fixed addresses for a new stack; what the networks were made with for an existing one.
        const addressing = refusedAs(() => decideAddressing(state.networks, h.networkPool, `${namePrefix}/${h.name ?? ""}`, allowDelete.has("network")));
        return { ...h, endpoint, env, state, plan: planRelease(cfg, state), addressing };
    });
    // A host that left hosts (or hostsTls) leaves no client key behind.
    refusedAs(() => pruneDockerTls(namePrefix, targets.filter((t) => t.endpoint.tls).map((t) => t.name!)));
    const dataAt = dataHostIndex(cfg);
    refusedAs(() => refuseDataMove(cfg, targets, dataAt, namePrefix));
    refusedAs(() => refuseSuperuserRole(cfg, targets[dataAt].state, stack));
    return { stack, stackLabel, namePrefix, proxyContainerName, targets, dataAt };
}

/**
 * A restore replaces the database under maintenance (ops/restorelock.ts): an
 * update now could migrate or switch under it. A preview only warns.
 */
function refuseUnderRestore(stackLabel: string, host: string | undefined, holder: string): void {
    const text = `a restore of stack ${stackLabel} is running${host ? ` (host ${host})` : ""}: ${holder}. Wait until npm run restore has finished`;
    if (!pulumi.runtime.isDryRun()) throw new pulumi.RunError(`switchyard: ${text}, then run pulumi up again. Nothing was created or changed.`);
    pulumi.log.warn(`switchyard: ${text} before you run pulumi up.`);
}

/**
 * The app's role cannot be named as the superuser a new Postgres is
 * initialised with (components/postgres.ts); a stack whose app already
 * connects as a superuser of that name keeps it.
 */
function refuseSuperuserRole(cfg: SwitchyardConfig, data: HostState, stack: string): void {
    const user = cfg.postgres.user;
    if (cfg.postgresUrl || user !== POSTGRES_SUPERUSER || keepsSuperuserApp(data.postgresUser, user)) return;
    throw new ConfigError(
        [`switchyard:postgres.user = "${user}": is the name of Postgres's superuser, and the app connects as a role that owns its database only. Allowed: another lower-case SQL identifier (default "${DEFAULTS.user}")`],
        stack,
    );
}

/**
 * Postgres stays where it is: when the stack's Postgres container runs on
 * another host than data.host names, the update stops before anything is
 * declared. Moving a database is a dump and a restore, not a config change.
 */
function refuseDataMove(cfg: SwitchyardConfig, targets: (StackHost & { state: HostState })[], dataAt: number, namePrefix: string): void {
    if (cfg.postgresUrl || targets.length < 2) return;
    const holder = targets.findIndex((t, i) => i !== dataAt && t.state.postgresHealthcheck !== undefined);
    if (holder < 0) return;
    const asked = cfg.data?.host === undefined ? `data.host is unset (the first host, ${targets[0].name})` : `data.host = "${cfg.data.host}"`;
    throw new Error(
        `switchyard:${asked}, but this stack's Postgres (${namePrefix}-postgres) is on host ${targets[holder].name}: ` +
            `the data host cannot move while Postgres is there. Allowed: data.host "${targets[holder].name}"` +
            `${holder === 0 ? " (or unset)" : ""}; to move the database, dump it (npm run backups), give it a Postgres elsewhere and restore it there`,
    );
}
