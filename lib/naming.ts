// The names a stack's Docker objects get; the program, the ops commands and
// the tests share them.
import * as pulumi from "@pulumi/pulumi";

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

/**
 * Switchyard 0.1's program declared its parts at the stack's root under
 * these names ("postgres", "app-blue", ...); a component now owns them. With
 * `adopt`, an alias to the old root name, so an existing stack's resources
 * keep their state (no replacement, no delete) and their children follow.
 */
export function rootAlias(adopt: boolean, oldName: string): pulumi.Alias[] {
    return adopt ? [{ name: oldName, parent: pulumi.rootStackResource }] : [];
}
