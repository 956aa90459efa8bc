// Renders the proxy's nginx.conf from nginx.conf.template. The template is a
// file so that `nginx -t` tests can render exactly what the stack would run.
import * as fs from "fs";
import * as path from "path";
import { STATE_DIR } from "../lib/host";

/** Ports nginx listens on inside the proxy container (published per config). */
export const LIVE_LISTEN_PORT = 8080;
export const PREVIEW_LISTEN_PORT = 8081;
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
}

const TEMPLATE_PATH = path.join(__dirname, "nginx.conf.template");

export function renderNginxConfig(values: NginxTemplateValues, template = fs.readFileSync(TEMPLATE_PATH, "utf8")): string {
    const vars: Record<string, string> = {
        appPort: String(values.appPort),
        // 0 would cut every in-flight request at a reload; keep at least 1 s.
        drainSeconds: String(Math.max(1, values.drainSeconds)),
        readTimeoutSeconds: String(Math.max(75, values.drainSeconds + 15)),
        liveListenPort: String(LIVE_LISTEN_PORT),
        previewListenPort: String(PREVIEW_LISTEN_PORT),
        stateDir: STATE_DIR,
        retryAfterSeconds: String(values.retryAfterSeconds ?? 120),
        extraHttpConfig: (values.extraHttpConfig ?? "").split("\n").map((l) => (l.trim() ? `    ${l.trim()}` : "")).join("\n"),
    };
    return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
        if (!(key in vars)) throw new Error(`nginx template: unknown placeholder {{${key}}}`);
        return vars[key];
    });
}
