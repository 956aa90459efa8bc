import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerOptions, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DEFAULTS, SQL_IDENTIFIER_RE } from "../lib/config";
import { ALLOW_ENV, GuardedRole } from "../lib/guard";
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
    /**
     * Keep the shell-form healthcheck containers of Switchyard 0.2 and earlier
     * were created with. Docker cannot change a healthcheck in place, so moving
     * to the exec form re-creates the container (the volume stays). Defaults to
     * false: the exec form.
     */
    shellHealthcheck?: boolean;
}

/** Seconds Postgres gets to shut down cleanly (a fast shutdown with a checkpoint). */
const POSTGRES_STOP_GRACE = 30;

/**
 * Postgres's healthcheck. In exec form the check is a child of Docker's shim,
 * which reaps it. In shell form (`sh -c`, which forks) a check that times out
 * has its shell killed and pg_isready re-parented to PID 1, the postmaster;
 * its exit code 2 is then taken for a crashed backend, and Postgres drops
 * every connection and runs crash recovery (seen under load in the hosts e2e).
 */
export function postgresHealthcheck(user: string, database: string, shell: boolean): ReturnType<typeof healthcheck> {
    const probe = ["pg_isready", "-h", "127.0.0.1", "-U", user, "-d", database];
    return healthcheck(shell ? probe.join(" ") : probe, 2, 3, 30, 5);
}

/**
 * Whether Postgres keeps the shell-form healthcheck of Switchyard 0.2: yes
 * when the container running now has exactly that one (`running`, from the
 * host probe), unless this update may re-create it (SWITCHYARD_ALLOW_DELETE=
 * postgres). Upgrading Switchyard must not, by itself, take the database down.
 */
export function keepsShellHealthcheck(running: string[] | undefined, pg: { user?: string; database?: string }, allowDelete: ReadonlySet<GuardedRole>): boolean {
    const shell = postgresHealthcheck(pg.user ?? DEFAULTS.user, pg.database ?? DEFAULTS.database, true).tests as string[];
    return !allowDelete.has("postgres") && running?.length === shell.length && running.every((v, i) => v === shell[i]);
}

export function shellHealthcheckWarning(stack: string, namePrefix: string): string {
    return `switchyard ${stack}: Postgres (${namePrefix}-postgres) keeps the shell-form healthcheck it was created with. ` +
        `Under load a check of that form that times out makes Postgres drop every connection and run crash recovery (README: "Upgrading a stack made by Switchyard 0.2"). ` +
        `Docker cannot change a healthcheck in place: re-create the container once, at a quiet time, with ${ALLOW_ENV}=postgres pulumi up ` +
        `(the data volume stays; Postgres is down for a few seconds).`;
}

/** Shared Postgres: one container on the backend network with a named volume. */
export class Postgres extends pulumi.ComponentResource {
    /** Host name the app slots use on the backend network. */
    public readonly host = "postgres";
    public readonly container: docker.Container;
    public readonly volume: docker.Volume;
    /** postgres://user:password@<address or postgres>:5432/database, secret. */
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
                healthcheck: postgresHealthcheck(user, database, args.shellHealthcheck ?? false),
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
        this.url = at(args.address ?? this.host, 5432);
        if (args.publish) this.publishedUrl = at(urlAddress(args.publish.address), args.publish.port);
        this.registerOutputs({ url: this.url, volume: this.volume.name });
    }
}
