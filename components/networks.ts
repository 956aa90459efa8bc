import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { ADDRESSING_LABEL, ipamOf, MASQUERADE_OPTION, StackSubnets } from "../lib/addressing";
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
    /**
     * Keep a data network made before it lost its way out (keepsDataEgress):
     * Docker cannot change a network's options, and re-creating it re-creates
     * Postgres and Redis. Defaults to false: no outbound traffic.
     */
    dataEgress?: boolean;
    /**
     * A /24 of each network's own, with fixed addresses for the replicas and the
     * data services (lib/addressing.ts). Defaults to none: Docker picks the
     * subnets and the proxy finds the colours by DNS (stacks made by 0.2).
     */
    subnets?: StackSubnets;
}

/**
 * The two networks of a stack: `backend` (internal: no route out, no published
 * ports) joins the app slots to Postgres and Redis; `frontend` joins the proxy
 * to the app slots, whose Docker DNS aliases (app-blue, app-green) nginx uses.
 * With several hosts, `data` carries Postgres's and Redis's published ports;
 * no app or proxy joins it. It cannot be internal (Docker publishes ports only
 * from a network that is not), so Docker does not masquerade it instead: the
 * other hosts reach the published ports, and nothing on it reaches out.
 * With `subnets`, frontend and backend each get a /24 whose
 * upper half Docker never hands out, for the fixed addresses.
 */
export class Networks extends pulumi.ComponentResource {
    public readonly frontend: docker.Network;
    public readonly backend: docker.Network;
    public readonly data?: docker.Network;

    constructor(name: string, args: NetworksArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:net:Networks", name, {}, opts);
        const labels = [{ label: "switchyard.stack", value: args.stackLabel }];
        // Delete first: Docker refuses a second network of the same name (only
        // moving a 0.2 stack to fixed addresses replaces one).
        const childOpts = { parent: this, hooks: args.guard?.binding("network"), deleteBeforeReplace: true };
        const addressed = (subnet: string | undefined) =>
            subnet ? { ipamConfigs: [ipamOf(subnet)], labels: [...labels, { label: ADDRESSING_LABEL, value: "fixed" }] } : { labels };
        this.frontend = new docker.Network(`${name}-frontend`, { name: `${args.namePrefix}-frontend`, ...addressed(args.subnets?.frontend) }, childOpts);
        this.backend = new docker.Network(`${name}-backend`, { name: `${args.namePrefix}-backend`, internal: true, ...addressed(args.subnets?.backend) }, childOpts);
        if (args.publishData) {
            const options = args.dataEgress ? undefined : { [MASQUERADE_OPTION]: "false" };
            this.data = new docker.Network(`${name}-data`, { name: `${args.namePrefix}-data`, labels, options }, childOpts);
        }
        this.registerOutputs({ frontend: this.frontend.name, backend: this.backend.name, data: this.data?.name ?? null });
    }
}

/**
 * Whether a data network that exists keeps its way out: yes when it was made
 * before (Docker masquerades it), unless this update may re-create it
 * (SWITCHYARD_ALLOW_DELETE=network, with postgres and redis, whose
 * containers are on it).
 */
export function keepsDataEgress(data: { egress: boolean } | undefined, allowDelete: ReadonlySet<string>): boolean {
    return (data?.egress ?? false) && !["network", "postgres", "redis"].every((r) => allowDelete.has(r));
}

export function dataEgressWarning(stack: string, namePrefix: string, host: string | undefined): string {
    return `switchyard ${stack}: the data network ${namePrefix}-data${host ? ` on host ${host}` : ""} was made before it lost its way out: ` +
        `Postgres and Redis can open connections to the host's networks and the internet. Docker cannot change a network's options; ` +
        `re-create it, with Postgres and Redis on it (their volumes stay; the other hosts lose the database for those seconds), at a quiet time: ` +
        `SWITCHYARD_ALLOW_DELETE=network,postgres,redis pulumi up`;
}
