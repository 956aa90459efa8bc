import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { DeleteGuard } from "../lib/guard";

export interface NetworksArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** Refuses deleting a network (every container on it would be cut off). Defaults to no guard. */
    guard?: DeleteGuard;
    /** Also a `data` network, where Postgres and Redis are published for the stack's other hosts. Defaults to false. */
    publishData?: boolean;
}

/**
 * The two networks of a stack: `backend` (internal: no route out, no published
 * ports) joins the app slots to Postgres and Redis; `frontend` joins the proxy
 * to the app slots, whose Docker DNS aliases (app-blue, app-green) nginx uses.
 * With several hosts, `data` (not internal: Docker publishes ports only from
 * such a network) carries Postgres's and Redis's published ports; no app or
 * proxy joins it.
 */
export class Networks extends pulumi.ComponentResource {
    public readonly frontend: docker.Network;
    public readonly backend: docker.Network;
    public readonly data?: docker.Network;

    constructor(name: string, args: NetworksArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:net:Networks", name, {}, opts);
        const labels = [{ label: "switchyard.stack", value: args.stackLabel }];
        const childOpts = { parent: this, hooks: args.guard?.binding("network") };
        this.frontend = new docker.Network(`${name}-frontend`, { name: `${args.namePrefix}-frontend`, labels }, childOpts);
        this.backend = new docker.Network(`${name}-backend`, { name: `${args.namePrefix}-backend`, internal: true, labels }, childOpts);
        if (args.publishData) this.data = new docker.Network(`${name}-data`, { name: `${args.namePrefix}-data`, labels }, childOpts);
        this.registerOutputs({ frontend: this.frontend.name, backend: this.backend.name, data: this.data?.name ?? null });
    }
}
