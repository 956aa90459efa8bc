import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ReleaseKey, ReleaseSteps, rerunKey } from "../lib/steps";
import { DEFAULTS } from "../lib/config";

export interface BackupArgs {
    /** The release key: the dump is taken exactly when it changes. */
    key: ReleaseKey;
    /** The steps the dump waits for: the target colour's own gate, and what the switch's re-check waits for (not the re-check itself). */
    after: pulumi.Resource[];
    /** The Postgres container to dump (Switchyard's own). Either this or `server`. */
    postgresContainer?: pulumi.Input<string>;
    /**
     * A managed Postgres (postgresUrl) to dump instead: its host, port and
     * sslmode, and the image whose pg_dump reaches it. Either this or `postgresContainer`.
     */
    server?: { host: string; port: number; sslmode?: string; image: pulumi.Input<string> };
    /** The network the one-off pg_dump container joins: the backend one, or for a managed database the frontend one (a route out). */
    backendNetwork: pulumi.Input<string>;
    /** Where the dumps go: a volume name or an absolute host directory (components/backups.ts). */
    store: pulumi.Input<string>;
    /** How many of this stack's newest dumps stay. Defaults to 10. */
    keep?: number;
    /** Database to dump. Defaults to "app". */
    database?: string;
    /** Role that dumps it. Defaults to "app". */
    user?: string;
    /** The role's password, secret: it reaches pg_dump through the environment only. */
    password: pulumi.Input<string>;
    /**
     * What the expand migration after this dump runs with (its command, image
     * and timeout, as one fingerprint): any change that runs the migration again
     * takes a fresh dump first. Defaults to none (no migration follows).
     */
    migrationFingerprint?: string;
    /** Makes the command resource. */
    steps: ReleaseSteps;
}

/**
 * The dump before a switch: pg_dump in a one-off container, checked readable,
 * recorded with its size and checksum, old dumps pruned to `keep`
 * (scripts/release/backup.sh). A failed dump fails the update before the
 * re-point, so live traffic never moves without a backup behind it.
 */
export class Backup extends pulumi.ComponentResource {
    public readonly dump: command.local.Command;

    constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:release:Backup", name, {}, opts);
        const keep = args.keep ?? DEFAULTS.backupsKeep;
        if (!Number.isInteger(keep) || keep < 1) throw new pulumi.ResourceError(`backups.keep must be an integer >= 1, got ${keep}`, this);
        if ((args.postgresContainer === undefined) === (args.server === undefined)) throw new pulumi.ResourceError("a backup needs exactly one of postgresContainer and server", this);
        // Only a managed database's dump carries its address: a stack's own Postgres keeps exactly its step inputs.
        // The address, user and database are parts of the secret postgresUrl: secret here too, in state and in a preview.
        const server: Record<string, pulumi.Input<string>> = args.server
            ? {
                  PGHOST: pulumi.secret(args.server.host),
                  PGPORT: pulumi.secret(String(args.server.port)),
                  PG_IMAGE: args.server.image,
                  ...(args.server.sslmode ? { PGSSLMODE: pulumi.secret(args.server.sslmode) } : {}),
              }
            : { POSTGRES_CONTAINER: args.postgresContainer! };
        const fromUrl = (v: string) => (args.server ? pulumi.secret(v) : v);
        this.dump = args.steps.step(
            `${name}-dump`,
            "backup",
            {
                ...args.key,
                ...server,
                BACKEND_NETWORK: args.backendNetwork,
                BACKUP_STORE: args.store,
                BACKUPS_KEEP: String(keep),
                PGUSER: fromUrl(args.user ?? DEFAULTS.user),
                PGDATABASE: fromUrl(args.database ?? DEFAULTS.database),
                PGPASSWORD: pulumi.secret(args.password),
                ...rerunKey({ MIGRATION_FINGERPRINT: args.migrationFingerprint }),
            },
            // dependsOn: a dump is only worth taking for a release whose colour passed its own gate.
            { parent: this, dependsOn: args.after },
        );
        this.registerOutputs({});
    }
}
