// The production rules the program enforces itself (issue 28, finding 2):
// what the policy pack's mandatory production policies (policy/checks.ts)
// judge from the config alone. A `pulumi up` run without `--policy-pack` (a
// laptop, a pipeline that forgot the flag) must not ship a production stack
// the pack would refuse. The pack stays as a second look at the resources
// (and for its advisories); the rules below hold before anything is declared.
//
// The other mandatory production policies hold by construction: images pinned
// (lib/config.ts), data protected (environment production sets protect),
// memory limits (every container gets one), the preview listener on loopback
// unless proxy.publicPreview (lib/config.ts, every stack).
import { z } from "zod";

/** Safe bounds for the release in production (README, Policy). */
export const PRODUCTION_BOUNDS = { drainSeconds: [5, 300], minVerifyRequests: 3 } as const;

/** Root: unset (the image decides, and a check cannot see it), 0, root, or 0:<gid>. */
export function runsAsRoot(user: unknown): boolean {
    if (user === undefined || user === null || user === "") return true;
    const u = String(user).split(":")[0];
    return u === "0" || u === "root";
}

/** The config a production check reads. */
export interface ProductionView {
    environment: string;
    appUser?: string;
    drainSeconds: number;
    verifyRequests: number;
    hosts?: unknown[];
    data?: { address: string };
    postgresUrl?: string;
    redisUrl?: string;
}

/** Each production rule the config breaks, as a key and what is wrong with its value (nothing outside production). */
export function productionProblems(c: ProductionView): { path: string[]; message: string }[] {
    if (c.environment !== "production") return [];
    const out: { path: string[]; message: string }[] = [];
    if (runsAsRoot(c.appUser)) {
        out.push({
            path: ["appUser"],
            message: `${c.appUser ? "is root" : "lets the image decide, possibly root"}: production app containers run as a non-root user; set the image's own, such as pulumi config set appUser 10001:10001`,
        });
    }
    const [lo, hi] = PRODUCTION_BOUNDS.drainSeconds;
    if (c.drainSeconds < lo || c.drainSeconds > hi) {
        out.push({ path: ["drainSeconds"], message: `production needs ${lo}-${hi} s so requests in flight to the old colour finish (pulumi config set drainSeconds 30)` });
    }
    if (c.verifyRequests < PRODUCTION_BOUNDS.minVerifyRequests) {
        out.push({ path: ["verifyRequests"], message: `production needs at least ${PRODUCTION_BOUNDS.minVerifyRequests} answers from the new colour before a switch counts (pulumi config set verifyRequests 10)` });
    }
    // Several hosts reach the Postgres and Redis Switchyard runs through ports
    // published on data.address, in clear: the Redis password crosses the wire
    // as it is, and Docker's port rules bypass the host's firewall.
    const published = [...(c.postgresUrl ? [] : ["Postgres"]), ...(c.redisUrl ? [] : ["Redis"])];
    if ((c.hosts?.length ?? 0) > 1 && published.length && c.data) {
        out.push({
            path: ["data", "address"],
            message: `is where ${published.join(" and ")} would be published to the other hosts, without TLS: production refuses data services published in clear: give several hosts a managed Postgres and Redis (postgresUrl, redisUrl, over TLS), or run production on one host`,
        });
    }
    return out;
}

/** productionProblems as zod issues (lib/config.ts's cross-field checks). */
export function addProductionProblems(c: ProductionView, ctx: z.RefinementCtx): void {
    for (const p of productionProblems(c)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: p.path, message: p.message });
}
