// The `switchyard:` namespace of the stack's config, checked: the settings a
// BlueGreenApp takes as its args, read the way `pulumi config` stores them.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseConfig, SwitchyardConfig } from "./config";
import { materialProblems } from "./tls";

// isConfigSecret is exported by the runtime but missing from its typings.
const runtimeConfig = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/**
 * Every `switchyard:` key of this stack, checked (unknown keys, values,
 * secrets set as plain and plain keys set as secret, the certificates and keys):
 * the settings, or a RunError listing every problem by key.
 */
export function settingsFromConfig(stack = pulumi.getStack()): SwitchyardConfig {
    return refusedAs(() => {
        const raw = pulumi.runtime.allConfig();
        const secret = new Set(Object.keys(raw).filter((k) => runtimeConfig.isConfigSecret(k)));
        const parsed = parseConfig(raw, secret, stack);
        const tlsIssues = materialProblems(parsed, "switchyard:");
        if (tlsIssues.length) throw new ConfigError(tlsIssues, stack);
        return parsed;
    });
}

/** Runs `read`; its error becomes the update's message alone (a RunError), not a stack trace. */
export function refusedAs<T>(read: () => T): T {
    try {
        return read();
    } catch (err) {
        throw err instanceof Error ? new pulumi.RunError(err.message) : err;
    }
}
