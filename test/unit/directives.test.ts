// proxy.extraHttpConfig never collides with the template (nginx/directives.ts):
// the list of what the template sets is checked against what it renders, so it
// cannot drift, and every entry is refused in extraHttpConfig.
import * as assert from "assert";
import { extraHttpConfigProblems, TEMPLATE_HTTP_DIRECTIVES, TEMPLATE_PROXY_HEADERS, topLevelStatements } from "../../nginx/directives";
import { renderListen, renderNginxConfig } from "../../nginx/render";

/** Directives nginx allows many times in one block: their own lines never collide. */
const REPEATABLE = ["map", "geo", "add_header", "proxy_set_header"];

function httpBlock(conf: string): string {
    const start = conf.indexOf("http {") + "http {".length;
    return conf.slice(start, conf.lastIndexOf("}"));
}

const variants = {
    "a 0.2 stack (DNS)": renderNginxConfig({ appPort: 3000, drainSeconds: 5 }),
    "fixed addresses, host network, TLS, ACME, every proxy key": renderNginxConfig({
        appPort: 3000,
        drainSeconds: 5,
        routing: { mode: "upstreams", addresses: { blue: ["10.0.0.131"], green: ["10.0.0.161"] }, keepaliveSeconds: 2, failTimeoutSeconds: 5 },
        listeners: { mode: "host", live: { address: "0.0.0.0", port: 80 }, preview: { address: "127.0.0.1", port: 8081 }, liveTls: { address: "0.0.0.0", port: 443 }, previewTls: { address: "127.0.0.1", port: 8444 } },
        behaviour: { hostnames: ["a.example.com"], trustedProxies: ["10.0.0.0/8"], securityHeaders: { "Content-Security-Policy": "default-src 'self'" } },
        tls: { redirectHttp: true, publicPort: 443 },
        acme: true,
    }),
};

describe("extraHttpConfig and the template's own directives", () => {
    for (const [what, conf] of Object.entries(variants)) {
        it(`${what}: every directive the http block sets is on the list extraHttpConfig may not repeat`, () => {
            for (const [directive, arg] of topLevelStatements(httpBlock(conf))) {
                if (directive === "proxy_set_header") assert.ok(TEMPLATE_PROXY_HEADERS.includes(arg.toLowerCase()), `the template sets ${arg}, which is not on TEMPLATE_PROXY_HEADERS`);
                else if (!REPEATABLE.includes(directive)) assert.ok(directive in TEMPLATE_HTTP_DIRECTIVES, `the template sets ${directive}, which is not on TEMPLATE_HTTP_DIRECTIVES`);
            }
        });
    }

    it("each of them is refused in extraHttpConfig, naming what sets it", () => {
        for (const [directive, owner] of Object.entries(TEMPLATE_HTTP_DIRECTIVES)) {
            assert.deepStrictEqual(extraHttpConfigProblems(`${directive} x;`), [`sets ${directive}, which the proxy's template sets already (${owner}); set that instead`]);
        }
        for (const header of TEMPLATE_PROXY_HEADERS) assert.strictEqual(extraHttpConfigProblems(`proxy_set_header ${header} x;`).length, 1, header);
    });

    it("an IPv6 listener is written in brackets; the proxy's own socket beside each plain listener", () => {
        const listen = renderListen({ mode: "host", live: { address: "::", port: 80 }, preview: { address: "::1", port: 8081 } }, "live", false);
        assert.strictEqual(listen, "        listen [::]:80;\n        listen unix:/run/switchyard-live.sock;");
    });

    it("what may go in passes: rate limits, maps, headers, comments, quoted braces", () => {
        const ok = [
            "limit_req_zone $binary_remote_addr zone=one:10m rate=10r/s;",
            'map $http_user_agent $bot {\n  default 0;\n  "~*bot" 1;\n}',
            "# a comment with server and location in it\nadd_header X-Team ops always;",
            'proxy_set_header X-Request-Id $request_id;\nadd_header X-Note "a { b } c;";',
        ];
        for (const text of ok) assert.deepStrictEqual(extraHttpConfigProblems(text), [], text);
    });
});
