// Renders the proxy's nginx.conf from nginx.conf.template. The template is a
// file so that `nginx -t` tests can render exactly what the stack would run;
// each part that depends on settings is a small pure function below.
import * as fs from "fs";
import { Colour, COLOURS, RetriableMethod } from "../lib/config";
import { packageFile } from "../lib/package";
import { CANARY_PREFIX, CLOSING_MARKER, CONF_DIR, MAINTENANCE_MARKER, ROUTE_MARKER, STATE_DIR, TLS_FILES } from "../lib/routemarker";
import { bucketNames, CANARY_COOKIE } from "../lib/canary";

/** Ports nginx listens on inside the proxy container (published per config). */
export const LIVE_LISTEN_PORT = 8080;
export const PREVIEW_LISTEN_PORT = 8081;
/** HTTPS listeners inside the proxy container (only with TLS). */
export const LIVE_TLS_LISTEN_PORT = 8443;
export const PREVIEW_TLS_LISTEN_PORT = 8444;
/** The certificate from config, in two copies (lib/routemarker.ts says why). */
export { TLS_FILES };
/** The config directory, mounted as a directory (design brief, fact 6): route-marker.env defines it. */
export { CONF_DIR };
/** The ACME sidecar's volume in the proxy (read-only there): its certificate and the HTTP-01 answers. */
export const ACME_DIR = "/etc/switchyard/acme";
export const ACME_TLS_FILE = `${ACME_DIR}/server.pem`;
export const ACME_WEBROOT = `${ACME_DIR}/webroot`;
/**
 * With host networking, nginx's own probes (verify, the config and certificate
 * checks) reach it on unix sockets inside its container: the host's 127.0.0.1
 * is every local process's, the socket the proxy's alone.
 */
export const LIVE_SOCKET = "/run/switchyard-live.sock";
export const LIVE_TLS_SOCKET = "/run/switchyard-live-tls.sock";
export const PREVIEW_SOCKET = "/run/switchyard-preview.sock";

/**
 * Where nginx listens. `bridge`: fixed ports inside the container, published by
 * Docker from the frontend network (stacks made by 0.2). `host`: the host's own
 * addresses (host networking), so no Docker port rule stands between a client
 * and the proxy: an engine restart rewrites those rules and refuses new
 * connections meanwhile.
 */
export type Listeners =
    | { mode: "bridge" }
    | { mode: "host"; live: HostListen; preview: HostListen; liveTls?: HostListen; previewTls?: HostListen };

/** An address and port on the host. */
export interface HostListen {
    address: string;
    port: number;
}

/** The uid of the user nginx's workers run as (the template's `user nobody nogroup;`): the ACME sidecar writes the certificate for it. */
export const WORKER_UID = 65534;

/** Headers the proxy adds to its own pages (maintenance, 421, preview's 503, /healthz): strict, they carry no app content. */
export const PROXY_PAGE_HEADERS: Record<string, string> = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
};

/** How nginx finds the colours' replicas. */
export type Routing =
    /** Upstreams of fixed addresses per colour (lib/addressing.ts): no DNS per request. */
    | { mode: "upstreams"; addresses: Record<Colour, string[]>; keepaliveSeconds: number; failTimeoutSeconds: number }
    /** Docker's DNS aliases app-blue/app-green, resolved per request (stacks made before fixed addressing). */
    | { mode: "dns" };

/** What the app's requests meet at the proxy (the `proxy.*` keys). */
export interface ProxyBehaviour {
    /** client_max_body_size in MB; 0 = no limit. */
    maxBodyMb: number;
    readTimeoutSeconds: number;
    sendTimeoutSeconds: number;
    /** Idle timeout of WebSockets and server-sent events. */
    streamTimeoutSeconds: number;
    /** Buffer responses (a slow client does not hold an app worker); streams never are. */
    buffering: boolean;
    /** Header -> value, each added only when the app's response has no such header; "" leaves it out. */
    securityHeaders: Record<string, string>;
    /** Host names the app serves; empty: any. */
    hostnames: string[];
    /** CIDRs of load balancers whose X-Forwarded-* headers are kept. */
    trustedProxies: string[];
    /** Methods besides GET, HEAD and OPTIONS the app handles idempotently (retried after a replica failed midway). */
    idempotentMethods: RetriableMethod[];
}

