// Renders the proxy's nginx.conf from nginx.conf.template. The template is a
// file so that `nginx -t` tests can render exactly what the stack would run.
import * as fs from "fs";
import { packageFile } from "../lib/package";
import { MAINTENANCE_MARKER, ROUTE_MARKER, STATE_DIR } from "../lib/routemarker";

/** Ports nginx listens on inside the proxy container (published per config). */
export const LIVE_LISTEN_PORT = 8080;
export const PREVIEW_LISTEN_PORT = 8081;
/** HTTPS listeners inside the proxy container (only with TLS). */
export const LIVE_TLS_LISTEN_PORT = 8443;
export const PREVIEW_TLS_LISTEN_PORT = 8444;
/** Certificate chain and key in one file, so one rename swaps both (tls-config step). */
export const TLS_FILE = `${STATE_DIR}/tls/server.pem`;
/** The config directory, mounted as a directory (design brief, fact 6). */
export const CONF_DIR = "/etc/switchyard/nginx";

export interface NginxTemplateValues {
    /** Port the app listens on in every slot. */
    appPort: number;
    /** worker_shutdown_timeout: how long old workers may drain after a reload. */
    drainSeconds: number;
    /** Retry-After of a maintenance answer. Defaults to 120. */
    retryAfterSeconds?: number;
    /** Extra directives for the http block (proxy.extraHttpConfig). Defaults to none. */
    extraHttpConfig?: string;
    /** HTTPS listeners beside the plain ones. Defaults to none. */
    tls?: {
        /** Answer plain HTTP on the live listener with a 301 to HTTPS (not requests from inside the proxy). */
        redirectHttp: boolean;
        /** The host port of the live HTTPS listener, for the redirect's URL. */
        publicPort: number;
    };
}

// The certificate is named through a variable, so nginx reads the file at
// each handshake (fact 13): a renewed certificate is in use at the next
// handshake, with no reload and so no reset keep-alive connection (fact 5).
const TLS_HTTP_CONFIG = `    map $ssl_server_name $switchyard_tls_file {
        default ${TLS_FILE};
    }
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:switchyard_tls:10m;
    ssl_session_timeout 1h;`;
const tlsListen = (port: number) => `        listen ${port} ssl http2;
        ssl_certificate $switchyard_tls_file;
        ssl_certificate_key $switchyard_tls_file;`;

const TEMPLATE_PATH = packageFile("nginx", "nginx.conf.template");

export function renderNginxConfig(values: NginxTemplateValues, template = fs.readFileSync(TEMPLATE_PATH, "utf8")): string {
    const vars: Record<string, string> = {
        appPort: String(values.appPort),
        // 0 would cut every in-flight request at a reload; keep at least 1 s.
        drainSeconds: String(Math.max(1, values.drainSeconds)),
        readTimeoutSeconds: String(Math.max(75, values.drainSeconds + 15)),
        liveListenPort: String(LIVE_LISTEN_PORT),
        previewListenPort: String(PREVIEW_LISTEN_PORT),
        stateDir: STATE_DIR,
        routeMarker: `${STATE_DIR}/${ROUTE_MARKER}`,
        maintenanceMarker: `${STATE_DIR}/${MAINTENANCE_MARKER}`,
        retryAfterSeconds: String(values.retryAfterSeconds ?? 120),
        tlsHttpConfig: values.tls
            ? TLS_HTTP_CONFIG +
              (values.tls.redirectHttp
                  ? `\n    # Plain HTTP from outside goes to HTTPS; the proxy's own probes (127.0.0.1) stay on HTTP.
    map "$scheme $remote_addr" $switchyard_to_https {
        default 0;
        "~^http (?!127\\.0\\.0\\.1$)" 1;
    }`
                  : "")
            : "",
        liveTlsListen: values.tls ? tlsListen(LIVE_TLS_LISTEN_PORT) : "",
        previewTlsListen: values.tls ? tlsListen(PREVIEW_TLS_LISTEN_PORT) : "",
        httpsRedirect: values.tls?.redirectHttp
            ? `        if ($switchyard_to_https) {
            return 301 https://$host${values.tls.publicPort === 443 ? "" : `:${values.tls.publicPort}`}$request_uri;
        }`
            : "",
        extraHttpConfig: (values.extraHttpConfig ?? "").split("\n").map((l) => (l.trim() ? `    ${l.trim()}` : "")).join("\n"),
    };
    return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        if (!(key in vars)) throw new Error(`nginx template: unknown placeholder {{${key}}}`);
        return vars[key];
    });
}
