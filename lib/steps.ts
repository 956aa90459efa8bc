// Release steps run by command resources: `bash scripts/release/<step>.sh`.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";

export type StepName = "gate" | "backup" | "migrate" | "repoint" | "verify" | "retire" | "proxy-config" | "tls-config" | "maintenance" | "notify-config";

/**
 * Makes the command resources of the release. The same script serves create
 * and update, because a changed input (say, the target colour) must run the
 * step again; there is no delete, because undoing a step on replacement would
 * undo the switch that just happened (fact 3). Every step runs its docker CLI
 * calls against the Docker host the program resolved (DOCKER_HOST), the same
 * one the provider deploys to. The path is relative so state does not depend
 * on where the repo is cloned.
 */
export class ReleaseSteps {
    constructor(private readonly dockerHost: string) {}

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
            { create: script, update: script, environment: { ...environment, DOCKER_HOST: this.dockerHost }, stdin, logging: "stdoutAndStderr" },
            opts,
        );
    }
}
