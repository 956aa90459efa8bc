// Switchyard's policies as pure checks over the resources of one preview or
// update, so each rule is unit-tested without an engine (test/unit/policy.test.ts).
// index.ts hands them to @pulumi/policy. Policies cannot read stack config,
// so the program exports the settings they need as the stack output
// `settings` (index.ts of the project), which a stack validation can read.

export type Level = "mandatory" | "advisory";

/** One resource as a policy sees it. */
export interface ResourceView {
    type: string;
    name: string;
    urn: string;
    props: Record<string, any>;
    protect: boolean;
}

/** The project's `settings` stack output. */
export interface StackSettings {
    environment: "local" | "staging" | "production";
    replicas: number;
    standby: "retire" | "keep";
    drainSeconds: number;
    verifyRequests: number;
    proxy: {
        bindAddress: string;
        /** Absent on stacks last updated before it existed: then the preview listener bound bindAddress. */
        previewBindAddress?: string;
        publicPreview?: boolean;
        livePort: number;
        previewPort: number;
        /** True when proxy.extraHttpConfig (raw nginx, trusted input) is set. */
        extraHttpConfig?: boolean;
        /** The HTTPS listeners' host ports, or null/absent without TLS. */
        tls?: { tlsPort: number; previewTlsPort: number; redirectHttp: boolean } | null;
    };
    health: { timeoutSeconds: number };
}

export interface Violation {
    message: string;
    /** The resource it is about; absent for the stack as a whole. */
    urn?: string;
}

/** Policy config (pulumi preview --policy-pack-config). */
export interface PolicyConfig {
    /** Seconds the live colour took from start to its first healthy answer (npm run plan measures it). */
    measuredStartSeconds?: number;
}

export interface PolicyRule {
    name: string;
    description: string;
    level: Level;
    /** Production only, or every stack. */
    scope: "production" | "every stack";
    check(resources: ResourceView[], settings: StackSettings, config: PolicyConfig): Violation[];
}

const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
const IMAGE = "docker:index/remoteImage:RemoteImage";
const COMMAND = "command:local:Command";
const STACK = "pulumi:pulumi:Stack";

// The bounds and the root rule the program enforces on the config itself (lib/production.ts).
export { PRODUCTION_BOUNDS, runsAsRoot } from "../lib/production";
import { PRODUCTION_BOUNDS, runsAsRoot } from "../lib/production";

export function settingsOf(resources: ResourceView[]): StackSettings | undefined {
    const stack = resources.find((r) => r.type === STACK);
    const s = stack?.props?.settings;
    return s && typeof s === "object" && typeof s.environment === "string" ? (s as StackSettings) : undefined;
}

export function labelsOf(r: ResourceView): Record<string, string> {
    const labels = Array.isArray(r.props.labels) ? r.props.labels : [];
    return Object.fromEntries(labels.filter((l: any) => l && typeof l.label === "string").map((l: any) => [l.label, String(l.value)]));
}

const role = (r: ResourceView) => labelsOf(r)["switchyard.role"];
const containers = (rs: ResourceView[], ...roles: string[]) => rs.filter((r) => r.type === CONTAINER && (roles.length === 0 || roles.includes(role(r))));
const dockerName = (r: ResourceView) => String(r.props.name ?? r.name);
/**
 * Where a proxy listens, as { ip, external }: the ports Docker publishes, or with
 * host networking the `listen address:port` lines of the config its proxy-config
 * step installs (nginx binds the host's addresses itself; its unix sockets are
 * its own probes').
 */
const portsOf = (r: ResourceView, rs: ResourceView[] = []): any[] => {
    if (r.props.networkMode !== "host") return Array.isArray(r.props.ports) ? r.props.ports : [];
    const config = rs.find((c) => String(c.props.create ?? "").includes("proxy-config.sh") && c.props.environment?.SWITCHYARD_PROXY === r.props.name);
    return [...String(config?.props.stdin ?? "").matchAll(/^\s*listen \[?([0-9a-fA-F.:]+?)\]?:(\d+)[ ;]/gm)].map((m) => ({ ip: m[1], external: Number(m[2]) }));
};
/** Host ports of the preview listeners: plain, and HTTPS with TLS. */
const previewPortsOf = (s: StackSettings): number[] => [s.proxy.previewPort, ...(s.proxy.tls ? [s.proxy.tls.previewTlsPort] : [])];

// The same rule the config schema applies to production images.
export { isPinned } from "../lib/config";
import { isLoopback, isPinned } from "../lib/config";

