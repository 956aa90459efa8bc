// Where a resource of an older Switchyard stack lived, so it keeps its state.
import * as pulumi from "@pulumi/pulumi";

/**
 * Switchyard 0.1's program declared its parts at the stack's root under
 * these names ("postgres", "app-blue", ...); a component now owns them. With
 * `adopt`, an alias to the old root name, so an existing stack's resources
 * keep their state (no replacement, no delete) and their children follow.
 */
export function rootAlias(adopt: boolean, oldName: string): pulumi.Alias[] {
    return adopt ? [{ name: oldName, parent: pulumi.rootStackResource }] : [];
}
