import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerOptions, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DEFAULTS, SQL_IDENTIFIER_RE } from "../lib/config";
import { ALLOW_ENV, GuardedRole } from "../lib/guard";
import { DATA_TLS, tlsDatabaseUrl } from "../lib/datatls";
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
     * Keep the layout of stacks made before the app role owned its database
     * only: the app connects as the superuser the data directory was
     * initialised with (keepsSuperuserApp). Defaults to false: the superuser
     * is `postgres`, with a generated password nobody is given, and the app's
     * role owns its database and nothing else.
     */
    appRoleIsSuperuser?: boolean;
    /**
     * Keep the shell-form healthcheck containers of Switchyard 0.2 and earlier
     * were created with. Docker cannot change a healthcheck in place, so moving
     * to the exec form re-creates the container (the volume stays). Defaults to
     * false: the exec form.
     */
    shellHealthcheck?: boolean;
}

/** The superuser a data directory is initialised with (the app never connects as it). */
export const POSTGRES_SUPERUSER = "postgres";

/**
 * Where the Postgres image runs initialisation scripts: once, when the data
 * directory is first made (the official image's contract, and ours).
 */
const INIT_DIR = "/docker-entrypoint-initdb.d";

/**
 * Makes the app's role: it logs in, owns the app's database (and so its
 * public schema) and nothing else: no superuser, no CREATEDB, no CREATEROLE.
 * A superuser can read any file and run programs as the postgres user (COPY
 * … PROGRAM): an SQL injection in the app must not reach that. Names come as
 * psql variables, quoted by psql (:"role"); the password is read from the
 * environment by a backquote that the shell's printf builtin answers, so it
 * is on no command line.
 */
export const APP_ROLE_INIT_SCRIPT = `#!/bin/sh
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \\
  -v role="$SWITCHYARD_APP_ROLE" -v db="$POSTGRES_DB" <<'SQL' || exit 1
\\set password \`printf '%s' "$SWITCHYARD_APP_PASSWORD"\`
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
ALTER DATABASE :"db" OWNER TO :"role";
SQL
echo "switchyard: role $SWITCHYARD_APP_ROLE owns database $POSTGRES_DB (not a superuser)"
`;

/**
 * Whether this stack's app connects as Postgres's superuser: yes when the
 * container running now was initialised with the app's role as POSTGRES_USER
 * (stacks made before the role owned its database only). Postgres cannot
 * demote the superuser a cluster was initialised with, and re-creating the
 * container keeps the data directory, so the layout stays until the data is
 * moved to a new cluster (README: "The app's database role").
 */
export function keepsSuperuserApp(runningPostgresUser: string | undefined, user: string): boolean {
    return runningPostgresUser !== undefined && runningPostgresUser === user;
}

export function superuserAppWarning(stack: string, namePrefix: string, user: string): string {
    return `switchyard ${stack}: the app connects to Postgres (${namePrefix}-postgres) as "${user}", the superuser its data directory was initialised with ` +
        `(stacks made before the app's role owned its database only). A superuser can read the server's files and run programs in the container; ` +
        `a stack created now gets a role that owns its database and nothing else. Postgres cannot demote that superuser in place: ` +
        `README "The app's database role" says how to move the data to a new cluster.`;
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

/**
 * Shared Postgres: one container on the backend network with a named volume.
 * The app connects as a role that owns its database and nothing else.
 */
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
        const legacy = args.appRoleIsSuperuser ?? false;
        if (!legacy && user === POSTGRES_SUPERUSER) {
            throw new pulumi.ResourceError(`postgres.user "${user}" is the superuser's name: the app connects as a role that owns its database only (default ${DEFAULTS.user})`, this);
        }
        // The superuser's password: set, as the image requires, but used by
        // nobody (docker exec psql connects over the local socket).
        const superPassword = legacy ? password : servicePassword(`${name}-superuser`, { ...args, password: undefined }, this);
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? DEFAULTS.postgresImage, keepLocally: true }, { parent: this });
        this.volume = dataVolume(`${name}-data`, `${args.namePrefix}-pgdata`, args, this);
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-postgres`,
                image: image.imageId,
                // In the order stacks made before kept them: another order re-creates the container.
                envs: pulumi.secret(pulumi.all([superPassword, password])).apply(([sp, p]) => [
                    `POSTGRES_USER=${legacy ? user : POSTGRES_SUPERUSER}`,
                    `POSTGRES_DB=${database}`,
                    "PGDATA=/var/lib/postgresql/data",
                    `POSTGRES_PASSWORD=${sp}`,
                    ...(legacy ? [] : [`SWITCHYARD_APP_ROLE=${user}`, `SWITCHYARD_APP_PASSWORD=${p}`]),
                ]),
                uploads: legacy ? undefined : [{ file: `${INIT_DIR}/10-switchyard-app-role.sh`, content: APP_ROLE_INIT_SCRIPT, permissions: "0755" }],
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
        if (args.publish) {
            // Over TLS by the name in the certificate (lib/datatls.ts), else by the address.
            this.publishedUrl = args.publish.tls
                ? pulumi.secret(at(DATA_TLS.hostName, args.publish.port).apply(tlsDatabaseUrl))
                : at(urlAddress(args.publish.address), args.publish.port);
        }
        this.registerOutputs({ url: this.url, volume: this.volume.name });
    }
}
