import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

export interface NetworksArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
}

/**
 * The two networks of a stack: `backend` (internal: no route out, no published
 * ports) joins the app slots to Postgres and Redis; `frontend` joins the proxy
 * to the app slots, whose Docker DNS aliases (app-blue, app-green) nginx uses.
 */
export class Networks extends pulumi.ComponentResource {
    public readonly frontend: docker.Network;
    public readonly backend: docker.Network;

    constructor(name: string, args: NetworksArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:net:Networks", name, {}, opts);
        const labels = [{ label: "switchyard.stack", value: args.stackLabel }];
        this.frontend = new docker.Network(`${name}-frontend`, { name: `${args.namePrefix}-frontend`, labels }, { parent: this });
        this.backend = new docker.Network(
            `${name}-backend`,
            { name: `${args.namePrefix}-backend`, internal: true, labels },
            { parent: this },
        );
        this.registerOutputs({ frontend: this.frontend.name, backend: this.backend.name });
    }
}
