// What proxy.extraHttpConfig may add to the http block. The template sets
// these directives itself; setting one again either fails `nginx -t`
// ("directive is duplicate") or silently changes what the README promises
// (a second client_max_body_size, realip rules beside proxy.trustedProxies).
// So they are refused when the config is read, naming the key that sets each.

/** Directive of the template's http block -> the key that sets it (or why it is the template's own). */
export const TEMPLATE_HTTP_DIRECTIVES: Record<string, string> = {
    server_tokens: "the template (server_tokens off)",
    default_type: "the template",
    client_body_temp_path: "the template",
    proxy_temp_path: "the template",
    resolver: "the template (routing)",
    resolver_timeout: "the template (routing)",
    log_format: "the template (the bake reads its access log format)",
    access_log: "the template (the bake reads its access log)",
    keepalive_timeout: "the template",
    client_max_body_size: "proxy.maxBodyMb",
    proxy_http_version: "the template (WebSockets and upstream keep-alive need 1.1)",
    proxy_connect_timeout: "the template (routing)",
    proxy_send_timeout: "proxy.sendTimeoutSeconds",
    proxy_read_timeout: "proxy.readTimeoutSeconds",
    proxy_buffering: "proxy.buffering",
    proxy_next_upstream: "the template (retries on another replica)",
    proxy_next_upstream_tries: "the template (retries on another replica)",
    set_real_ip_from: "proxy.trustedProxies",
    real_ip_header: "proxy.trustedProxies",
    real_ip_recursive: "proxy.trustedProxies",
    ssl_protocols: "the template (HTTPS)",
    ssl_prefer_server_ciphers: "the template (HTTPS)",
    ssl_session_cache: "the template (HTTPS)",
    ssl_session_timeout: "the template (HTTPS)",
    server: "the template's own listeners (proxy.livePort, proxy.previewPort, TLS ports)",
    upstream: "the template's own upstreams",
};

/** Directives nginx allows only inside a server or location: they fail `nginx -t` in the http block. */
const NOT_IN_HTTP = ["location", "listen", "server_name", "return", "rewrite", "root", "alias", "try_files", "proxy_pass", "if", "set"];

/** Request headers the template sets for the app; a second proxy_set_header of one would send it twice. */
export const TEMPLATE_PROXY_HEADERS = ["host", "x-real-ip", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "upgrade", "connection"];

/** The top-level statements of an nginx snippet: [directive, first argument], blocks skipped as one statement. */
export function topLevelStatements(text: string): [string, string][] {
    const out: [string, string][] = [];
    let depth = 0;
    let current = "";
    let quote: string | undefined;
    const flush = () => {
        const words = current.trim().split(/\s+/).filter(Boolean);
        if (words.length) out.push([words[0], (words[1] ?? "").replace(/^["']|["']$/g, "")]);
        current = "";
    };
    for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (quote) {
            if (ch === "\\") i++;
            else if (ch === quote) quote = undefined;
            if (depth === 0) current += ch;
            continue;
        }
        if (ch === "#") {
            while (i < text.length && text[i] !== "\n") i++;
            continue;
        }
        if (ch === '"' || ch === "'") {
            quote = ch;
            if (depth === 0) current += ch;
        } else if (ch === "{") {
            if (depth === 0) flush();
            depth++;
        } else if (ch === "}") {
            depth = Math.max(0, depth - 1);
        } else if (ch === ";" && depth === 0) {
            flush();
        } else if (depth === 0) {
            current += ch;
        }
    }
    flush();
    return out;
}

/** Why each statement of an extraHttpConfig snippet is refused; empty when it can go in the http block. */
export function extraHttpConfigProblems(text: string): string[] {
    const problems: string[] = [];
    for (const [directive, arg] of topLevelStatements(text)) {
        const owner = TEMPLATE_HTTP_DIRECTIVES[directive];
        if (owner) {
            problems.push(`sets ${directive}, which the proxy's template sets already (${owner}); set that instead`);
        } else if (NOT_IN_HTTP.includes(directive)) {
            problems.push(`has a ${directive} directive, which nginx allows only inside a server or location, not in the http block this text goes into`);
        } else if (directive === "proxy_set_header" && TEMPLATE_PROXY_HEADERS.includes(arg.toLowerCase())) {
            problems.push(`sets the request header ${arg}, which the template sets already (README, "The proxy: what your app sees")`);
        }
    }
    return problems;
}
