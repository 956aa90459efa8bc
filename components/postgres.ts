import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerOptions, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DEFAULTS, SQL_IDENTIFIER_RE } from "../lib/config";
import { DataServiceArgs, dataNetworking, dataVolume, servicePassword, urlAddress } from "../lib/dataservice";

export interface PostgresArgs extends DataServiceArgs {
    /** Database the app uses. Defaults to "app". */
    database?: string;
    /** Role the app connects as. Defaults to "app". */
    user?: string;
    /**
     * Postgres's max_connections. Defaults to the image's own (100), with no
     * command of ours: setting it later re-creates the container once (the volume stays).
     */
    maxConnections?: number;
    /** Memory (MB) and CPU limits. Defaults to 512 MB and 1 CPU. */
    limits?: Limits;
}

/** Seconds Postgres gets to shut down cleanly (a fast shutdown with a checkpoint). */
const POSTGRES_STOP_GRACE = 30;

/** Shared Postgres: one container on the backend network with a named volume. */
export class Postgres extends pulumi.ComponentResource {
    /** Host name the app slots use on the backend network. */
    public readonly host = "postgres";
    public readonly container: docker.Container;
    public readonly volume: docker.Volume;
    /** postgres://user:password@postgres:5432/database, secret. */
    public readonly url: pulumi.Output<string>;
    /** The same database at its published address (data.address), for the stack's other hosts; secret. Only with `publish`. */
    public readonly publishedUrl?: pulumi.Output<string>;
    /** The app role's password, secret (the backup step's pg_dump uses it). */
    public readonly password: pulumi.Output<string>;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:data:Postgres", name, {}, opts);
        const database = args.database ?? DEFAULTS.database;
        const user = args.user ?? DEFAULTS.user;
        if (!SQL_IDENTIFIER_RE.test(database)) throw new pulumi.ResourceError(`postgres.database "${database}" must be a lower-case SQL identifier of at most 63 characters`, this);
        if (!SQL_IDENTIFIER_RE.test(user)) throw new pulumi.ResourceError(`postgres.user "${user}" must be a lower-case SQL identifier of at most 63 characters`, this);

        const password = servicePassword(name, args, this);
        this.password = pulumi.secret(password);
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? DEFAULTS.postgresImage, keepLocally: true }, { parent: this });
        this.volume = dataVolume(`${name}-data`, `${args.namePrefix}-pgdata`, args, this);
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-postgres`,
                image: image.imageId,
                envs: pulumi.secret(pulumi.interpolate`POSTGRES_PASSWORD=${password}`).apply((p) => [
                    `POSTGRES_USER=${user}`,
                    `POSTGRES_DB=${database}`,
                    "PGDATA=/var/lib/postgresql/data",
                    p,
                ]),
                // Exec form: both the official entrypoint and ours pass `postgres -c …` on.
                command: args.maxConnections === undefined ? undefined : ["postgres", "-c", `max_connections=${args.maxConnections}`],
                mounts: [{ type: "volume", source: this.volume.name, target: "/var/lib/postgresql/data" }],
                ...dataNetworking(args, this.host, 5432),
                healthcheck: healthcheck(`pg_isready -h 127.0.0.1 -U ${user} -d ${database}`, 2, 3, 30, 5),
                // The slots must not start before the database answers.
                wait: true,
                waitTimeout: 120,
                labels: dockerLabels({ stack: args.stackLabel, role: "postgres" }),
                ...lifecycleArgs(POSTGRES_STOP_GRACE),
                ...limitArgs(args.limits ?? DEFAULTS.limits.postgres, args.daemon ?? { swapLimit: true }),
            },
            containerOptions({ parent: this, protect: args.protectData ?? false, hooks: args.guard?.binding("postgres") }),
        );
        // Percent-encoded: a password with @ / # ? must not change the URL's meaning.
        const at = (address: string, port: number) => pulumi.secret(pulumi.interpolate`postgres://${user}:${password.apply(encodeURIComponent)}@${address}:${port}/${database}`);
        this.url = at(this.host, 5432);
        if (args.publish) this.publishedUrl = at(urlAddress(args.publish.address), args.publish.port);
        this.registerOutputs({ url: this.url, volume: this.volume.name });
    }
}
