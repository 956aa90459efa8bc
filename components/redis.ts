import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { DataServiceArgs, dataVolume, dockerLabels, Limits, limitArgs, servicePassword } from "../lib/naming";

export interface RedisArgs extends DataServiceArgs {
    /** Memory (MB) and CPU limits. Defaults to 128 MB and 0.5 CPU. */
    limits?: Limits;
}

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
        const password = servicePassword(name, args.password, this);
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
                healthcheck: {
                    tests: ["CMD-SHELL", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'],
                    interval: "2s",
                    timeout: "3s",
                    retries: 30,
                    startPeriod: "2s",
                },
                wait: true,
                waitTimeout: 60,
                restart: "unless-stopped",
                stopTimeout: 15,
                labels: dockerLabels({ stack: args.stackLabel, role: "redis" }),
                ...limitArgs(args.limits ?? { memoryMb: 128, cpus: 0.5 }),
            },
            { parent: this, protect: args.protectData ?? false },
        );
        this.url = pulumi.secret(pulumi.interpolate`redis://:${password}@${this.host}:6379/0`);
        this.registerOutputs({ url: this.url, volume: this.volume.name });
    }
}
