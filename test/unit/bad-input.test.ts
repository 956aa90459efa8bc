// Every bad input the security review named (issue 16), and the ones refused
// before it: the whole program refuses it before any resource is declared,
// and the message names the key, the value (or [secret]) and what is allowed.
import * as assert from "assert";
import { runProgram } from "./mocks";

const base = { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } } };

interface Case {
    what: string;
    config: Record<string, unknown>;
    secrets?: string[];
    /** The problem line, as a pattern: key, value, what is allowed. */
    expect: RegExp;
    /** A value that must not appear anywhere in the message. */
    hidden?: string;
}

const CASES: Case[] = [
    // Issue 16, finding 3: a health path is data, never shell text; a space or quote is refused.
    { what: "health path with a space", config: { ...base, health: { path: "/x id" } }, expect: /^switchyard:health\.path = "\/x id": must be a URL path starting with \/ \(letters, digits and/ },
    { what: "health path with a quote", config: { ...base, health: { path: "/x'$(id)'" } }, expect: /^switchyard:health\.path = "\/x'\$\(id\)'": must be a URL path/ },
    { what: "health command as shell text", config: { ...base, health: { command: "curl -f localhost:3000/health || exit 1" } }, expect: /^switchyard:health\.command = "curl -f localhost:3000\/health \|\| exit 1": must be a command in exec form, a list such as \["node", "migrate\.js"\]/ },
    // Finding 12: validation gaps.
    { what: "image that reads as a flag", config: { ...base, slots: { blue: { image: "-v/x:/y" } } }, expect: /^switchyard:slots\.blue\.image = "-v\/x:\/y": must be an image reference/ },
    { what: "image --privileged", config: { ...base, slots: { blue: { image: "--privileged" } } }, expect: /^switchyard:slots\.blue\.image = "--privileged": must be an image reference/ },
    { what: "backups.hostDir /", config: { ...base, backups: { hostDir: "/" } }, expect: /^switchyard:backups\.hostDir = "\/": must not be \/ \(the dumps need a directory of their own\)$/ },
    { what: "backups.hostDir /tmp", config: { ...base, backups: { hostDir: "/tmp/" } }, expect: /^switchyard:backups\.hostDir = "\/tmp\/": must not be a system directory \(\/tmp\): the dump job makes its directory 0700; use a directory of its own, such as \/srv\/switchyard-backups$/ },
    { what: "backups.hostDir /etc", config: { ...base, backups: { hostDir: "/etc" } }, expect: /^switchyard:backups\.hostDir = "\/etc": must not be a system directory \(\/etc\)/ },
    { what: "backups.hostDir under /tmp", config: { ...base, backups: { hostDir: "/tmp/dumps" } }, expect: /^switchyard:backups\.hostDir = "\/tmp\/dumps": must not be under \/tmp \(the system's, or anyone's to create\)/ },
    { what: "backups.hostDir in Docker's state", config: { ...base, backups: { hostDir: "/var/lib/docker/volumes/x" } }, expect: /^switchyard:backups\.hostDir = "\/var\/lib\/docker\/volumes\/x": must not be under \/var\/lib\/docker/ },
    { what: "backups.hostDir a home directory", config: { ...base, backups: { hostDir: "/home/alice" } }, expect: /^switchyard:backups\.hostDir = "\/home\/alice": must not be a home directory \(\/home\/alice\): use a directory of its own inside it$/ },
    { what: "backups.hostDir with ..", config: { ...base, backups: { hostDir: "/srv/backups/../../etc" } }, expect: /^switchyard:backups\.hostDir = "\/srv\/backups\/\.\.\/\.\.\/etc": must not contain \. or \.\. segments$/ },
    { what: "webhook over plain http", config: { ...base, notify: { webhookUrl: "http://hooks.example.com/T1/very-secret" } }, secrets: ["notify"], expect: /^switchyard:notify\.webhookUrl = \[secret\]: must be an https:\/\/ URL \(plain http:\/\/ only to 127\.0\.0\.1, localhost or ::1\)$/, hidden: "very-secret" },
    { what: "webhook to the metadata address", config: { ...base, notify: { webhookUrl: "https://169.254.169.254/latest/meta-data" } }, secrets: ["notify"], expect: /^switchyard:notify\.webhookUrl = \[secret\]: must not point at a link-local or cloud metadata address$/, hidden: "meta-data" },
    { what: "webhook to the metadata address, IPv4-mapped", config: { ...base, notify: { webhookUrl: "https://[::ffff:169.254.169.254]/latest" } }, secrets: ["notify"], expect: /^switchyard:notify\.webhookUrl = \[secret\]: must not point at a link-local or cloud metadata address$/ },
    { what: "webhook to the metadata address, NAT64", config: { ...base, notify: { webhookUrl: "https://[64:ff9b::a9fe:a9fe]/latest" } }, secrets: ["notify"], expect: /must not point at a link-local or cloud metadata address$/ },
    { what: "webhook to a metadata name", config: { ...base, notify: { webhookUrl: "https://metadata.google.internal/x" } }, secrets: ["notify"], expect: /must not point at a link-local or cloud metadata address$/ },
    { what: "webhook with credentials", config: { ...base, notify: { webhookUrl: "https://bot:hunter2hunter2@hooks.example.com/x" } }, secrets: ["notify"], expect: /^switchyard:notify\.webhookUrl = \[secret\]: must not carry credentials in the URL/, hidden: "hunter2" },
    { what: "maintenance as other text", config: { ...base, maintenance: "yes" }, expect: /^switchyard:maintenance = "yes": must be true or false$/ },
    { what: "backups.enabled as other text", config: { ...base, backups: { enabled: "on" } }, expect: /^switchyard:backups\.enabled = "on": must be true or false$/ },
    // Finding 1: a public preview listener needs a second, explicit yes.
    { what: "public preview listener", config: { ...base, proxy: { previewBindAddress: "0.0.0.0" } }, expect: /^switchyard:proxy\.previewBindAddress = "0\.0\.0\.0": is not a loopback address: the preview listener serves the idle colour .*set proxy\.publicPreview true as well$/ },
    // Finding 9: any key Pulumi holds as a secret stays secret, or is refused.
    { what: "a managed Postgres URL whose password has a bare %", config: { ...base, postgresUrl: "postgres://app:50%zz-off@db.example.com:5432/app" }, secrets: ["postgresUrl"], expect: /^switchyard:postgresUrl = \[secret\]: has a % that is not a percent-encoded UTF-8 character \(write a literal % as %25\)$/, hidden: "50%zz-off" },
    { what: "a plain key set as a secret", config: { ...base, proxy: { livePort: 8080, extraHttpConfig: "add_header X-Token s3cr3t-token-value;" } }, secrets: ["proxy"], expect: /^switchyard:proxy = \[secret\]: is a plain setting, not a secret \(secret keys: postgresPassword, redisPassword, notify, slotSecrets, appSecrets, registryPassword, tls, postgresUrl, redisUrl, hostsTls, acmeEabHmacKey\)/, hidden: "s3cr3t-token-value" },
    { what: "a bad value under a plain key set as a secret", config: { ...base, proxy: { livePort: "not-a-port-s3cr3t" } }, secrets: ["proxy"], expect: /^switchyard:proxy = \[secret\]: is a plain setting/, hidden: "s3cr3t" },
    { what: "password with a newline", config: { ...base, postgresPassword: "abcdefghijklmnop\nq" }, secrets: ["postgresPassword"], expect: /^switchyard:postgresPassword = \[secret\]: must not contain control characters/, hidden: "abcdefghijklmnop" },
    { what: "password in plaintext", config: { ...base, redisPassword: "plaintext-password-1234" }, expect: /^switchyard:redisPassword: is stored in plaintext; set it with `pulumi config set --secret redisPassword <value>`$/, hidden: "plaintext-password" },
    // App variables (issue 15): names checked, Switchyard's own refused.
    { what: "env name that is not a name", config: { ...base, slots: { blue: { image: "app:1", env: { "1BAD": "x" } } } }, expect: /^switchyard:slots\.blue\.env\.1BAD = "x": is not an environment variable name/ },
    { what: "env sets PORT", config: { ...base, slots: { blue: { image: "app:1", env: { PORT: "9" } } } }, expect: /^switchyard:slots\.blue\.env\.PORT = "9": is set by Switchyard itself \(PORT, DATABASE_URL, REDIS_URL and SWITCHYARD_\*\); choose another name$/ },
    { what: "env sets SWITCHYARD_COLOR", config: { ...base, slots: { blue: { image: "app:1", env: { SWITCHYARD_COLOR: "green" } } } }, expect: /^switchyard:slots\.blue\.env\.SWITCHYARD_COLOR = "green": is set by Switchyard itself/ },
    { what: "secret env sets DATABASE_URL", config: { ...base, slotSecrets: { blue: { DATABASE_URL: "postgres://u:leaked-pw@elsewhere/db" } } }, secrets: ["slotSecrets"], expect: /^switchyard:slotSecrets\.blue\.DATABASE_URL = \[secret\]: is set by Switchyard itself/, hidden: "leaked-pw" },
    { what: "app secrets in plaintext", config: { ...base, slotSecrets: { blue: { STRIPE_KEY: "sk_live_plain" } } }, expect: /^switchyard:slotSecrets: is stored in plaintext; set it with `pulumi config set --secret --path slotSecrets\.<colour>\.<NAME> <value>`$/, hidden: "sk_live_plain" },
    { what: "one name both plain and secret", config: { ...base, slots: { blue: { image: "app:1", env: { API_KEY: "a" } } }, slotSecrets: { blue: { API_KEY: "b-secret" } } }, secrets: ["slotSecrets"], expect: /^switchyard:slotSecrets\.blue\.API_KEY = \[secret\]: is also a plain variable \(slots\.blue\.env\.API_KEY\); set it in one place$/, hidden: "b-secret" },
    { what: "migration command with shell syntax", config: { ...base, migrations: { command: "node migrate.js && curl evil" } }, expect: /^switchyard:migrations\.command = "node migrate\.js && curl evil": must be a command in exec form/ },
    // Issue 28, finding 2: the production rules hold without the policy pack.
    { what: "production without an app user", config: { ...base, environment: "production" }, expect: /^switchyard:appUser = \(not set\): lets the image decide, possibly root: production app containers run as a non-root user; set the image's own, such as pulumi config set appUser 10001:10001$/ },
    { what: "production app user root", config: { ...base, environment: "production", appUser: "0:0" }, expect: /^switchyard:appUser = "0:0": is root: production app containers run as a non-root user/ },
    { what: "production drain too short", config: { ...base, environment: "production", appUser: "10001", drainSeconds: 2 }, expect: /^switchyard:drainSeconds = 2: production needs 5-300 s so requests in flight to the old colour finish \(pulumi config set drainSeconds 30\)$/ },
    { what: "production verify of one request", config: { ...base, environment: "production", appUser: "10001", verifyRequests: 1 }, expect: /^switchyard:verifyRequests = 1: production needs at least 3 answers from the new colour before a switch counts/ },
    {
        what: "production on several hosts with Postgres and Redis published in clear",
        config: { ...base, environment: "production", appUser: "10001", hosts: [{ name: "a", dockerHost: "ssh://root@10.0.0.11" }, { name: "b", dockerHost: "ssh://root@10.0.0.12" }], data: { address: "10.0.0.11" } },
        expect: /^switchyard:data\.address = "10\.0\.0\.11": is where Postgres and Redis would be published to the other hosts, without TLS: production refuses data services published in clear: give several hosts a managed Postgres and Redis \(postgresUrl, redisUrl, over TLS\), or run production on one host$/,
    },
    // Issue 28, finding 6: Redis needs no privileges.
    { what: "the app's Postgres role named as the superuser", config: { ...base, postgres: { user: "postgres" } }, expect: /^switchyard:postgres\.user = "postgres": is the name of Postgres's superuser, and the app connects as a role that owns its database only\. Allowed: another lower-case SQL identifier \(default "app"\)$/ },
    { what: "Redis as root", config: { ...base, redis: { user: "0:0" } }, expect: /^switchyard:redis\.user = "0:0": must not be root: Redis needs no privileges/ },
    { what: "Redis user that is not a user", config: { ...base, redis: { user: "redis;id" } }, expect: /^switchyard:redis\.user = "redis;id": must be uid\[:gid\] or a user name/ },
    // Issue 25: what a framework app meets at the proxy; nothing reaches nginx unchecked.
    { what: "extraHttpConfig setting the body limit again", config: { ...base, proxy: { extraHttpConfig: "client_max_body_size 20m;" } }, expect: /^switchyard:proxy\.extraHttpConfig = "client_max_body_size 20m;": sets client_max_body_size, which the proxy's template sets already \(proxy\.maxBodyMb\); set that instead$/ },
    { what: "extraHttpConfig with a location", config: { ...base, proxy: { extraHttpConfig: "location /.well-known/acme-challenge/ { root /srv; }" } }, expect: /^switchyard:proxy\.extraHttpConfig = .*: has a location directive, which nginx allows only inside a server or location/ },
    { what: "extraHttpConfig overriding X-Forwarded-Proto", config: { ...base, proxy: { extraHttpConfig: "proxy_set_header X-Forwarded-Proto https;" } }, expect: /sets the request header X-Forwarded-Proto, which the template sets already/ },
    { what: "security header value with a quote", config: { ...base, proxy: { securityHeaders: { "Content-Security-Policy": 'default-src "self"' } } }, expect: /^switchyard:proxy\.securityHeaders\.Content-Security-Policy = "default-src \\"self\\"": must not contain ", \\, \$ or control characters/ },
    { what: "security header value with a variable", config: { ...base, proxy: { securityHeaders: { "X-Debug": "$request_uri" } } }, expect: /^switchyard:proxy\.securityHeaders\.X-Debug = "\$request_uri": must not contain/ },
    { what: "upstream keep-alive finer than a millisecond", config: { ...base, proxy: { upstreamKeepaliveSeconds: 0.0005 } }, expect: /^switchyard:proxy\.upstreamKeepaliveSeconds = 0\.0005: must be whole milliseconds \(at most 3 decimals\)$/ },
    { what: "upstream keep-alive below zero", config: { ...base, proxy: { upstreamKeepaliveSeconds: -1 } }, expect: /^switchyard:proxy\.upstreamKeepaliveSeconds = -1: .*0/ },
    { what: "security header name with a space", config: { ...base, proxy: { securityHeaders: { "X Frame": "DENY" } } }, expect: /^switchyard:proxy\.securityHeaders\.X Frame = "DENY": must be a header name \(letters, digits and -\)$/ },
    { what: "host name with a semicolon", config: { ...base, proxy: { hostnames: ["app.example.com; return 200"] } }, expect: /^switchyard:proxy\.hostnames\.0 = "app\.example\.com; return 200": must be a lower-case host name such as app\.example\.com \(or \*\.example\.com\)$/ },
    { what: "host name in upper case", config: { ...base, proxy: { hostnames: ["App.Example.com"] } }, expect: /^switchyard:proxy\.hostnames\.0 = "App\.Example\.com": must be a lower-case host name/ },
    { what: "trusting every client's forwarded headers", config: { ...base, proxy: { trustedProxies: ["0.0.0.0/0"] } }, expect: /^switchyard:proxy\.trustedProxies\.0 = "0\.0\.0\.0\/0": must not be 0\.0\.0\.0\/0: that trusts every client's forwarded headers$/ },
    { what: "a method that is always retried, marked idempotent", config: { ...base, proxy: { idempotentMethods: ["GET"] } }, expect: /^switchyard:proxy\.idempotentMethods\.0 = "GET": must be one of PUT \| DELETE \| POST \| PATCH$/ },
    { what: "trusted proxy that is not an address", config: { ...base, proxy: { trustedProxies: ["lb.example.com"] } }, expect: /^switchyard:proxy\.trustedProxies\.0 = "lb\.example\.com": must be an address or CIDR such as 10\.0\.0\.0\/8/ },
    { what: "health.host the proxy does not serve", config: { ...base, proxy: { hostnames: ["shop.example.com"] }, health: { host: "other.example.com" } }, expect: /^switchyard:health\.host = "other\.example\.com": is not one of proxy\.hostnames \(shop\.example\.com\): the proxy would answer the verify step 421$/ },
    { what: "only wildcard host names and no health.host", config: { ...base, proxy: { hostnames: ["*.example.com"] } }, expect: /^switchyard:health\.host = \(not set\): is required: proxy\.hostnames has only wildcards/ },
    { what: "body limit over 10 GB", config: { ...base, proxy: { maxBodyMb: 20000 } }, expect: /^switchyard:proxy\.maxBodyMb = 20000: must be <= 10240$/ },
    { what: "acme and tls together", config: { ...base, proxy: { hostnames: ["shop.example.com"] }, acme: { email: "ops@example.com" }, tls: { certificate: "x", key: "y" } }, secrets: ["tls"], expect: /^switchyard:acme = .*: and tls are both set: the certificate comes from one of them/ },
    { what: "data.address on loopback", config: { ...base, hosts: [{ name: "web-1", dockerHost: "ssh://a" }, { name: "web-2", dockerHost: "ssh://b" }], data: { address: "127.0.0.1" } }, expect: /^switchyard:data\.address = "127\.0\.0\.1": must not be a loopback address: the other hosts could not reach Postgres and Redis there/ },
    { what: "data.address link-local", config: { ...base, hosts: [{ name: "web-1", dockerHost: "ssh://a" }, { name: "web-2", dockerHost: "ssh://b" }], data: { address: "169.254.10.1" } }, expect: /^switchyard:data\.address = "169\.254\.10\.1": must not be a link-local address/ },
    { what: "data.address public", config: { ...base, hosts: [{ name: "web-1", dockerHost: "ssh://a" }, { name: "web-2", dockerHost: "ssh://b" }], data: { address: "203.0.113.7" } }, expect: /^switchyard:data\.address = "203\.0\.113\.7": is not a private address \(10\.0\.0\.0\/8, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 100\.64\.0\.0\/10, fc00::\/7\): Postgres and Redis would be published where the internet may reach them.*set data\.allowPublicAddress true/ },
    { what: "acme on several hosts", config: { ...base, hosts: [{ name: "web-1", dockerHost: "ssh://a" }, { name: "web-2", dockerHost: "ssh://b" }], data: { address: "10.0.0.11" }, proxy: { hostnames: ["shop.example.com"] }, acme: { email: "ops@example.com" } }, expect: /^switchyard:acme = .*: is for one host: with several behind a load balancer, the CA's HTTP-01 request reaches whichever host it picks/ },
    { what: "acme without any host name", config: { ...base, acme: { email: "ops@example.com" } }, expect: /^switchyard:acme\.hostnames = \(not set\): is required: name the host names on the certificate \(or set proxy\.hostnames\)$/ },
    { what: "acme for a wildcard", config: { ...base, proxy: { hostnames: ["*.example.com"] }, health: { host: "a.example.com" }, acme: { email: "ops@example.com", hostnames: ["*.example.com"] } }, expect: /^switchyard:acme\.hostnames\.0 = "\*\.example\.com": must be a lower-case host name such as app\.example\.com$/ },
    { what: "acme directory over plain http", config: { ...base, proxy: { hostnames: ["shop.example.com"] }, acme: { email: "ops@example.com", directoryUrl: "http://acme.example.com/dir" } }, expect: /^switchyard:acme\.directoryUrl = "http:\/\/acme\.example\.com\/dir": must be an https:\/\/ URL of an ACME directory/ },
    { what: "acme e-mail with a quote", config: { ...base, proxy: { hostnames: ["shop.example.com"] }, acme: { email: 'ops"@example.com' } }, expect: /^switchyard:acme\.email = "ops\\"@example\.com": must be an e-mail address/ },
    { what: "EAB key id without its HMAC key", config: { ...base, proxy: { hostnames: ["shop.example.com"] }, acme: { email: "ops@example.com", eabKid: "kid-1" } }, expect: /^switchyard:acmeEabHmacKey = \(not set\): and acmeEabHmacKey go together/ },
    { what: "EAB HMAC key in plaintext", config: { ...base, proxy: { hostnames: ["shop.example.com"] }, acme: { email: "ops@example.com", eabKid: "kid-1" }, acmeEabHmacKey: "hmac-plain-value" }, expect: /^switchyard:acmeEabHmacKey: is stored in plaintext; set it with `pulumi config set --secret acmeEabHmacKey < hmac-key\.txt`$/, hidden: "hmac-plain-value" },
    { what: "address pool that is not a CIDR", config: { ...base, network: { pool: "172.30.0.0" } }, expect: /^switchyard:network\.pool = "172\.30\.0\.0": must be an IPv4 CIDR such as 172\.30\.0\.0\/16$/ },
    { what: "address pool too small for two networks", config: { ...base, network: { pool: "172.30.0.0/24" } }, expect: /^switchyard:network\.pool = "172\.30\.0\.0\/24": must be a CIDR from \/8 to \/23/ },
    // Refused before issue 16 as well.
    { what: "colour", config: { ...base, liveColor: "purple" }, expect: /^switchyard:liveColor = "purple": must be one of blue \| green$/ },
    { what: "port", config: { ...base, proxy: { livePort: 70000 } }, expect: /^switchyard:proxy\.livePort = 70000: must be <= 65535$/ },
    { what: "bind address", config: { ...base, proxy: { bindAddress: "localhost" } }, expect: /^switchyard:proxy\.bindAddress = "localhost": must be an IP address/ },
    { what: "unknown key", config: { ...base, helth: {} }, expect: /^switchyard:helth: unknown key \(allowed here: / },
    { what: "SQL identifier over 63 characters", config: { ...base, postgres: { database: "a".repeat(64) } }, expect: /^switchyard:postgres\.database = "a{64}": must be a lower-case SQL identifier \(a-z, 0-9, _; at most 63 characters\)$/ },
];

describe("bad input: refused before anything is declared, with key, value and what is allowed", function () {
    this.timeout(30000);
    for (const c of CASES) {
        it(c.what, async () => {
            let error: (Error & { registered?: string[] }) | undefined;
            try {
                await runProgram({ config: c.config, secrets: c.secrets });
            } catch (err) {
                error = err as Error & { registered?: string[] };
            }
            assert.ok(error, "the program must refuse this config");
            assert.match(error.message, /nothing was created or changed/);
            const lines = error.message.split("\n").map((l) => l.replace(/^\s+- /, ""));
            assert.ok(lines.some((l) => c.expect.test(l)), `expected a line matching ${c.expect} in:\n${error.message}`);
            if (c.hidden) assert.ok(!error.message.includes(c.hidden), `the message must not show ${c.hidden}`);
            assert.deepStrictEqual(error.registered ?? [], [], "no resource was declared");
        });
    }
});
