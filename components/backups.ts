import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { DeleteGuard } from "../lib/guard";

export interface BackupsArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** An absolute host directory for the dumps instead of a volume. Defaults to the volume "<namePrefix>-backups". */
    hostDir?: string;
    /** Protect the volume from deletion (production). Defaults to false. */
    protect?: boolean;
    /** Refuses deleting the volume. Defaults to no guard. */
    guard?: DeleteGuard;
}

/**
 * Where the database dumps of a stack live: a named volume (or a host
 * directory from config) that outlives every release, so a bad release can
 * be undone with `npm run restore`. Losing it loses the backups: it is
 * protected in production and behind the delete guard everywhere.
 */
export class Backups extends pulumi.ComponentResource {
    /** What `docker run -v <store>:/backups` mounts: the volume name or the host directory. */
    public readonly store: pulumi.Output<string>;

    constructor(name: string, args: BackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:data:Backups", name, {}, opts);
        if (args.hostDir !== undefined && !args.hostDir.startsWith("/")) {
            throw new pulumi.ResourceError(`backups.hostDir "${args.hostDir}" must be an absolute path`, this);
        }
        if (args.hostDir) {
            this.store = pulumi.output(args.hostDir);
        } else {
            const volume = new docker.Volume(
                `${name}-volume`,
                { name: `${args.namePrefix}-backups`, labels: [{ label: "switchyard.stack", value: args.stackLabel }] },
                { parent: this, protect: args.protect ?? false, hooks: args.guard?.binding("volume") },
            );
            this.store = volume.name;
        }
        this.registerOutputs({ store: this.store });
    }
}