export const POLICIES: PolicyRule[] = [
    {
        name: "images-pinned",
        description: "Production images are pinned: a tag other than latest, or an @sha256 digest.",
        level: "mandatory",
        scope: "production",
        check: (rs) =>
            rs
                .filter((r) => r.type === IMAGE && typeof r.props.name === "string" && !isPinned(r.props.name))
                .map((r) => ({
                    urn: r.urn,
                    message: `${r.name}: image "${r.props.name}" is not pinned; use a tag other than latest or an @sha256 digest (slots.<colour>.image, postgres.image, redis.image, proxy.image)`,
                })),
    },
    {
        name: "data-protected",
        description: "Production data containers and volumes (Postgres, Redis, backups) are protected from deletion.",
        level: "mandatory",
        scope: "production",
        check: (rs) =>
            [...containers(rs, "postgres", "redis"), ...rs.filter((r) => r.type === VOLUME && /-(pgdata|redisdata|backups)$/.test(dockerName(r)))]
                .filter((r) => !r.protect)
                .map((r) => ({
                    urn: r.urn,
                    message: `${r.name} (${dockerName(r)}): protect is false; production data must be protected (environment: production sets it; do not unprotect it in state)`,
                })),
    },
    {
        name: "data-not-published",
        description: "Postgres and Redis publish no host port.",
        level: "mandatory",
        scope: "production",
        check: (rs) =>
            containers(rs, "postgres", "redis")
                .filter((r) => Array.isArray(r.props.ports) && r.props.ports.length > 0)
                .map((r) => ({
                    urn: r.urn,
                    message: `${r.name} (${dockerName(r)}) publishes ${r.props.ports.map((p: any) => `${p.ip ?? "0.0.0.0"}:${p.external}->${p.internal}`).join(", ")}; data services stay on the internal backend network: remove the ports`,
                })),
    },
    {
        name: "memory-limits",
        description: "Every production container has a memory limit.",
        level: "mandatory",
        scope: "production",
        check: (rs) =>
            containers(rs)
                .filter((r) => !(Number(r.props.memory) > 0))
                .map((r) => ({
                    urn: r.urn,
                    message: `${r.name} (${dockerName(r)}): memory is ${r.props.memory ?? "unset"}; set limits.<service>.memoryMb so one container cannot starve the host`,
                })),
    },
    {
        name: "app-non-root",
        description: "Production app containers run as a non-root user.",
        level: "mandatory",
        scope: "production",
        check: (rs) =>
            containers(rs, "app")
                .filter((r) => runsAsRoot(r.props.user))
                .map((r) => ({
                    urn: r.urn,
                    message: `${r.name} (${dockerName(r)}): user is ${r.props.user ? `"${r.props.user}"` : "unset (the image decides, possibly root)"}; set appUser to a non-root uid:gid, such as 10001:10001`,
                })),
    },
    {
        name: "release-safety-bounds",
        description: `Production releases drain ${PRODUCTION_BOUNDS.drainSeconds[0]}-${PRODUCTION_BOUNDS.drainSeconds[1]} s, verify with at least ${PRODUCTION_BOUNDS.minVerifyRequests} requests, and use standby keep or retire.`,
        level: "mandatory",
        scope: "production",
        check: (_rs, s) => {
            const out: Violation[] = [];
            const [lo, hi] = PRODUCTION_BOUNDS.drainSeconds;
            if (!(s.drainSeconds >= lo && s.drainSeconds <= hi)) {
                out.push({ message: `drainSeconds is ${s.drainSeconds}; production needs ${lo}-${hi} s so requests in flight to the old colour finish (pulumi config set drainSeconds 30)` });
            }
            if (!(s.verifyRequests >= PRODUCTION_BOUNDS.minVerifyRequests)) {
                out.push({ message: `verifyRequests is ${s.verifyRequests}; production needs at least ${PRODUCTION_BOUNDS.minVerifyRequests} answers from the new colour before the switch counts (pulumi config set verifyRequests 10)` });
            }
            if (s.standby !== "keep" && s.standby !== "retire") {
                out.push({ message: `standby is ${JSON.stringify(s.standby)}; use keep (instant rollback) or retire` });
            }
            return out;
        },
    },
    {
        name: "proxy-listeners",
        description: "The proxy's live and preview ports differ and bind where the config says.",
        level: "mandatory",
        scope: "every stack",
        check: (rs, s) =>
            containers(rs, "proxy").flatMap((r) => {
                const ports = portsOf(r, rs);
                const externals = ports.map((p) => Number(p.external));
                const out: Violation[] = [];
                const tls = s.proxy.tls ?? undefined;
                const want = [s.proxy.livePort, s.proxy.previewPort, ...(tls ? [tls.tlsPort, tls.previewTlsPort] : [])];
                if (new Set(externals).size !== externals.length || externals.length !== want.length || !want.every((p) => externals.includes(p))) {
                    const named = `proxy.livePort ${s.proxy.livePort} and proxy.previewPort ${s.proxy.previewPort}${tls ? `, proxy.tlsPort ${tls.tlsPort} and proxy.previewTlsPort ${tls.previewTlsPort}` : ""}`;
                    out.push({ urn: r.urn, message: `${r.name}: listens on ports ${JSON.stringify(externals)}; it must listen on ${named}, ${want.length === 2 ? "two" : "four"} different ports` });
                }
                const previewBind = s.proxy.previewBindAddress ?? s.proxy.bindAddress;
                for (const p of ports) {
                    const [key, want] = previewPortsOf(s).includes(Number(p.external)) ? ["proxy.previewBindAddress", previewBind] : ["proxy.bindAddress", s.proxy.bindAddress];
                    if ((p.ip ?? "0.0.0.0") !== want) out.push({ urn: r.urn, message: `${r.name}: port ${p.external} binds ${p.ip ?? "0.0.0.0"}, but ${key} is ${want}` });
                }
                return out;
            }),
    },
    {
        name: "preview-listener-private",
        description: "The production preview listener (the idle colour: a staged or the previous release) binds loopback unless the stack sets proxy.publicPreview.",
        level: "mandatory",
        scope: "production",
        check: (rs, s) =>
            containers(rs, "proxy").flatMap((r) =>
                portsOf(r, rs)
                    .filter((p) => previewPortsOf(s).includes(Number(p.external)) && !isLoopback(p.ip ?? "0.0.0.0") && s.proxy.publicPreview !== true)
                    .map((p) => ({
                        urn: r.urn,
                        message: `${r.name}: the preview listener (port ${p.external}) binds ${p.ip ?? "0.0.0.0"}, reachable beyond this host; it serves the idle colour, which may be a release with a known flaw. Bind it to 127.0.0.1 (proxy.previewBindAddress), or publish it on purpose with proxy.publicPreview true`,
                    })),
            ),
    },
    {
        name: "extra-http-config-reviewed",
        description: "proxy.extraHttpConfig is raw nginx (trusted input: it can add listeners or serve files); production flags it for review.",
        level: "advisory",
        scope: "production",
        check: (_rs, s) =>
            s.proxy.extraHttpConfig
                ? [{ message: "proxy.extraHttpConfig is set: raw nginx directives are trusted input, as powerful as editing nginx.conf (a listener, a location serving the proxy's files); review every change to it like code" }]
                : [],
    },
    {
        name: "release-steps-never-undo",
        description: "No release step has a delete command or triggers: either would undo a switch when the step is replaced.",
        level: "mandatory",
        scope: "every stack",
        check: (rs) =>
            rs
                .filter((r) => r.type === COMMAND && (r.props.delete || (Array.isArray(r.props.triggers) && r.props.triggers.length > 0)))
                .map((r) => ({
                    urn: r.urn,
                    message: `${r.name}: has ${r.props.delete ? `delete "${r.props.delete}"` : "triggers"}; a replaced release step would run it and undo the switch that just happened; remove it (steps run on create and update only)`,
                })),
    },
    {
        name: "replicas-production",
        description: "Production runs at least 2 replicas per colour.",
        level: "advisory",
        scope: "production",
        check: (_rs, s) =>
            s.replicas < 2 ? [{ message: `replicas is ${s.replicas}; with one replica a crash of it is an outage; production should run at least 2 (pulumi config set replicas 3)` }] : [],
    },
    {
        name: "health-timeout-vs-start",
        description: "The gate's health timeout is longer than the app's measured start time.",
        level: "advisory",
        scope: "every stack",
        check: (_rs, s, config) => {
            const measured = config.measuredStartSeconds;
            if (measured === undefined || !(measured > 0)) return [];
            return s.health.timeoutSeconds <= measured
                ? [{ message: `health.timeoutSeconds is ${s.health.timeoutSeconds}, but the live colour took ${measured.toFixed(1)} s from start to its first healthy answer; every release would fail its gate (pulumi config set --path health.timeoutSeconds ${Math.ceil(measured * 2)})` }]
                : [];
        },
    },
];

/** Every violation of every rule that applies to this stack. */
export function evaluate(resources: ResourceView[], config: PolicyConfig = {}): { rule: PolicyRule; violation: Violation }[] {
    const settings = settingsOf(resources);
    if (!settings) return [];
    return POLICIES.filter((p) => p.scope === "every stack" || settings.environment === "production").flatMap((rule) =>
        rule.check(resources, settings, config).map((violation) => ({ rule, violation })),
    );
}
