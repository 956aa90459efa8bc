import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { ReleaseKey, ReleaseSteps } from "../lib/steps";
import { DEFAULTS } from "../lib/config";
import { DataTlsAccess } from "../lib/datatls";

export interface MigrationArgs {
    /** "expand" (before the re-point, old code still serving) or "contract" (after retire, old code gone). */
    phase: "expand" | "contract";
    /**
     * The app's migration command in exec form, such as ["node", "migrate.js"]:
     * the arguments to the image's own entrypoint (or the program, when the
     * image has none). No shell is involved, so any image works.
     */
    command: string[];
    /** The image the command runs in: the new release's. */
    image: string;
    /** The release key: the migration runs exactly when it changes. */
    key: ReleaseKey;
    /** The steps the migration waits for (expand: the gate and the backup; contract: retire). */
    after: pulumi.Resource[];
    /** More to wait for, known only once the whole program is declared (with several hosts: every host's retire). Defaults to nothing. */
    alsoAfter?: Promise<pulumi.Resource[]>;
    /** The backend network, where Postgres answers as "postgres". */
    backendNetwork: pulumi.Input<string>;
    /** postgres:// URL, secret: passed as DATABASE_URL through the environment only. */
    databaseUrl: pulumi.Input<string>;
    /** When the URL asks for TLS (lib/datatls.ts): the container gets the certificate and the hosts line as the replicas do. Defaults to none. */
    dataTls?: DataTlsAccess;
    /** Longest run before the migration is stopped and the update fails. Defaults to 600. */
    timeoutSeconds?: number;
    /** Makes the command resource. */
    steps: ReleaseSteps;
}

/**
 * One migration phase of a release, in a one-off container from the new
 * image (scripts/release/migrate.sh). Expand adds what the new code needs
 * while the old code still serves; contract removes what only the old code
 * needed, once it no longer runs. A failed migration fails the update at
 * that point: after an expand failure nothing has switched.
 */
export class Migration extends pulumi.ComponentResource {
    public readonly run: command.local.Command;

    constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:release:Migration", name, {}, opts);
        const key = `migrations.${args.phase === "expand" ? "command" : "contractCommand"}`;
        if (args.command.length === 0 || args.command.some((a) => !a || /[\0\n]/.test(a))) {
            throw new pulumi.ResourceError(`${key} ${JSON.stringify(args.command)} must be a non-empty list of arguments without newlines`, this);
        }
        const dependsOn: pulumi.Input<pulumi.Input<pulumi.Resource>[]> = args.alsoAfter ? args.alsoAfter.then((more) => [...args.after, ...more]) : args.after;
        this.run = args.steps.step(
            `${name}-run`,
            "migrate",
            {
                ...args.key,
                PHASE: args.phase,
                // JSON: the step hands each argument to docker as it is.
                MIGRATION_COMMAND: JSON.stringify(args.command),
                MIGRATION_IMAGE: args.image,
                MIGRATION_TIMEOUT: String(args.timeoutSeconds ?? DEFAULTS.migrationTimeoutSeconds),
                BACKEND_NETWORK: args.backendNetwork,
                DATABASE_URL: pulumi.secret(args.databaseUrl),
                ...(args.dataTls === undefined ? {} : { DATA_CA: args.dataTls.ca, DATA_ADDRESS: args.dataTls.address }),
            },
            // dependsOn: the order is the safety argument (expand after the backup, contract after retire).
            { parent: this, dependsOn },
        );
        this.registerOutputs({ phase: args.phase });
    }
}
