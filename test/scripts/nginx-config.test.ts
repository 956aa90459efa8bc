// The rendered nginx.conf for every stack passes `nginx -t` in a real nginx,
// in a container on no network with no app running: proxy_pass takes its
// host from a variable, so nginx resolves nothing when it loads the config.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseConfig } from "../../lib/config";
import { renderNginxConfig } from "../../nginx/render";
import { readStackFile } from "../../lib/stackfile";
import { dockerAvailable, IMAGES } from "./fixture";

function nginxTest(config: string): { status: number; output: string } {
    const r = spawnSync(
        "docker",
        ["run", "--rm", "-i", "--network", "none", IMAGES.nginx, "sh", "-c", "mkdir -p /etc/switchyard/nginx && cat > /etc/switchyard/nginx/nginx.conf && nginx -t -c /etc/switchyard/nginx/nginx.conf"],
        { input: config, encoding: "utf8", timeout: 60000 },
    );
    return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

describe("rendered nginx config (real nginx)", function () {
    this.timeout(120000);
    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
    });

    const root = path.resolve(__dirname, "..", "..");
    for (const file of fs.readdirSync(root).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f))) {
        it(`${file}: passes nginx -t with no upstream resolvable`, () => {
            const { raw, secretKeys } = readStackFile(path.join(root, file));
            const cfg = parseConfig(raw, secretKeys, file);
            const r = nginxTest(renderNginxConfig({ appPort: cfg.appPort, drainSeconds: cfg.drainSeconds }));
            assert.strictEqual(r.status, 0, r.output);
            assert.match(r.output, /syntax is ok/);
        });
    }

    it("a config with a literal upstream host fails nginx -t, which is why the template uses a variable", () => {
        const literal = renderNginxConfig({ appPort: 3000, drainSeconds: 5 }).replace("proxy_pass http://app-$switchyard_colour:3000;", "proxy_pass http://app-blue:3000;");
        const r = nginxTest(literal);
        assert.notStrictEqual(r.status, 0);
        assert.match(r.output, /host not found in upstream "app-blue/);
    });

    it("with HTTPS and the redirect: passes nginx -t before any certificate file exists (it is read per handshake)", () => {
        const r = nginxTest(renderNginxConfig({ appPort: 8000, drainSeconds: 5, tls: { redirectHttp: true, publicPort: 443 } }));
        assert.strictEqual(r.status, 0, r.output);
        const text = renderNginxConfig({ appPort: 8000, drainSeconds: 5, tls: { redirectHttp: true, publicPort: 443 } });
        assert.match(text, /return 301 https:\/\/\$host\$request_uri;/, "port 443 is left out of the redirect URL");
        assert.strictEqual((text.match(/listen \d+ ssl http2;/g) ?? []).length, 2, "live and preview both listen for HTTPS");
    });

    it("fixed addresses in the host's network, TLS from ACME, the canary's split, the metrics records, every proxy key and an extraHttpConfig a team would write: passes nginx -t", () => {
        const conf = renderNginxConfig({
            appPort: 3000,
            drainSeconds: 5,
            routing: { mode: "upstreams", addresses: { blue: ["10.0.0.131", "10.0.0.132"], green: ["10.0.0.161", "10.0.0.162"] }, keepaliveSeconds: 0.25, failTimeoutSeconds: 5 },
            listeners: { mode: "host", live: { address: "0.0.0.0", port: 80 }, preview: { address: "127.0.0.1", port: 8081 }, liveTls: { address: "0.0.0.0", port: 443 }, previewTls: { address: "127.0.0.1", port: 8444 } },
            behaviour: { hostnames: ["shop.example.com", "*.shop.example.com"], trustedProxies: ["10.0.0.0/8", "fd00::/8"], securityHeaders: { "Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "" }, maxBodyMb: 0, buffering: false },
            tls: { redirectHttp: true, publicPort: 443, file: "/etc/switchyard/acme/server.pem" },
            acme: true,
            canary: { cookieMaxAgeSeconds: 360 },
            metrics: true,
            extraHttpConfig: 'limit_req_zone $binary_remote_addr zone=one:10m rate=10r/s;\nmap $http_user_agent $bot { default 0; "~*bot" 1; }',
        });
        assert.strictEqual(conf.match(/keepalive_timeout 250ms;/g)?.length, 4, "a keep-alive of a fraction of a second, in nginx's milliseconds, in each upstream");
        const r = nginxTest(conf);
        assert.strictEqual(r.status, 0, r.output);
    });

    it("without HTTPS, no TLS directive is rendered", () => {
        const text = renderNginxConfig({ appPort: 3000, drainSeconds: 5 });
        assert.doesNotMatch(text, /^\s*(ssl_\w+|listen .*ssl)/m);
        assert.doesNotMatch(text, /return 301 https/);
    });

    it("rejects an unknown placeholder in the template", () => {
        assert.throws(() => renderNginxConfig({ appPort: 3000, drainSeconds: 5 }, "listen {{nope}};"), /unknown placeholder \{\{nope\}\}/);
    });
});
