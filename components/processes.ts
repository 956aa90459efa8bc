// One colour's other process types (the `processes` key): workers and
// schedulers from the colour's own image and variables, each with its own
// command. They are created, never started, by Pulumi: whether a colour's
// workers run, and which colour's scheduler runs, is the release's decision
// (engine/processes.ts), made at the switch. So a staged colour's workers do
// not take jobs before it goes live, and no update can start a second scheduler.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { Colour, DEFAULTS } from "../lib/config";
import { keepValuesOption } from "./slot";
import { containerOptions, DaemonFacts, dockerLabels, healthcheck, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { dataTlsContainerArgs } from "../lib/datatls";

export interface ProcessSpec {
    /** "worker": any number of replicas, may overlap the other colour's at a switch; "scheduler": exactly one runs at any moment. */
    kind: "worker" | "scheduler";
    /** The command, exec form (the image's entrypoint runs it). */
    command: string[];
    /** Containers per colour; a scheduler has 1. Defaults to 1. */
    replicas?: number;
    /** SIGTERM, then this long to finish the job in hand. Defaults to 30. */
    stopGraceSeconds?: number;
    /** Docker's health check in exec form; the gate waits for healthy. Defaults to none. */
    healthCommand?: string[];
    /** Memory and CPU per container. Defaults to the app's. */
    limits?: Limits;
}

export interface ProcessesArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    colour: Colour;
    /** The process types by name. */
    processes: Record<string, ProcessSpec>;
    /** The colour's image reference (its label) and the pulled image's id (what runs). */
    image: string;
    imageId: pulumi.Input<string>;
    /** The colour's web replicas' environment (secret); SWITCHYARD_PROCESS is added. */
    envs: pulumi.Output<string[]>;
    /** The web replicas' certificate file and hosts line for the data services over TLS (components/slot.ts dataTlsArgs). Defaults to none. */
    dataTlsArgs?: ReturnType<typeof dataTlsContainerArgs>;
    /** The plain variables' label and the secret variables' names, as the web replicas carry them. */
    envLabel: pulumi.Input<string>;
    secretNames: pulumi.Output<string>;
    /** uid[:gid] or name. Defaults to the image's USER. */
    user?: string;
    /** Postgres and Redis: a worker needs them. */
    backendNetwork: pulumi.Input<string>;
    /** Memory and CPU when a process type sets none. Defaults to the app's default. */
    limits?: Limits;
    daemon?: DaemonFacts;
    /** The data services: created after them, as the web replicas are. */
    dataServices: pulumi.Resource[];
    /** Keep the variables they run with, as the colour's web replicas do (components/slot.ts keepValuesOption). Defaults to false. */
    keepValues?: boolean;
}

/** Container name of one replica of a process type: `<prefix>-<name>-<colour>-<n>`. */
export function processContainerName(namePrefix: string, name: string, colour: Colour, replica: number): string {
    return `${namePrefix}-${name}-${colour}-${replica}`;
}

/** The specs as the processes step reads them: `name kind replicas graceSeconds health(0|1)`, one per line, sorted by name. */
export function processSpecLines(processes: Record<string, ProcessSpec>): string {
    return Object.keys(processes)
        .sort()
        .map((name) => {
            const p = processes[name];
            return `${name} ${p.kind} ${p.replicas ?? 1} ${p.stopGraceSeconds ?? 30} ${p.healthCommand ? 1 : 0}`;
        })
        .join("\n");
}

export class Processes extends pulumi.ComponentResource {
    public readonly containers: docker.Container[] = [];
    /** Container ids joined: changes whenever any is re-created, which runs the processes step again. */
    public readonly containerIds: pulumi.Output<string>;

    constructor(name: string, args: ProcessesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:app:Processes", name, {}, opts);
        for (const procName of Object.keys(args.processes).sort()) {
            const p = args.processes[procName];
            const replicas = p.kind === "scheduler" ? 1 : (p.replicas ?? 1);
            const grace = p.stopGraceSeconds ?? 30;
            const envs = pulumi.secret(args.envs.apply((e) => [...e, `SWITCHYARD_PROCESS=${procName}`]));
            for (let i = 1; i <= replicas; i++) {
                this.containers.push(
                    new docker.Container(
                        `${name}-${procName}-${i}`,
                        {
                            name: processContainerName(args.namePrefix, procName, args.colour, i),
                            image: args.imageId,
                            command: p.command,
                            envs,
                            ...args.dataTlsArgs,
                            ...(args.user ? { user: args.user } : {}),
                            // No frontend network: no HTTP reaches a process type.
                            networksAdvanced: [{ name: args.backendNetwork }],
                            ...(p.healthCommand ? { healthcheck: healthcheck(p.healthCommand, 2, 3, 3, 5) } : {}),
                            // Created only: the processes step starts it when its colour goes live.
                            start: false,
                            wait: false,
                            // docker stop gives the job in hand this long; so does a replacement.
                            ...lifecycleArgs(grace),
                            securityOpts: ["no-new-privileges:true"],
                            capabilities: { drops: ["ALL"] },
                            labels: pulumi.all([pulumi.unsecret(args.secretNames), args.envLabel]).apply(([names, plain]) => [
                                ...dockerLabels({ stack: args.stackLabel, role: "process", colour: args.colour, process: procName, image: args.image, replica: i }),
                                { label: "switchyard.process-kind", value: p.kind },
                                ...(plain ? [{ label: "switchyard.env", value: plain }] : []),
                                ...(names ? [{ label: "switchyard.secret-env", value: names }] : []),
                            ]),
                            ...limitArgs(p.limits ?? args.limits ?? DEFAULTS.limits.app, args.daemon ?? { swapLimit: true }),
                        },
                        containerOptions({ parent: this, dependsOn: args.dataServices, ...keepValuesOption(args.keepValues) }),
                    ),
                );
            }
        }
        this.containerIds = pulumi.all(this.containers.map((c) => c.id)).apply((ids) => ids.join(","));
        this.registerOutputs({ colour: args.colour, processes: Object.keys(args.processes).sort() });
    }
}
