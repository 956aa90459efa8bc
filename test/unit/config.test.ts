import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ConfigError, isPinned, parseConfig } from "../../lib/config";
import { readStackFile } from "../../lib/stackfile";

function raw(values: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
}

function problems(values: Record<string, unknown>, secrets: string[] = [], stack = "staging"): string[] {
    try {
        parseConfig(raw(values), new Set(secrets.map((s) => `switchyard:${s}`)), stack);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
        return (err as ConfigError).problems.flatMap((p) => p.split("\n  - "));
    }
    return [];
}

const minimal = { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } } };

describe("config", () => {
    it("accepts a minimal config and fills every default", () => {
        const cfg = parseConfig(raw(minimal), new Set(), "staging");
        assert.strictEqual(cfg.environment, "local");
        assert.strictEqual(cfg.replicas, 2);
        assert.strictEqual(cfg.standby, "retire");
        assert.deepStrictEqual(cfg.health, { path: "/health", intervalSeconds: 2, timeoutSeconds: 60, healthyThreshold: 3 });
        assert.strictEqual(cfg.drainSeconds, 15);
        assert.deepStrictEqual(cfg.proxy, {
            image: "nginx:1.27-bookworm",
            livePort: 8080,
            previewPort: 8081,
            bindAddress: "127.0.0.1",
            previewBindAddress: "127.0.0.1",
            publicPreview: false,
            tlsPort: 8443,
            previewTlsPort: 8444,
            redirectHttp: false,
            maxBodyMb: 25,
            readTimeoutSeconds: 75,
            sendTimeoutSeconds: 60,
            streamTimeoutSeconds: 3600,
            buffering: true,
            upstreamKeepaliveSeconds: 0.25,
            securityHeaders: {},
            hostnames: [],
            trustedProxies: [],
            idempotentMethods: [],
        });
        assert.deepStrictEqual(cfg.network, { pool: "172.30.0.0/16" });
        assert.strictEqual(cfg.acme, undefined);
        assert.deepStrictEqual(cfg.limits.app, { memoryMb: 256, cpus: 0.5 });
    });

    it("decodes scalars the way Pulumi stores them (numbers as text)", () => {
        const cfg = parseConfig({ ...raw(minimal), "switchyard:replicas": "3", "switchyard:drainSeconds": "20" }, new Set(), "s");
        assert.strictEqual(cfg.replicas, 3);
        assert.strictEqual(cfg.drainSeconds, 20);
    });

    it("ignores other namespaces", () => {
        assert.deepStrictEqual(problems({ ...minimal }), []);
        parseConfig({ ...raw(minimal), "docker:host": "unix:///var/run/docker.sock" }, new Set(), "s");
    });

    it("lists every problem in one message: key, bad value, what is allowed", () => {
        const list = problems({
            liveColor: "purple",
            slots: { blue: { image: "app:1.0.0" }, green: { imag: "x" } },
            replicas: 0,
            standby: "sometimes",
            drainSeconds: -1,
            proxy: { livePort: 70000, bindAddress: "localhost" },
            helth: {},
        });
        const expect = [
            /^switchyard:liveColor = "purple": must be one of blue \| green$/,
            /^switchyard:slots\.green\.imag: unknown key \(allowed here: image, env\)$/,
            /^switchyard:slots\.green\.image = \(not set\): is required \(string\)$/,
            /^switchyard:replicas = 0: must be >= 1$/,
            /^switchyard:standby = "sometimes": must be one of retire \| keep$/,
            /^switchyard:drainSeconds = -1: must be >= 0$/,
            /^switchyard:proxy\.livePort = 70000: must be <= 65535$/,
            /^switchyard:proxy\.bindAddress = "localhost": must be an IP address/,
            /^switchyard:helth: unknown key \(allowed here: environment, liveColor, slots/,
        ];
        for (const re of expect) assert.ok(list.some((p) => re.test(p)), `missing ${re} in:\n${list.join("\n")}`);
        assert.strictEqual(list.length, expect.length, list.join("\n"));
    });

    it("says the message names the stack and that nothing was created", () => {
        try {
            parseConfig(raw({ liveColor: "red", slots: {} }), new Set(), "production");
            assert.fail("expected an error");
        } catch (err) {
            assert.match((err as Error).message, /^Invalid Switchyard config for stack "production" \(\d+ problems?\); nothing was created or changed:/);
        }
    });

    it("requires an image for the live colour", () => {
        assert.deepStrictEqual(problems({ liveColor: "green", slots: { blue: { image: "app:1" } } }), [
            "switchyard:slots.green.image = (not set): is required: liveColor is green, so that colour needs an image",
        ]);
    });

    it("appUser: a bare uid (a number in YAML or from pulumi config set) is the uid as text", () => {
        assert.strictEqual(parseConfig(raw({ ...minimal, appUser: 10001 }), new Set(), "staging").appUser, "10001");
        assert.deepStrictEqual(problems({ ...minimal, appUser: -1 }), ['switchyard:appUser = -1: must be uid[:gid] or a user name, such as 10001:10001']);
    });

    it("rejects malformed image references", () => {
        const list = problems({ liveColor: "blue", slots: { blue: { image: "App With Spaces" } } });
        assert.deepStrictEqual(list, ['switchyard:slots.blue.image = "App With Spaces": must be an image reference like name:tag or name@sha256:<64 hex>']);
    });

    it("in production rejects latest and untagged images, for slots and services", () => {
        const list = problems({
            environment: "production",
            appUser: "10001:10001",
            liveColor: "blue",
            slots: { blue: { image: "ghcr.io/acme/app:latest" }, green: { image: "ghcr.io/acme/app" } },
            redis: { image: "redis" },
        });
        assert.deepStrictEqual(list.sort(), [
            'switchyard:redis.image = "redis": must be pinned in production: a tag other than latest, or an @sha256 digest',
            'switchyard:slots.blue.image = "ghcr.io/acme/app:latest": must be pinned in production: a tag other than latest, or an @sha256 digest',
            'switchyard:slots.green.image = "ghcr.io/acme/app": must be pinned in production: a tag other than latest, or an @sha256 digest',
        ]);
        // The same images are fine outside production.
        assert.deepStrictEqual(problems({ liveColor: "blue", slots: { blue: { image: "app:latest" } } }), []);
    });

    it("accepts digests and registry ports as pinned", () => {
        assert.ok(isPinned(`app@sha256:${"a".repeat(64)}`));
        assert.ok(isPinned("registry.local:5000/team/app:1.2.3"));
        assert.ok(!isPinned("registry.local:5000/team/app"));
        assert.ok(!isPinned("app:latest"));
    });

    it("refuses passwords stored in plaintext and never echoes a secret value", () => {
        const list = problems({ ...minimal, postgresPassword: "hunter2-hunter2-hunter2" });
        assert.deepStrictEqual(list, ["switchyard:postgresPassword: is stored in plaintext; set it with `pulumi config set --secret postgresPassword <value>`"]);
        const short = problems({ ...minimal, redisPassword: "short-secret" }, ["redisPassword"]);
        assert.deepStrictEqual(short, ["switchyard:redisPassword = [secret]: must be at least 16 characters"]);
        assert.ok(!short.join("").includes("short-secret"));
    });

    it("data protection keys: defaults, and each bad value named with what is allowed", () => {
        const cfg = parseConfig(raw(minimal), new Set(), "staging");
        assert.deepStrictEqual(cfg.backups, { enabled: true, keep: 10 });
        assert.deepStrictEqual(cfg.migrations, { timeoutSeconds: 600 });
        assert.strictEqual(cfg.maintenance, false);
        assert.deepStrictEqual(cfg.notify, {});
        assert.deepStrictEqual(problems({ ...minimal, backups: { keep: 0, hostDir: "backups", extra: 1 }, maintenance: "yes" }).sort(), [
            "switchyard:backups.extra: unknown key (allowed here: enabled, keep, hostDir)",
            'switchyard:backups.hostDir = "backups": must be an absolute path of letters, digits, . _ - and /',
            "switchyard:backups.keep = 0: must be >= 1",
            "switchyard:maintenance = \"yes\": must be true or false",
        ]);
        assert.deepStrictEqual(problems({ ...minimal, migrations: { command: "", timeoutSeconds: 5 } }).sort(), [
            'switchyard:migrations.command = "": must have at least the program to run',
            "switchyard:migrations.timeoutSeconds = 5: must be >= 10",
        ]);
    });

    it("bake: off by default; its window and thresholds checked, each bad value named with what is allowed", () => {
        const cfg = parseConfig(raw(minimal), new Set(), "staging");
        assert.deepStrictEqual(cfg.bake, { seconds: 0, maxErrorPercent: 1, minRequests: 50 });
        // `pulumi config set --path bake.seconds 60` stores text.
        const set = parseConfig(raw({ ...minimal, bake: { seconds: "60", maxErrorPercent: "0.5", maxP99Ms: "800" } }), new Set(), "staging");
        assert.deepStrictEqual(set.bake, { seconds: 60, maxErrorPercent: 0.5, maxP99Ms: 800, minRequests: 50 });
        assert.deepStrictEqual(problems({ ...minimal, bake: { seconds: -1, maxErrorPercent: 120, maxP99Ms: 0, minRequests: 0, window: 5 } }).sort(), [
            "switchyard:bake.maxErrorPercent = 120: must be <= 100",
            "switchyard:bake.maxP99Ms = 0: must be >= 1",
            "switchyard:bake.minRequests = 0: must be >= 1",
            "switchyard:bake.seconds = -1: must be >= 0",
            "switchyard:bake.window: unknown key (allowed here: seconds, maxErrorPercent, maxP99Ms, minRequests)",
        ]);
    });

    it("canary: none by default; its weights rise, whole percents 1-99, each bad value named with what is allowed", () => {
        assert.strictEqual(parseConfig(raw(minimal), new Set(), "staging").canary, undefined);
        // `pulumi config set --path canary.steps[0] 10` stores text.
        const set = parseConfig(raw({ ...minimal, canary: { steps: ["10", "50"] } }), new Set(), "staging");
        assert.deepStrictEqual(set.canary, { steps: [10, 50], stepSeconds: 30 });
        assert.deepStrictEqual(problems({ ...minimal, canary: { steps: [50, 10], stepSeconds: 0 } }).sort(), [
            "switchyard:canary.stepSeconds = 0: must be >= 1",
            "switchyard:canary.steps = [50,10]: weights must rise: 10 follows 50",
        ]);
        assert.deepStrictEqual(problems({ ...minimal, canary: { steps: [100] } }), ["switchyard:canary.steps = [100]: weight 100 must be a whole percent from 1 to 99 (100 % is the switch that follows the last step)"]);
        assert.deepStrictEqual(problems({ ...minimal, canary: { steps: [] } }), ["switchyard:canary.steps = []: must list at least one weight, such as [10, 50]"]);
        assert.deepStrictEqual(problems({ ...minimal, canary: { steps: [10], weight: 5 } }), ["switchyard:canary.weight: unknown key (allowed here: steps, stepSeconds)"]);
    });

    it("metrics: off by default; loopback unless public says so too; a port of its own", () => {
        assert.strictEqual(parseConfig(raw(minimal), new Set(), "staging").metrics, undefined);
        assert.deepStrictEqual(parseConfig(raw({ ...minimal, metrics: { port: "9145" } }), new Set(), "staging").metrics, { port: 9145, bindAddress: "127.0.0.1", public: false, image: "node:20-bookworm-slim" });
        assert.deepStrictEqual(problems({ ...minimal, metrics: { port: 9145, bindAddress: "0.0.0.0" } }), [
            "switchyard:metrics.bindAddress = \"0.0.0.0\": is not a loopback address: the metrics show the traffic by colour and status; to publish them anyway set metrics.public true as well",
        ]);
        assert.deepStrictEqual(problems({ ...minimal, metrics: { port: 9145, bindAddress: "0.0.0.0", public: true } }), []);
        assert.deepStrictEqual(problems({ ...minimal, metrics: { port: 8080 } }), ["switchyard:metrics.port = 8080: must differ from the proxy's ports (proxy.livePort, previewPort, tlsPort, previewTlsPort)"]);
        assert.deepStrictEqual(problems({ ...minimal, metrics: {} }), ["switchyard:metrics.port = (not set): is required (number)"]);
    });

    it("production cannot turn backups off; a contract migration is refused under standby keep", () => {
        assert.deepStrictEqual(problems({ ...minimal, environment: "production", appUser: "10001:10001", backups: { enabled: false } }, [], "production"), [
            "switchyard:backups.enabled = false: cannot be false in production: every switch backs up the database first",
        ]);
        assert.deepStrictEqual(problems({ ...minimal, environment: "staging", backups: { enabled: false } }), []);
        assert.deepStrictEqual(problems({ ...minimal, standby: "keep", migrations: { contractCommand: "npm run db:contract" } }), [
            'switchyard:migrations.contractCommand = "npm run db:contract": is refused with standby "keep": the old colour keeps running old code, which a contract migration would break; use standby "retire"',
        ]);
    });

    it("notify.webhookUrl is a secret: plaintext refused, a bad URL reported without echoing it", () => {
        const url = "https://hooks.slack.com/services/T1/B2/very-secret-token";
        assert.deepStrictEqual(problems({ ...minimal, notify: { webhookUrl: url } }), [
            "switchyard:notify: is stored in plaintext; set it with `pulumi config set --secret --path notify.webhookUrl <url>`",
        ]);
        const cfg = parseConfig(raw({ ...minimal, notify: { webhookUrl: url } }), new Set(["switchyard:notify"]), "staging");
        assert.strictEqual(cfg.notify.webhookUrl, url);
        const bad = problems({ ...minimal, notify: { webhookUrl: "ftp://x/very-secret-token" } }, ["notify"]);
        assert.deepStrictEqual(bad, ["switchyard:notify.webhookUrl = [secret]: must be an https:// URL (plain http:// only to 127.0.0.1, localhost or ::1)"]);
        assert.ok(!bad.join("").includes("very-secret-token"));
    });

    it("rejects equal live and preview ports", () => {
        assert.deepStrictEqual(problems({ ...minimal, proxy: { livePort: 9000, previewPort: 9000 } }), [
            "switchyard:proxy.previewPort = 9000: must differ from proxy.livePort",
        ]);
    });

    it("cpus: only values Docker keeps as given, so a read-back never replaces a container", () => {
        assert.deepStrictEqual(problems({ ...minimal, limits: { postgres: { memoryMb: 512, cpus: 0.05 } } }), [
            "switchyard:limits.postgres.cpus = 0.05: must be >= 0.1",
        ]);
        assert.deepStrictEqual(problems({ ...minimal, limits: { postgres: { memoryMb: 512, cpus: 0.15 } } }), []);
        const list = problems({ ...minimal, limits: { app: { memoryMb: 256, cpus: 0.123456789123 } } });
        assert.strictEqual(list.length, 1);
        assert.match(list[0], /^switchyard:limits\.app\.cpus = 0\.123456789123: Docker's provider reads 0\.123456789123 back as 0\.123456789, which would replace the container on every update/);
    });

    it("numbers set with `pulumi config set --path` (stored as text) are numbers", () => {
        const cfg = parseConfig(raw({ ...minimal, limits: { app: { memoryMb: "300", cpus: "0.25" } }, health: { timeoutSeconds: "30" } }), new Set(), "s");
        assert.deepStrictEqual(cfg.limits.app, { memoryMb: 300, cpus: 0.25 });
        assert.strictEqual(cfg.health.timeoutSeconds, 30);
        assert.deepStrictEqual(problems({ ...minimal, limits: { app: { memoryMb: "lots", cpus: 1 } } }), [
            'switchyard:limits.app.memoryMb = "lots": must be a number, got string',
        ]);
    });

    it("proxy.extraHttpConfig is free text for nginx, without template placeholders", () => {
        const cfg = parseConfig(raw({ ...minimal, proxy: { extraHttpConfig: "add_header X-Team ops;" } }), new Set(), "s");
        assert.strictEqual(cfg.proxy.extraHttpConfig, "add_header X-Team ops;");
        assert.deepStrictEqual(problems({ ...minimal, proxy: { extraHttpConfig: "{{appPort}}" } }), [
            'switchyard:proxy.extraHttpConfig = "{{appPort}}": must not contain {{ (template placeholders)',
        ]);
    });

    // Every stack file in the repo (and every machine-local stack template)
    // must pass the schema, so a typo in production config fails CI rather than a deploy.
    const repo = path.resolve(__dirname, "..", "..");
    const stackFiles = [
        ...fs.readdirSync(repo).filter((f) => /^Pulumi\.[\w-]+\.yaml$/.test(f)),
        ...fs.readdirSync(path.join(repo, "stacks")).map((f) => path.join("stacks", f)),
    ];
    it("finds the committed stacks: staging, production and the local template", () => {
        for (const f of ["Pulumi.staging.yaml", "Pulumi.production.yaml", path.join("stacks", "local.yaml")]) assert.ok(stackFiles.includes(f), f);
    });
    for (const file of stackFiles) {
        it(`validates ${file}`, () => {
            const { raw, secretKeys } = readStackFile(path.resolve(repo, file));
            const cfg = parseConfig(raw, secretKeys, file);
            assert.ok(cfg.slots[cfg.liveColor]);
        });
    }
});
