// ReleasedValues: the variables one colour was last created with, kept in
// Pulumi's state (secrets encrypted as every secret there), so a colour that
// standby "retire" removed comes back by a rollback with what it ran, not with
// what config says today (lib/release.ts valuesSource).
//
// The record is a RandomId's keepers: a resource with no side effect whose
// inputs Pulumi stores. While the colour takes the current values, the record
// follows them; otherwise (the colour keeps what it runs, is retired, or comes
// back with what it ran) ignoreChanges leaves the stored ones, and its outputs
// are what the state holds. A change of the record replaces the RandomId: its
// random bytes are never used.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";

export interface ReleasedValuesArgs {
    /** The colour's plain variables from config now: the record when it follows, or when none exists yet. */
    env: Record<string, string>;
    /** The colour's secret variables from config now (stored encrypted). */
    secrets: Record<string, string>;
    /** Whether the record takes `env` and `secrets` now (the colour is created or staged from config). */
    follow: boolean;
}

export class ReleasedValues extends pulumi.ComponentResource {
    /** The plain variables recorded. */
    public readonly env: pulumi.Output<Record<string, string>>;
    /** The secret variables recorded (a secret output). */
    public readonly secrets: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: ReleasedValuesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:app:ReleasedValues", name, {}, opts);
        const record = new random.RandomId(
            `${name}-record`,
            { byteLength: 4, keepers: pulumi.secret({ env: JSON.stringify(args.env), secrets: JSON.stringify(args.secrets) }) },
            // Secret as a whole in the state, inputs and outputs alike.
            { parent: this, ignoreChanges: args.follow ? [] : ["keepers"], additionalSecretOutputs: ["keepers"] },
        );
        // The plain part is not secret (a reviewer reads it in the containers' labels); the record as a whole is marked so.
        const keepers = record.keepers.apply((k) => k ?? {});
        this.env = pulumi.unsecret(keepers).apply((k) => JSON.parse(k.env ?? "{}") as Record<string, string>);
        this.secrets = pulumi.secret(keepers.apply((k) => JSON.parse(k.secrets ?? "{}") as Record<string, string>));
        this.registerOutputs({});
    }
}
