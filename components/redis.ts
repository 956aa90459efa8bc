import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerOptions, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DataServiceArgs, dataNetworking, dataVolume, servicePassword, urlAddress } from "../lib/dataservice";
import { DEFAULTS } from "../lib/config";
import { ALLOW_ENV, GuardedRole } from "../lib/guard";
import { runsAsRoot } from "../lib/production";
import { DATA_TLS, tlsRedisUrl } from "../lib/datatls";

export interface RedisArgs extends DataServiceArgs {
    /** Memory (MB) and CPU limits. Defaults to 128 MB and 0.5 CPU. */
    limits?: Limits;
    /**
     * The user Redis runs as. Defaults to "redis" (the Debian and official
     * images' user): those images start as root and drop privileges only for a
     * bare `redis-server` command, which REDIS_COMMAND is not. `null`: none
     * given, the image's own, which a Redis created that way keeps
     * (keepsRootRedis) until its re-creation is allowed.
     */
    user?: string | null;
}

/**
 * Whether Redis keeps running as the root it was created with (`running`, the
 * user of the container there now, from the host probe; "" is the image's,
 * root for most Redis images): a new user re-creates the container, and
 * upgrading Switchyard must not, by itself, take Redis down. Unless this update
 * may re-create it (SWITCHYARD_ALLOW_DELETE=redis).
 */
export function keepsRootRedis(running: string | undefined, allowDelete: ReadonlySet<GuardedRole>): boolean {
    return running !== undefined && runsAsRoot(running) && !allowDelete.has("redis");
}

export function rootRedisWarning(stack: string, namePrefix: string): string {
    return `switchyard ${stack}: Redis (${namePrefix}-redis) keeps running as root, the user it was created with. ` +
        `Redis needs no privileges (redis.user, default redis). Docker cannot change a container's user in place: ` +
        `re-create it once, at a quiet time, with ${ALLOW_ENV}=redis pulumi up (the data volume stays; Redis is down for a few seconds; ` +
        `files root wrote there must belong to that user first: docker run --rm -v ${namePrefix}-redisdata:/data --user root <redis image> chown -R redis: /data).`;
}

/**
 * The Redis container's command. The password reaches redis-server as config
 * on its standard input (`redis-server -`, a here-document: no file, no
 * argument), quoted for Redis's config parser, so it is never on a command
 * line: not in `ps` on the host, not in `docker inspect`'s Cmd or Args.
 */
export const REDIS_COMMAND = [
    "sh",
    "-c",
    'p=$(printf "%s" "$REDIS_PASSWORD" | sed \'s/[\\\\"]/\\\\&/g\'); exec redis-server - --appendonly yes --dir /data <<EOF\nrequirepass "$p"\nEOF\n',
];

/**
 * REDIS_COMMAND with TLS on DATA_TLS.redisTlsPort once the certificate is in
 * the volume (the data-tls step also turns it on at runtime, so the first
 * start needs no restart). The clear port stays, for the backend network.
 */
export const REDIS_TLS_COMMAND = [
    "sh",
    "-c",
    `d=${DATA_TLS.redisDir}; t=; [ ! -f $d/server.crt ] || t="--tls-port ${DATA_TLS.redisTlsPort} --tls-cert-file $d/server.crt --tls-key-file $d/server.key --tls-ca-cert-file $d/server.crt --tls-auth-clients no"; ` +
        REDIS_COMMAND[2].replace("--dir /data", "--dir /data $t"),
];

/** Seconds Redis gets to shut down (it writes its append-only file on SIGTERM). */
const REDIS_STOP_GRACE = 15;

/** Shared Redis with a password and append-only persistence on a named volume. */
export class Redis extends pulumi.ComponentResource {
    /** Host name the app slots use on the backend network. */
    public readonly host = "redis";
    public readonly container: docker.Container;
    public readonly volume: docker.Volume;
    /** redis://:password@redis:6379/0, secret. */
    public readonly url: pulumi.Output<string>;
    /** The same Redis at its published address (data.address), for the stack's other hosts; secret. Only with `publish`. */
    public readonly publishedUrl?: pulumi.Output<string>;

    constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:data:Redis", name, {}, opts);
        const password = servicePassword(name, args, this);
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? DEFAULTS.redisImage, keepLocally: true }, { parent: this });
        this.volume = dataVolume(`${name}-data`, `${args.namePrefix}-redisdata`, args, this);
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-redis`,
                image: image.imageId,
                // The password comes from the environment and goes in as config
                // on stdin (REDIS_COMMAND), never as an argument.
                envs: pulumi.secret(pulumi.interpolate`REDIS_PASSWORD=${password}`).apply((p) => [p]),
                command: args.publish?.tls ? REDIS_TLS_COMMAND : REDIS_COMMAND,
                user: args.user === null ? undefined : (args.user ?? DEFAULTS.redisUser),
                mounts: [{ type: "volume", source: this.volume.name, target: "/data" }],
                ...dataNetworking(args, this.host, args.publish?.tls ? DATA_TLS.redisTlsPort : 6379),
                // Shell form, for the password from the environment. A check that times
                // out leaves its redis-cli to PID 1, redis-server, which (unlike Postgres's
                // postmaster) does not take a child it did not start for a crash.
                healthcheck: healthcheck('REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG', 2, 3, 30, 2),
                wait: true,
                waitTimeout: 60,
                labels: dockerLabels({ stack: args.stackLabel, role: "redis" }),
                ...lifecycleArgs(REDIS_STOP_GRACE),
                ...limitArgs(args.limits ?? DEFAULTS.limits.redis, args.daemon ?? { swapLimit: true }),
            },
            containerOptions({ parent: this, protect: args.protectData ?? false, hooks: args.guard?.binding("redis") }),
        );
        // Percent-encoded: a password with @ / # ? must not change the URL's meaning.
        const at = (address: string, port: number) => pulumi.secret(pulumi.interpolate`redis://:${password.apply(encodeURIComponent)}@${address}:${port}/0`);
        this.url = at(args.address ?? this.host, 6379);
        if (args.publish) {
            // Over TLS by the name in the certificate (lib/datatls.ts), else by the address.
            this.publishedUrl = args.publish.tls
                ? pulumi.secret(at(DATA_TLS.hostName, args.publish.port).apply(tlsRedisUrl))
                : at(urlAddress(args.publish.address), args.publish.port);
        }
        this.registerOutputs({ url: this.url, volume: this.volume.name });
    }
}
