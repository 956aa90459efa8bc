// What an operator may let one run delete (SWITCHYARD_ALLOW_DELETE), apart
// from the delete guard itself (lib/guard.ts): the release steps read it too
// (lib/datatls.ts), and they must not load @pulumi/pulumi to do it (half a
// second of every migration step's start).
export const GUARDED_ROLES = ["live", "postgres", "redis", "proxy", "volume", "network"] as const;
export type GuardedRole = (typeof GUARDED_ROLES)[number];
export const ALLOW_ENV = "SWITCHYARD_ALLOW_DELETE";

/** Parses SWITCHYARD_ALLOW_DELETE ("postgres,proxy" or "all"); names what is allowed on a bad value. */
export function parseAllowList(value: string | undefined): Set<GuardedRole> {
    const allowed = new Set<GuardedRole>();
    for (const item of (value ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
        if (item === "all") GUARDED_ROLES.forEach((r) => allowed.add(r));
        else if ((GUARDED_ROLES as readonly string[]).includes(item)) allowed.add(item as GuardedRole);
        else throw new Error(`${ALLOW_ENV}=${value}: "${item}" is not allowed (allowed: ${GUARDED_ROLES.join(", ")}, all)`);
    }
    return allowed;
}
