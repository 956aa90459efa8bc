// Release steps run by command resources: `bash scripts/release/<step>.sh`,
// which starts the compiled engine/<step>.ts (dist/engine).
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { PACKAGE_ROOT } from "./package";

export type StepName = "gate" | "backup" | "migrate" | "repoint" | "verify" | "bake" | "canary" | "retire" | "proxy-config" | "tls-config" | "maintenance" | "notify-config" | "heal" | "acme-ready" | "processes" | "data-tls";

/**
 * A step's re-run key: the inputs that are there so that Pulumi runs the step
 * again exactly when they change (a command resource runs when it is created
 * and when an input changes, never otherwise). Each is named here once, with
 * what a change means. A step may read its key too (the backup reads the
 * migration's fingerprint to tell a rollback from a release, and records the
 * target's ids), but the key is there for when the step runs.
 */
export interface RerunKey {
    /** The release chain: the target colour's container ids. Re-created containers are gated, switched to and verified again. */
    TARGET_CONTAINER_IDS?: pulumi.Input<string>;
    /** A colour's gate and heal: its container ids. A re-created colour is gated again. */
    SLOT_CONTAINER_IDS?: pulumi.Input<string>;
    /** proxy-config: the rendered config's digest. A changed config is installed. */
    CONFIG_SHA?: pulumi.Input<string>;
    /** proxy-config and tls-config: the proxy container's id. A re-created proxy gets its config and certificate again. */
    PROXY_CONTAINER_ID?: pulumi.Input<string>;
    /** data-tls: Postgres's and Redis's container ids. A re-created one gets the certificate and its TLS settings again. */
    DATA_CONTAINER_IDS?: pulumi.Input<string>;
    /** backup: the expand migration's fingerprint. A changed migration gets its dump. */
    MIGRATION_FINGERPRINT?: pulumi.Input<string>;
}

/** The key's inputs as step environment (the ones not given left out). */
export function rerunKey(key: RerunKey): Record<string, pulumi.Input<string>> {
    return Object.fromEntries(Object.entries(key).filter(([, v]) => v !== undefined)) as Record<string, pulumi.Input<string>>;
}

/** The inputs that make a release: the proxy, the stack, the target colour and its re-run key. When any changes, every release step runs again. */
export type ReleaseKey = Record<string, pulumi.Input<string>>;

/**
 * Makes the command resources of the release. The same script serves create
 * and update, because a changed input (say, the target colour) must run the
 * step again; there is no delete, because undoing a step on replacement would
 * undo the switch that just happened (fact 3). Every step runs its docker CLI
 * calls against the Docker host the program resolved (DOCKER_HOST), the same
 * one the provider deploys to.
 *
 * The command text is relative, and so is the directory it runs in: state
 * never depends on where a project is cloned. From this repository the
 * directory is the project's own (no `dir` at all); from a project that
 * installed Switchyard it is the package's path inside the project, such as
 * node_modules/@switchyard/pulumi.
 */
export class ReleaseSteps {
    private readonly dir: string | undefined;

    /**
     * `hostName` (hosts[].name, for a stack of several hosts) reaches every
     * step as SWITCHYARD_HOST_NAME, so a failure names its host; a one-host
     * stack's steps get no such input, so they keep exactly their state.
     */
    /**
     * `tls` (a tcp:// host's material, by its directory's name in lib/dockertls.ts)
     * reaches every step as SWITCHYARD_DOCKER_TLS: engine/docker.ts points the docker CLI at
     * those files. The material itself is never a step's input.
     */
    constructor(
        private readonly dockerHost: string,
        packageRoot = PACKAGE_ROOT,
        projectDir = process.cwd(),
        private readonly hostName?: string,
        private readonly tls?: string,
    ) {
        const rel = path.relative(projectDir, packageRoot);
        this.dir = rel === "" ? undefined : rel;
    }

    /** Where these steps run, for a step on another host that reaches this one too (the canary on every host). */
    where(): { dockerHost: string; name?: string; tls?: string } {
        return { dockerHost: this.dockerHost, ...(this.hostName ? { name: this.hostName } : {}), ...(this.tls ? { tls: this.tls } : {}) };
    }

    step(
        name: string,
        step: StepName,
        environment: Record<string, pulumi.Input<string>>,
        opts: pulumi.CustomResourceOptions,
        stdin?: pulumi.Input<string>,
    ): command.local.Command {
        const script = `bash scripts/release/${step}.sh`;
        return new command.local.Command(
            name,
            {
                create: script,
                update: script,
                environment: {
                    ...environment,
                    DOCKER_HOST: this.dockerHost,
                    ...(this.hostName ? { SWITCHYARD_HOST_NAME: this.hostName } : {}),
                    ...(this.tls ? { SWITCHYARD_DOCKER_TLS: this.tls } : {}),
                },
                stdin,
                logging: "stdoutAndStderr",
                ...(this.dir ? { dir: this.dir } : {}),
            },
            opts,
        );
    }
}