export const DEFAULT_PROXY_BEHAVIOUR: ProxyBehaviour = {
    maxBodyMb: 25,
    readTimeoutSeconds: 75,
    sendTimeoutSeconds: 60,
    streamTimeoutSeconds: 3600,
    buffering: true,
    securityHeaders: { "X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "strict-origin-when-cross-origin" },
    hostnames: [],
    trustedProxies: [],
    idempotentMethods: [],
};

export interface NginxTemplateValues {
    /** Port the app listens on in every slot. */
    appPort: number;
    /** worker_shutdown_timeout: how long old workers may drain after a reload. */
    drainSeconds: number;
    /** Retry-After of a maintenance answer. Defaults to 120. */
    retryAfterSeconds?: number;
    /** Extra directives for the http block (proxy.extraHttpConfig). Defaults to none. */
    extraHttpConfig?: string;
    /** How the replicas are found. Defaults to Docker's DNS (a stack made before fixed addressing). */
    routing?: Routing;
    /** Where nginx listens. Defaults to bridge (fixed ports in the container, published by Docker). */
    listeners?: Listeners;
    /** Headers, limits, host names, trusted proxies. Defaults to DEFAULT_PROXY_BEHAVIOUR. */
    behaviour?: Partial<ProxyBehaviour>;
    /** HTTPS listeners beside the plain ones. Defaults to none. */
    tls?: {
        /** Answer plain HTTP on the live listener with a 301 to HTTPS (not requests from inside the proxy). */
        redirectHttp: boolean;
        /** The host port of the live HTTPS listener, for the redirect's URL. */
        publicPort: number;
        /** One certificate file (chain and key), such as the ACME sidecar's. Defaults to the tls-config step's two copies, TLS_FILES. */
        file?: string;
    };
    /** Serve the ACME sidecar's HTTP-01 answers from its webroot. Defaults to false. */
    acme?: boolean;
    /** Split the live listener's traffic by the canary ladder (canary.steps). Defaults to no split: the config is what it was before canaries. */
    canary?: { cookieMaxAgeSeconds: number };
    /** The metrics sidecar reads the records (renderMetricsLog) and the requests' start records (renderInFlight). Defaults to false. */
    metrics?: boolean;
    /** Also write the access records to METRICS_LOG_DIR, one file a minute, for the bake and the canary; metrics implies it. Defaults to false. */
    records?: boolean;
}

/** Where nginx writes the record files for the metrics sidecar (engine/metrics-exporter.ts), the bake and the canary (engine/watch.ts), in the state volume. */
export const METRICS_LOG_DIR = `${STATE_DIR}/logs`;

/**
 * The record files: the same records as docker logs gets, one file per
 * minute. The metrics sidecar, the bake and the canary each read them from
 * where they stopped; the metrics sidecar or the keeper (components/records.ts)
 * removes a file once nginx has moved on, so nothing rotates and nothing grows.
 * Starts with a line break: without them it renders to nothing.
 */
export function renderMetricsLog(files: boolean | undefined): string {
    if (!files) return "";
    return [
        "",
        "    # the same records, one file a minute, for the bake, the canary and metrics; each",
        "    # ends with the request's id, which its start record (renderInFlight) carries too.",
        "    log_format switchyard_metrics '$remote_addr [$time_iso8601] $switchyard_listener \"$request\" $status '",
        "                                  '$body_bytes_sent rt=$request_time colour=$switchyard_colour '",
        "                                  'upstream=$upstream_addr ust=$upstream_status urt=$upstream_response_time kind=$switchyard_kind id=$request_id';",
        `    log_format switchyard_start '${IN_FLIGHT_START_MARK} $request_id $switchyard_listener colour=$switchyard_colour kind=$switchyard_kind';`,
        "    map $time_iso8601 $switchyard_log_minute {",
        '        "~^(?<switchyard_minute>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2})" $switchyard_minute;',
        "        default unknown;",
        "    }",
        `    access_log ${METRICS_LOG_DIR}/access-$switchyard_log_minute.log switchyard_metrics;`,
        "    open_log_file_cache max=4 inactive=20s valid=60s;",
    ].join("\n");
}

/** The first word of a request's start record in the metrics files (engine/metrics-exporter.ts reads it). */
export const IN_FLIGHT_START_MARK = "S";
/** The internal location whose subrequest writes a request's start record. */
const IN_FLIGHT_LOCATION = "/_switchyard_start";

/**
 * With metrics, each request the proxy sends to a colour, on either listener,
 * also writes a start record when it starts: a mirror subrequest (core nginx)
 * to an internal location that answers 204 and logs. The sidecar counts the
 * requests and streams started and not yet ended, by listener and colour:
 * what is in flight, and the open WebSockets. The mirror does not read the body first
 * (mirror_request_body off), so uploads still stream to the app. Not in
 * @unsent: a request there started in @once.
 */
export function renderInFlight(metrics: boolean | undefined): { location: string; start: string } {
    if (!metrics) return { location: "", start: "" };
    return {
        location: [
            "",
            `        location = ${IN_FLIGHT_LOCATION} {`,
            "            internal;",
            "            log_subrequest on;",
            `            access_log ${METRICS_LOG_DIR}/access-$switchyard_log_minute.log switchyard_start;`,
            "            return 204;",
            "        }",
        ].join("\n"),
        start: `\n            mirror ${IN_FLIGHT_LOCATION};\n            mirror_request_body off;`,
    };
}

/** nginx's quoted string: the config values reaching here are validated (lib/config.ts), this keeps them one token. */
function quoted(value: string): string {
    if (/["\\$\x00-\x1f\x7f]/.test(value)) throw new Error(`nginx value must not contain ", \\, $ or control characters: ${JSON.stringify(value)}`);
    return `"${value}"`;
}

/**
 * `upstream` blocks (live and preview apart: a failure the preview saw never
 * marks a live replica down) or the resolver. Live: a replica that failed is
 * left out for failTimeoutSeconds. Preview: never left out (max_fails=0): it is
 * probed while its colour is not running, and a mark from then would answer
 * "not running" for seconds after the colour was staged; a dead replica there
 * costs a retry on the next one.
 */
export function renderRouting(routing: Routing, appPort: number): string {
    if (routing.mode === "dns") {
        return [
            "    # Docker's embedded DNS: app-blue / app-green are network aliases shared by",
            "    # a colour's replicas. Short validity so a re-created slot is found quickly.",
            "    resolver 127.0.0.11 valid=1s ipv6=off;",
            "    resolver_timeout 2s;",
        ].join("\n");
    }
    const blocks: string[] = [];
    for (const listener of ["live", "preview"]) {
        for (const colour of COLOURS) {
            const name = `switchyard_${listener}_${colour}`;
            blocks.push(
                `    upstream ${name} {`,
                // Shared by every worker: one failed connection takes the address out for all of them.
                `        zone ${name} 64k;`,
                ...routing.addresses[colour].map((ip) =>
                    listener === "live" ? `        server ${ip}:${appPort} max_fails=1 fail_timeout=${routing.failTimeoutSeconds}s;` : `        server ${ip}:${appPort} max_fails=0;`,
                ),
                ...(routing.keepaliveSeconds > 0 ? [`        keepalive 16;`, `        keepalive_timeout ${nginxTime(routing.keepaliveSeconds)};`] : []),
                `    }`,
            );
        }
    }
    return blocks.join("\n");
}

/** Seconds as nginx writes a time: whole seconds as "2s", a fraction in milliseconds ("500ms"). */
export function nginxTime(seconds: number): string {
    return Number.isInteger(seconds) ? `${seconds}s` : `${Math.round(seconds * 1000)}ms`;
}

/** Where a listener's requests go: the colour is a variable (the route marker), never a reload. */
export function upstreamOf(routing: Routing, listener: "live" | "preview", appPort: number): string {
    return routing.mode === "dns" ? `http://app-$switchyard_colour:${appPort}` : `http://switchyard_${listener}_$switchyard_colour`;
}

/**
 * $switchyard_resend by method: how a request that reached a replica which then
 * failed may be sent again. nginx's own rule resends everything but POST, PATCH
 * and LOCK, so PUT, DELETE and methods nginx does not know are sent once unless
 * the app marks them idempotent: "" = nginx's rule (GET, HEAD, OPTIONS, the
 * listed PUT/DELETE; POST and PATCH then go elsewhere only when nothing was
 * sent), "once" = never sent again, "any" = a listed POST or PATCH, resent.
 */
export function renderResend(idempotent: readonly RetriableMethod[]): string {
    const marked = new Set<string>(idempotent);
    const entry = (m: string, unmarked: string, whenMarked: string) => `        ${m} "${marked.has(m) ? whenMarked : unmarked}";`;
    return [
        "    map $request_method $switchyard_resend {",
        "        default once;",
        '        GET "";',
        '        HEAD "";',
        '        OPTIONS "";',
        entry("PUT", "once", ""),
        entry("DELETE", "once", ""),
        entry("POST", "", "any"),
        entry("PATCH", "", "any"),
        '        LOCK "";',
        "    }",
    ].join("\n");
}

/** One map per header: the app's own value wins (the map answers "" and add_header then adds nothing). */
export function renderSecurityHeaders(headers: Record<string, string>): string {
    return Object.entries(headers)
        .filter(([, value]) => value !== "")
        .map(([name, value]) => {
            const v = name.toLowerCase().replace(/-/g, "_");
            return [
                `    map $upstream_http_${v} $switchyard_h_${v} {`,
                `        "" ${quoted(value)};`,
                `        default "";`,
                `    }`,
                `    add_header ${name} $switchyard_h_${v} always;`,
            ].join("\n");
        })
        .join("\n");
}

/**
 * Trust: the peer is the TCP connection's address ($realip_remote_addr). Only
 * a trusted peer's X-Forwarded-* headers pass; its X-Forwarded-For becomes the
 * client's address ($remote_addr, realip). The proxy's own probes are trusted too.
 */
export function renderTrust(trusted: string[], listeners: Listeners["mode"]): string {
    const realip = trusted.length
        ? [...trusted.map((c) => `    set_real_ip_from ${c};`), "    real_ip_header X-Forwarded-For;", "    real_ip_recursive on;"]
        : [];
    return [
        ...realip,
        // The proxy's own probes: its unix sockets (host networking), or its loopback (a
        // bridge container's 127.0.0.1 is its own; a host's is every local process's).
        "    map $realip_remote_addr $switchyard_internal {",
        '        default "";',
        `        ${listeners === "host" ? '"unix:"' : "127.0.0.1"} 1;`,
        "    }",
        "    geo $realip_remote_addr $switchyard_trusted_cidr {",
        "        default 0;",
        ...trusted.map((c) => `        ${c} 1;`),
        "    }",
        '    map "$switchyard_internal$switchyard_trusted_cidr" $switchyard_trusted_peer {',
        "        default 1;",
        '        "0" 0;',
        "    }",
        '    map "$switchyard_trusted_peer|$http_x_forwarded_proto" $switchyard_forwarded_proto {',
        "        default $scheme;",
        '        "~^1\\|(?<proto>https?)$" $proto;',
        "    }",
        '    map "$switchyard_trusted_peer|$http_x_forwarded_for" $switchyard_forwarded_for {',
        "        default $realip_remote_addr;",
        '        "~^1\\|(?<chain>.+)$" "$chain, $realip_remote_addr";',
        "    }",
        '    map "$switchyard_trusted_peer|$http_x_forwarded_host" $switchyard_forwarded_host {',
        '        default "";',
        '        "~^1\\|(?<fhost>.+)$" $fhost;',
        "    }",
        '    map "$switchyard_trusted_peer|$http_x_forwarded_port" $switchyard_forwarded_port {',
        '        default "";',
        '        "~^1\\|(?<fport>[0-9]+)$" $fport;',
        "    }",
    ].join("\n");
}

/** $switchyard_unknown_host: 1 for a Host the app does not serve; never with no hostnames given. */
export function renderHostCheck(hostnames: string[]): string {
    return [
        "    map $host $switchyard_unknown_host {",
        ...(hostnames.length ? ["        hostnames;", "        default 1;", ...hostnames.map((h) => `        ${h} 0;`)] : ["        default 0;"]),
        "    }",
    ].join("\n");
}

/** add_header lines of the proxy's own pages, at the given indent; the route header too (verify reads it on /healthz). */
function proxyPageHeaders(indent: string): string {
    return [
        ...Object.entries(PROXY_PAGE_HEADERS).map(([name, value]) => `${indent}add_header ${name} ${quoted(value)} always;`),
        `${indent}add_header X-Switchyard-Route $switchyard_colour always;`,
        `${indent}add_header Connection $switchyard_close_connection always;`,
    ].join("\n");
}

// The certificate is named through a variable, so nginx reads the file at
// each handshake (fact 13): a renewed certificate is in use at the next
// handshake, with no reload and so no reset keep-alive connection (fact 5).
// A map's value is computed once per handshake, so the chain and the key are
// read from the same copy even when the second turns between the two reads.
const certificateFile = (file: string | undefined) =>
    file === undefined
        ? ["    map $msec $switchyard_tls_file {", `        "~[13579][.][0-9]+$" ${TLS_FILES.odd};`, `        default ${TLS_FILES.even};`, "    }"]
        : ["    map $ssl_server_name $switchyard_tls_file {", `        default ${file};`, "    }"];
const tlsHttpConfig = (file: string | undefined, redirect: boolean) =>
    [
        ...certificateFile(file),
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_cache shared:switchyard_tls:10m;",
        "    ssl_session_timeout 1h;",
        ...(redirect
            ? [
                  "    # Plain HTTP from outside goes to HTTPS; the proxy's own probes stay on HTTP.",
                  '    map "$scheme $switchyard_internal" $switchyard_to_https {',
                  "        default 0;",
                  '        "http " 1;',
                  "    }",
              ]
            : []),
    ].join("\n");
const CERTIFICATE = `        ssl_certificate $switchyard_tls_file;
        ssl_certificate_key $switchyard_tls_file;`;

const hostAddress = (l: HostListen) => `${l.address.includes(":") ? `[${l.address}]` : l.address}:${l.port}`;

/** The `listen` lines of the live or preview server. */
export function renderListen(listeners: Listeners, server: "live" | "preview", tls: boolean): string {
    const lines: string[] = [];
    if (listeners.mode === "bridge") {
        lines.push(`        listen ${server === "live" ? LIVE_LISTEN_PORT : PREVIEW_LISTEN_PORT};`);
        if (tls) lines.push(`        listen ${server === "live" ? LIVE_TLS_LISTEN_PORT : PREVIEW_TLS_LISTEN_PORT} ssl http2;`);
    } else {
        const plain = server === "live" ? listeners.live : listeners.preview;
        const secure = server === "live" ? listeners.liveTls : listeners.previewTls;
        lines.push(`        listen ${hostAddress(plain)};`, `        listen unix:${server === "live" ? LIVE_SOCKET : PREVIEW_SOCKET};`);
        if (tls) {
            if (!secure) throw new Error(`nginx template: HTTPS without a ${server} HTTPS address`);
            lines.push(`        listen ${hostAddress(secure)} ssl http2;`);
            if (server === "live") lines.push(`        listen unix:${LIVE_TLS_SOCKET} ssl;`);
        }
    }
    if (tls) lines.push(CERTIFICATE);
    return lines.join("\n");
}

// The HTTP-01 answers the ACME sidecar writes: plain files, answered before any
// redirect or host check (the CA asks over plain HTTP for the name being validated).
const ACME_LOCATION = `
        location ^~ /.well-known/acme-challenge/ {
            root ${ACME_WEBROOT};
            default_type text/plain;
            try_files $uri =404;
        }
`;

/**
 * The canary's split (lib/canary.ts), in the http block: a request's bucket
 * from a hash of its id, and the sticky cookie for a client the canary routed
 * that had none. Each text starts with a line break: without a canary the
 * placeholders render to nothing and the config is byte for byte as before.
 */
export function renderCanaryHttp(canary: { cookieMaxAgeSeconds: number } | undefined): string {
    if (!canary) return "";
    const buckets = bucketNames();
    return [
        "",
        "",
        "    # canary.steps: one of 100 buckets per request; the ladder in the state",
        "    # directory says which buckets go to the colour that is not live.",
        '    split_clients "${request_id}" $switchyard_bucket {',
        ...buckets.slice(0, -1).map((b) => `        1% ${b};`),
        `        * ${buckets[buckets.length - 1]};`,
        "    }",
        "    # A client the canary routed without a pin keeps that colour for the canary.",
        '    map "$switchyard_canary_on|$switchyard_pinned" $switchyard_canary_cookie {',
        '        default "";',
        `        "1|" "${CANARY_COOKIE}=$switchyard_colour; Path=/; Max-Age=${Math.floor(canary.cookieMaxAgeSeconds)}; HttpOnly; SameSite=Lax$switchyard_canary_secure";`,
        "    }",
        "    map $https $switchyard_canary_secure {",
        '        default "";',
        '        on "; Secure";',
        "    }",
        "    add_header Set-Cookie $switchyard_canary_cookie always;",
    ].join("\n");
}

/**
 * The live server's choice, after the route marker set the live colour: while
 * the ladder of the other colour is on, a pinned client keeps its colour and
 * any other request goes to the other colour when its bucket is in the ladder.
 */
export function renderCanaryServer(canary: { cookieMaxAgeSeconds: number } | undefined, server: "live" | "preview"): string {
    if (!canary) return "";
    // The preview listener splits nothing; the cookie's map reads these in every request.
    if (server === "preview") return ['', '        set $switchyard_canary_on "";', '        set $switchyard_pinned "";'].join("\n");
    const ladder = `${STATE_DIR}/${CANARY_PREFIX}$switchyard_other`;
    return [
        "",
        "        # The canary (lib/canary.ts): no reload changes its weight.",
        "        set $switchyard_other green;",
        `        if (-f ${STATE_DIR}/${ROUTE_MARKER}) {`,
        "            set $switchyard_other blue;",
        "        }",
        '        set $switchyard_canary_on "";',
        `        if (-f ${ladder}/on) {`,
        "            set $switchyard_canary_on 1;",
        "        }",
        '        set $switchyard_canary_hit "";',
        `        if (-f ${ladder}/$switchyard_bucket) {`,
        "            set $switchyard_canary_hit 1;",
        "        }",
        '        set $switchyard_pinned "";',
        `        set $switchyard_canary_pick "$switchyard_canary_on|$cookie_${CANARY_COOKIE}|$switchyard_canary_hit";`,
        '        if ($switchyard_canary_pick ~ "^1\\|(blue|green)\\|1?$") {',
        "            set $switchyard_colour $1;",
        "            set $switchyard_pinned 1;",
        "        }",
        '        if ($switchyard_canary_pick = "1||1") {',
        "            set $switchyard_colour $switchyard_other;",
        "        }",
    ].join("\n");
}

const TEMPLATE_PATH = packageFile("nginx", "nginx.conf.template");

export function renderNginxConfig(values: NginxTemplateValues, template = fs.readFileSync(TEMPLATE_PATH, "utf8")): string {
    const b: ProxyBehaviour = { ...DEFAULT_PROXY_BEHAVIOUR, ...values.behaviour };
    const routing: Routing = values.routing ?? { mode: "dns" };
    const listeners: Listeners = values.listeners ?? { mode: "bridge" };
    const inFlight = renderInFlight(values.metrics);
    const vars: Record<string, string> = {
        appPort: String(values.appPort),
        // 0 would cut every in-flight request at a reload; keep at least 1 s.
        drainSeconds: String(Math.max(1, values.drainSeconds)),
        routing: renderRouting(routing, values.appPort),
        // Fixed addresses are on this host's bridge: a connection either opens at once or the replica is gone.
        connectTimeout: routing.mode === "dns" ? "2s" : "1s",
        liveUpstream: upstreamOf(routing, "live", values.appPort),
        previewUpstream: upstreamOf(routing, "preview", values.appPort),
        maxBodySize: b.maxBodyMb === 0 ? "0" : `${b.maxBodyMb}m`,
        readTimeoutSeconds: String(b.readTimeoutSeconds),
        sendTimeoutSeconds: String(b.sendTimeoutSeconds),
        streamTimeoutSeconds: String(b.streamTimeoutSeconds),
        buffering: b.buffering ? "on" : "off",
        securityHeaders: renderSecurityHeaders(b.securityHeaders),
        trust: renderTrust(b.trustedProxies, listeners.mode),
        resend: renderResend(b.idempotentMethods),
        hostCheck: renderHostCheck(b.hostnames),
        proxyPageHeaders: proxyPageHeaders("            "),
        liveListen: renderListen(listeners, "live", values.tls !== undefined),
        previewListen: renderListen(listeners, "preview", values.tls !== undefined),
        stateDir: STATE_DIR,
        routeMarker: `${STATE_DIR}/${ROUTE_MARKER}`,
        maintenanceMarker: `${STATE_DIR}/${MAINTENANCE_MARKER}`,
        closingMarker: `${STATE_DIR}/${CLOSING_MARKER}`,
        retryAfterSeconds: String(values.retryAfterSeconds ?? 120),
        tlsHttpConfig: values.tls ? tlsHttpConfig(values.tls.file, values.tls.redirectHttp) : "",
        httpsRedirect: values.tls?.redirectHttp
            ? `            if ($switchyard_to_https) {
                return 301 https://$host${values.tls.publicPort === 443 ? "" : `:${values.tls.publicPort}`}$request_uri;
            }`
            : "",
        acmeLocation: values.acme ? ACME_LOCATION : "",
        canaryHttp: renderCanaryHttp(values.canary),
        canaryLive: renderCanaryServer(values.canary, "live"),
        canaryPreview: renderCanaryServer(values.canary, "preview"),
        metricsLog: renderMetricsLog(values.metrics || values.records),
        inFlightLocation: inFlight.location,
        inFlightStart: inFlight.start,
        extraHttpConfig: (values.extraHttpConfig ?? "").split("\n").map((l) => (l.trim() ? `    ${l.trim()}` : "")).join("\n"),
    };
    return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        if (!(key in vars)) throw new Error(`nginx template: unknown placeholder {{${key}}}`);
        return vars[key];
    });
}
