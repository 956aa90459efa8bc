// The proxy's settings from a stack's config: how it finds the replicas and
// what the app's requests meet there. Pure: the component and the tests read
// the same answers.
import { Addressing, colourAddresses } from "./addressing";
import { COLOURS, SwitchyardConfig } from "./config";
import { DEFAULT_PROXY_BEHAVIOUR, ProxyBehaviour, Routing } from "../nginx/render";

/**
 * How long nginx leaves out a replica it could not reach before it tries it
 * again with one request. Short: that request waits at most the connect
 * timeout (1 s) and then goes to another replica, so probing costs little, and
 * a replica that is back takes its share again within seconds.
 */
export const FAIL_TIMEOUT_SECONDS = 5;

/** Upstreams of the fixed addresses, or Docker's DNS for a stack still on it. */
export function routingOf(addressing: Addressing, cfg: Pick<SwitchyardConfig, "replicas" | "proxy">): Routing {
    if (addressing.mode === "dns") return { mode: "dns" };
    const { frontend } = addressing.subnets;
    return {
        mode: "upstreams",
        addresses: Object.fromEntries(COLOURS.map((c) => [c, colourAddresses(frontend, c, cfg.replicas)])) as Record<(typeof COLOURS)[number], string[]>,
        keepaliveSeconds: cfg.proxy.upstreamKeepaliveSeconds,
        failTimeoutSeconds: FAIL_TIMEOUT_SECONDS,
    };
}

/** What the app's requests meet: the `proxy.*` keys, security headers merged over the defaults. */
export function proxyBehaviour(cfg: Pick<SwitchyardConfig, "proxy">): ProxyBehaviour {
    const p = cfg.proxy;
    return {
        maxBodyMb: p.maxBodyMb,
        readTimeoutSeconds: p.readTimeoutSeconds,
        sendTimeoutSeconds: p.sendTimeoutSeconds,
        streamTimeoutSeconds: p.streamTimeoutSeconds,
        buffering: p.buffering,
        securityHeaders: mergeHeaders(DEFAULT_PROXY_BEHAVIOUR.securityHeaders, p.securityHeaders),
        hostnames: p.hostnames,
        trustedProxies: p.trustedProxies,
        idempotentMethods: p.idempotentMethods,
    };
}

/** Header names are case-insensitive: a configured "x-frame-options" replaces the default "X-Frame-Options". */
export function mergeHeaders(defaults: Record<string, string>, given: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    const lower = new Set(Object.keys(given).map((k) => k.toLowerCase()));
    for (const [k, v] of Object.entries(defaults)) if (!lower.has(k.toLowerCase())) out[k] = v;
    return { ...out, ...given };
}

/**
 * Whether nginx writes its record files (one a minute, nginx/render.ts
 * renderMetricsLog): for the metrics sidecar, and for a bake or a canary, which
 * read them from a cursor (engine/watch.ts) rather than `docker logs`, whose
 * cost grows with the window.
 */
export function recordFiles(cfg: Pick<SwitchyardConfig, "metrics" | "bake" | "canary">): boolean {
    return cfg.metrics !== undefined || cfg.bake.seconds > 0 || cfg.canary !== undefined;
}
