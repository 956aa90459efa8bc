// What variables a running colour runs, known to the program only as keyed
// digests, one per variable.
//
// Whether the idle colour keeps what it ran (a rollback target) or takes the
// current config (a release being staged) depends on whether config holds
// anything the live colour does not run yet (lib/release.ts
// keepsReleasedValues). The values include secrets, so the host probe turns
// each `NAME=value` into an HMAC under a key made fresh in every program run
// and never stored: equal digests mean equal values, and a digest that leaks
// (an error, a debug print) says nothing about a value, however short.
import { createHmac, randomBytes } from "crypto";

const KEY = randomBytes(32);

/** A variable's digest under this run's key. */
export function valueDigest(name: string, value: string): string {
    return createHmac("sha256", KEY).update(`${name}=${value}`).digest("hex").slice(0, 32);
}

/** Every variable's digest, by name. */
export function valueDigests(values: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([name, value]) => [name, valueDigest(name, value)]));
}

/**
 * The digests of the app's own variables a container runs: the names its
 * labels list (switchyard.env holds the plain `NAME=value` lines,
 * switchyard.secret-env the secret names; components/slot.ts), the values
 * from its environment. Switchyard's own (DATABASE_URL, REDIS_URL) and the
 * image's are not the app's config, so they are left out.
 */
export function runningValueDigests(labels: Record<string, string> | null, env: string[] | null): Record<string, string> {
    const names = new Set<string>();
    for (const line of (labels?.["switchyard.env"] ?? "").split("\n")) {
        const m = /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(line);
        if (m) names.add(m[1]);
    }
    for (const name of (labels?.["switchyard.secret-env"] ?? "").split(",")) if (name) names.add(name);
    const out: Record<string, string> = {};
    for (const entry of env ?? []) {
        const at = entry.indexOf("=");
        const name = entry.slice(0, at);
        if (at > 0 && names.has(name)) out[name] = valueDigest(name, entry.slice(at + 1));
    }
    return out;
}

/** Whether two digest maps name the same variables with the same values. */
export function sameDigests(a: Record<string, string>, b: Record<string, string>): boolean {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
