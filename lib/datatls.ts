// TLS for the Postgres and Redis a stack of several hosts publishes on
// data.address (engine/data-tls.ts makes and installs the certificate): where
// the files live, what the other hosts' URLs say, and when a stack made before
// keeps its clear connections until the operator moves it.
import { KeyObject, X509Certificate } from "crypto";
import type * as pulumi from "@pulumi/pulumi";
import { ALLOW_ENV, GuardedRole } from "./allowdelete";

export const DATA_TLS = {
    /** In Postgres's data directory (PGDATA, as components/postgres.ts sets it): the key belongs to the postgres user, mode 600. */
    postgresDir: "/var/lib/postgresql/data/switchyard-tls",
    /** In Redis's volume. */
    redisDir: "/data/switchyard-tls",
    /** Redis's TLS port in its container: the published one. Its clear port (6379) stays on the backend network. */
    redisTlsPort: 6380,
    /** A new certificate's lifetime, and how long before its end the step makes the next. */
    validDays: 1825,
    renewDays: 30,
    /**
     * The name the other hosts' URLs give the data host, in each of their
     * containers' /etc/hosts (no DNS), and in the certificate beside
     * data.address. A name, not the address: node-postgres checks an IP host
     * against "localhost", so verify-full fails for every Node app.
     */
    hostName: "switchyard-data",
    /** Where the other hosts' containers find the certificate (their CA file), and the variable that names it. */
    caFile: "/etc/switchyard/data-ca.pem",
    caEnv: "SWITCHYARD_DATA_CA",
} as const;

/** Whether a certificate and key in service may stay: a pair, for this address and DATA_TLS.hostName, valid for more than renewDays. */
export function certificateUsable(certificate: string, key: KeyObject, address: string, now = new Date()): boolean {
    try {
        const x = new X509Certificate(certificate);
        return x.checkPrivateKey(key) && x.checkIP(address) !== undefined && x.checkHost(DATA_TLS.hostName) !== undefined && new Date(x.validTo).getTime() - now.getTime() > DATA_TLS.renewDays * 86_400_000 && new Date(x.validFrom) <= now;
    } catch {
        return false;
    }
}

/** The certificate the data-tls step printed last (its output's last PEM block); "" when there is none. */
export function certificateFromOutput(stdout: string): string {
    const blocks = stdout.match(/-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----\n?/g);
    if (!blocks) return "";
    const last = blocks[blocks.length - 1];
    return last.endsWith("\n") ? last : `${last}\n`;
}

/** A published Postgres URL as the other hosts use it (at DATA_TLS.hostName): TLS, the server checked against the stack's certificate and its name. */
export function tlsDatabaseUrl(url: string): string {
    return `${url}?sslmode=verify-full&sslrootcert=${DATA_TLS.caFile}`;
}

/** A published Redis URL as the other hosts use it (at DATA_TLS.hostName): rediss:// (TLS). Clients take the CA from SWITCHYARD_DATA_CA. */
export function tlsRedisUrl(url: string): string {
    if (!url.startsWith("redis://")) throw new Error("a published Redis URL starts with redis://");
    return `rediss://${url.slice("redis://".length)}`;
}

/**
 * Whether the published services of a stack made before stay in clear: yes
 * while its Redis runs without TLS (`redisTls` false, from the host probe),
 * unless this update may re-create it. Turning TLS on changes Redis's command
 * and published port and every other host's URLs, so it re-creates Redis and
 * the colours there: a move the operator makes once, at a quiet time.
 */
export function keepsClearData(redisTls: boolean | undefined, allowDelete: ReadonlySet<GuardedRole>): boolean {
    return redisTls === false && !allowDelete.has("redis");
}

/** What a container on another host needs to reach the published services over TLS: the certificate and data.address. */
export interface DataTlsAccess {
    /** The certificate (PEM), the data-tls step's output. */
    ca: pulumi.Input<string>;
    /** data.address, where DATA_TLS.hostName points. */
    address: string;
}

/**
 * A container's part of it: the certificate as a file (DATA_TLS.caFile), and
 * DATA_TLS.hostName as an /etc/hosts line (docker's extra host: no DNS).
 */
export function dataTlsContainerArgs(access: DataTlsAccess) {
    return { uploads: [{ file: DATA_TLS.caFile, content: access.ca }], hosts: [{ host: DATA_TLS.hostName, ip: access.address }] };
}

export function clearDataWarning(stack: string, namePrefix: string, dataHost: string): string {
    return (
        `switchyard ${stack}: Postgres and Redis (${namePrefix}-postgres, ${namePrefix}-redis) on ${dataHost} are published to the other hosts in clear, as stacks made before TLS were. ` +
        `Move the stack once, at a quiet time: ${ALLOW_ENV}=redis,live pulumi up --stack ${stack} re-creates Redis with TLS and the colours on the other hosts with TLS URLs ` +
        `(volumes kept; those hosts fail requests until their colours are back: README, "Several hosts").`
    );
}
