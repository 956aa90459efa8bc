// Names, labels and the command-resource shape shared by the components.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as random from "@pulumi/random";

/** The names a stack's Docker objects get; the program, the ops commands and the tests share them. */
export function stackNames(project: string, stack: string) {
    const namePrefix = `${project}-${stack}`;
    return {
        /** Value of the switchyard.stack label: "switchyard/staging". */
        stackLabel: `${project}/${stack}`,
        /** Prefix of container, network and volume names: "switchyard-staging". */
        namePrefix,
        proxyContainer: `${namePrefix}-proxy`,
    };
}

/** Docker labels every Switchyard container carries; the host probe reads them. */
export interface SwitchyardLabels {
    stack: string;
    role: "app" | "proxy" | "postgres" | "redis";
    colour?: string;
    image?: string;
    fingerprint?: string;
    replica?: number;
}

export function dockerLabels(l: SwitchyardLabels): docker.types.input.ContainerLabel[] {
    const entries: [string, string | number | undefined][] = [
        ["switchyard.stack", l.stack],
        ["switchyard.role", l.role],
        ["switchyard.colour", l.colour],
        ["switchyard.image", l.image],
        ["switchyard.fingerprint", l.fingerprint],
        ["switchyard.replica", l.replica],
    ];
    return entries.filter(([, v]) => v !== undefined).map(([label, value]) => ({ label, value: String(value) }));
}

/** Memory in MB and CPUs, as config gives them. */
export interface Limits {
    memoryMb: number;
    cpus: number;
}

export function limitArgs(l: Limits): Pick<docker.ContainerArgs, "memory" | "cpus"> {
    return { memory: l.memoryMb, cpus: String(l.cpus) };
}

/**
 * A release step run by a command resource: `bash scripts/release/<step>.sh`.
 * The same script serves create and update, because a changed input (say, the
 * target colour) must run the step again; there is no delete, because undoing
 * a step on replacement would undo the switch that just happened (fact 3).
 * The path is relative so state does not depend on where the repo is cloned.
 */
export function releaseStep(
    name: string,
    step: "gate" | "repoint" | "verify" | "retire" | "proxy-config",
    environment: pulumi.Input<Record<string, pulumi.Input<string>>>,
    opts: pulumi.CustomResourceOptions,
    stdin?: pulumi.Input<string>,
): command.local.Command {
    const script = `bash scripts/release/${step}.sh`;
    return new command.local.Command(
        name,
        { create: script, update: script, environment, stdin, logging: "stdoutAndStderr" },
        opts,
    );
}

/** What Postgres and Redis have in common: shared, stateful, on the backend network only. */
export interface DataServiceArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** Image reference. Defaults to the official image of the service. */
    image?: string;
    /** Password; a secret. Defaults to a generated 32-character password kept secret in state. */
    password?: pulumi.Input<string>;
    /** Internal network shared with the app slots; data services are never published on the host. */
    backendNetwork: pulumi.Input<string>;
    /** Memory (MB) and CPU limits. Defaults differ per service. */
    limits?: Limits;
    /** Protect the container and its volume from deletion (production). Defaults to false. */
    protectData?: boolean;
}

/** The configured password, or a generated one; secret either way. */
export function servicePassword(name: string, given: pulumi.Input<string> | undefined, parent: pulumi.Resource): pulumi.Output<string> {
    return given
        ? pulumi.secret(given)
        : new random.RandomPassword(`${name}-password`, { length: 32, special: false }, { parent }).result;
}

/** A named volume for a data service; protect makes deleting it a deliberate act. */
export function dataVolume(name: string, volumeName: string, args: DataServiceArgs, parent: pulumi.Resource): docker.Volume {
    return new docker.Volume(
        name,
        { name: volumeName, labels: [{ label: "switchyard.stack", value: args.stackLabel }] },
        { parent, protect: args.protectData ?? false },
    );
}
