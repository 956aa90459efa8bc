// What Postgres and Redis have in common: shared, stateful, on the backend
// network only, a password that must not change by accident, a named volume.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";
import { DaemonFacts, Limits } from "./containers";
import { DeleteGuard } from "./guard";

export interface DataServiceArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** Image reference. Defaults to the official image of the service. */
    image?: string;
    /** Password; a secret. Defaults to a generated 32-character password kept secret in state. */
    password?: pulumi.Input<string>;
    /** Internal network shared with the app slots on this host. */
    backendNetwork: pulumi.Input<string>;
    /**
     * A fixed address on the backend network (lib/addressing.ts): the app's URL
     * names it, so reaching the service needs no DNS (an engine restart takes
     * Docker's DNS away for seconds). Defaults to none: the alias only.
     */
    address?: string;
    /**
     * For a stack of several hosts: published on this address and port, from
     * the `data` network, for the app hosts. Defaults to none: published nowhere.
     */
    publish?: DataPublish;
    /** Memory (MB) and CPU limits. Defaults differ per service. */
    limits?: Limits;
    /** Protect the container, its volume and its password from deletion (production). Defaults to false. */
    protectData?: boolean;
    /** What the daemon enforces (swap limits). Defaults to swap limits enforced. */
    daemon?: DaemonFacts;
    /** Refuses deleting the container and the volume. Defaults to no guard. */
    guard?: DeleteGuard;
}

export interface DataPublish {
    /** The `data` network (not internal) the published port comes from. */
    network: pulumi.Input<string>;
    /** The host's address on the network its app hosts share (data.address). */
    address: string;
    /** Host port (data.postgresPort or data.redisPort). */
    port: number;
    /**
     * TLS (engine/data-tls.ts): the other hosts' URL asks for it and checks
     * the stack's certificate, and Redis publishes its TLS port. False for a
     * stack made before TLS until it is moved (lib/datatls.ts keepsClearData).
     */
    tls: boolean;
}

/** The container's networks and ports: the backend alias always, the published port (`containerPort` inside) only when asked. */
export function dataNetworking(args: DataServiceArgs, alias: string, containerPort: number) {
    const backend = { name: args.backendNetwork, aliases: [alias], ...(args.address ? { ipv4Address: args.address } : {}) };
    if (!args.publish) return { networksAdvanced: [backend] };
    return {
        networksAdvanced: [backend, { name: args.publish.network }],
        ports: [{ internal: containerPort, external: args.publish.port, ip: args.publish.address, protocol: "tcp" }],
    };
}

/** The address part of a URL: IPv6 in brackets. */
export function urlAddress(address: string): string {
    return address.includes(":") ? `[${address}]` : address;
}

/**
 * The configured password, or a generated one; secret either way. A change
 * to the generator's settings must not mint a new password — the data
 * directory keeps the old one and every client would be locked out — so its
 * inputs are ignored after creation; rotating is a deliberate act.
 */
export function servicePassword(name: string, args: DataServiceArgs, parent: pulumi.Resource): pulumi.Output<string> {
    if (args.password) return pulumi.secret(args.password);
    return new random.RandomPassword(
        `${name}-password`,
        { length: 32, special: false },
        { parent, protect: args.protectData ?? false, ignoreChanges: ["length", "special", "upper", "lower", "numeric", "minUpper", "minLower", "minNumeric", "minSpecial", "overrideSpecial", "keepers"] },
    ).result;
}

/** A named volume for a data service; protect makes deleting it a deliberate act. */
export function dataVolume(name: string, volumeName: string, args: DataServiceArgs, parent: pulumi.Resource): docker.Volume {
    return new docker.Volume(
        name,
        { name: volumeName, labels: [{ label: "switchyard.stack", value: args.stackLabel }] },
        { parent, protect: args.protectData ?? false, hooks: args.guard?.binding("volume") },
    );
}

/** A managed Postgres's postgres:// URL as libpq's environment (PGHOST ...): how pg_dump, pg_restore and psql reach it without the URL on a command line. */
export function postgresServer(raw: string): { host: string; port: number; user: string; password: string; database: string; sslmode?: string } {
    const url = new URL(raw);
    return {
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || 5432),
        user: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
        database: decodeURIComponent(url.pathname.slice(1)),
        sslmode: url.searchParams.get("sslmode") ?? undefined,
    };
}

/**
 * The role that owns the app's database, as a shell word inside the stack's
 * Postgres container: SWITCHYARD_APP_ROLE, or for stacks whose app connects as
 * the superuser (components/postgres.ts), POSTGRES_USER. Restores and checks
 * act as the app would, so what they create the app can use.
 */
export const APP_ROLE_IN_CONTAINER = '"${SWITCHYARD_APP_ROLE:-$POSTGRES_USER}"';
