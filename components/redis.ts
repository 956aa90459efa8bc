import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerOptions, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DataServiceArgs, dataVolume, servicePassword } from "../lib/dataservice";

export interface RedisArgs extends DataServiceArgs {
    /** Memory (MB) and CPU limits. Defaults to 128 MB and 0.5 CPU. */
    limits?: Limits;
}

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

    constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:data:Redis", name, {}, opts);
        const password = servicePassword(name, args, this);
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? "redis:7-bookworm", keepLocally: true }, { parent: this });
        this.volume = dataVolume(`${name}-data`, `${args.namePrefix}-redisdata`, args, this);
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-redis`,
                image: image.imageId,
                // The password is read from the environment at start, so it is in
                // neither the command line nor `docker inspect`'s Cmd.
                envs: pulumi.secret(pulumi.interpolate`REDIS_PASSWORD=${password}`).apply((p) => [p]),
                command: ["sh", "-c", 'exec redis-server --requirepass "$REDIS_PASSWORD" --appendonly yes --dir /data'],
                mounts: [{ type: "volume", source: this.volume.name, target: "/data" }],
                networksAdvanced: [{ name: args.backendNetwork, aliases: [this.host] }],
                healthcheck: healthcheck('REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG', 2, 3, 30, 2),
                wait: true,
                waitTimeout: 60,
                labels: dockerLabels({ stack: args.stackLabel, role: "redis" }),
                ...lifecycleArgs(REDIS_STOP_GRACE),
                ...limitArgs(args.limits ?? { memoryMb: 128, cpus: 0.5 }, args.daemon ?? { swapLimit: true }),
            },
            containerOptions({ parent: this, protect: args.protectData ?? false, hooks: args.guard?.binding("redis") }),
        );
        this.url = pulumi.secret(pulumi.interpolate`redis://:${password}@${this.host}:6379/0`);
        this.registerOutputs({ url: this.url, volume: this.volume.name });
    }
}
