// The program's proxy (issues 25, 26) under Pulumi's mocks: fixed addresses
// and upstreams for a new stack, Docker's DNS kept for a 0.2 stack, the heal
// step, what a framework app's settings become, and the ACME sidecar.
import * as assert from "assert";
import { HostState, StoppedReplica } from "../../lib/host";
import { EMPTY_HOST, get, labelsOf, runProgram, SECRET_SIG, unwrapSecrets } from "./mocks";

const base = {
    liveColor: "blue",
    slots: { blue: { image: "app:1.0.0" } },
    proxy: { image: "switchyard/nginx:local" },
    postgres: { image: "switchyard/postgres:local" },
    redis: { image: "switchyard/redis:local" },
};
const onBlue: HostState = { ...EMPTY_HOST, route: "blue", running: { blue: { image: "app:1.0.0", containers: ["switchyard-staging-app-blue-1"] } } };
const frontendAddress = (run: Awaited<ReturnType<typeof runProgram>>, name: string) =>
    (get(run, name).inputs.networksAdvanced as { name: string; ipv4Address?: string }[]).find((n) => n.name.endsWith("-frontend"))?.ipv4Address;

describe("the proxy and the addresses (Pulumi mocks)", function () {
    this.timeout(30000);

    it("a new stack: each network a /24 of its own, replicas and data services at fixed addresses, nginx upstreams of exactly those", async () => {
        const run = await runProgram({ config: { ...base, replicas: 3 } });
        const frontend = get(run, "networks-frontend");
        const subnet = frontend.inputs.ipamConfigs[0].subnet as string;
        assert.match(subnet, /^172\.30\.\d+\.0\/24$/);
        assert.strictEqual(labelsOf(frontend)["switchyard.addressing"], "fixed");
        assert.strictEqual(frontend.deleteBeforeReplace, true, "Docker refuses a second network of one name");
        const prefix = subnet.replace(/0\/24$/, "");
        const addresses = [1, 2, 3].map((i) => frontendAddress(run, `release-app-blue-${i}`));
        assert.deepStrictEqual(addresses, [`${prefix}131`, `${prefix}132`, `${prefix}133`]);
        const conf = get(run, "proxy-config").inputs.stdin as string;
        const block = /upstream switchyard_live_blue \{([^}]*)\}/.exec(conf)![1];
        assert.deepStrictEqual([...block.matchAll(/server (\S+):3000 max_fails=1 fail_timeout=5s;/g)].map((m) => m[1]), addresses);
        assert.match(block, /keepalive_timeout 250ms;/);
        assert.match(conf, /upstream switchyard_preview_green \{/);
        const preview = /upstream switchyard_preview_blue \{([^}]*)\}/.exec(conf)![1];
        assert.deepStrictEqual([...preview.matchAll(/server (\S+):3000 max_fails=0;/g)].map((m) => m[1]), addresses, "the preview never leaves a replica out");
        assert.doesNotMatch(conf, /resolver 127\.0\.0\.11/, "no DNS at request time");
        // The app's URLs name the services' fixed addresses.
        const backend = get(run, "networks-backend").inputs.ipamConfigs[0].subnet.replace(/0\/24$/, "");
        const env = (unwrapSecrets(get(run, "release-app-blue-1").inputs.envs) as string[]).join("\n");
        assert.match(env, new RegExp(`DATABASE_URL=postgres://app:[^@]+@${backend.replace(/\./g, "\\.")}200:5432/app`));
        assert.match(env, new RegExp(`REDIS_URL=redis://:[^@]+@${backend.replace(/\./g, "\\.")}201:6379/0`));
        // The gate probes the addresses, not names.
        assert.strictEqual(get(run, "release-app-blue-gate").inputs.environment.SWITCHYARD_TARGET_ADDRESSES, addresses.join(" "));
    });

    it("a stack whose networks Switchyard 0.2 made keeps them and Docker's DNS, and says how to move", async () => {
        const old: HostState = { ...onBlue, networks: { taken: ["172.18.0.0/16", "172.19.0.0/16"], frontend: { subnet: "172.18.0.0/16", fixed: false }, backend: { subnet: "172.19.0.0/16", fixed: false } } };
        const run = await runProgram({ config: base, host: old });
        assert.strictEqual(get(run, "networks-frontend").inputs.ipamConfigs, undefined);
        assert.strictEqual(frontendAddress(run, "release-app-blue-1"), undefined);
        assert.strictEqual(get(run, "postgres-container").inputs.networksAdvanced[0].ipv4Address, undefined);
        const conf = get(run, "proxy-config").inputs.stdin as string;
        assert.match(conf, /resolver 127\.0\.0\.11 valid=1s ipv6=off;/);
        assert.match(conf, /proxy_pass http:\/\/app-\$switchyard_colour:3000;/);
        assert.strictEqual(get(run, "release-app-blue-gate").inputs.environment.SWITCHYARD_TARGET_ADDRESSES, undefined, "a 0.2 stack's gate keeps its inputs");
    });

    it("a replica found stopped is healed by its slot's step; with none stopped the step's input is ignored (a quiet up is a no-op)", async () => {
        const quiet = await runProgram({ config: base, host: onBlue });
        assert.deepStrictEqual(get(quiet, "release-app-blue-heal").ignoreChanges, ["environment"]);
        const stopped: StoppedReplica = { name: "switchyard-staging-app-blue-2", colour: "blue", image: "app:1.0.0", state: "exited", exitCode: 137, oomKilled: false, finishedAt: "2026-12-02T10:00:00Z" };
        const run = await runProgram({ config: base, host: { ...onBlue, stopped: [stopped] } });
        const heal = get(run, "release-app-blue-heal");
        assert.deepStrictEqual(heal.ignoreChanges, []);
        assert.strictEqual(heal.inputs.create, "bash scripts/release/heal.sh");
        assert.strictEqual(heal.inputs.environment.SWITCHYARD_TARGETS, "switchyard-staging-app-blue-2");
        assert.strictEqual(heal.inputs.environment.SWITCHYARD_TARGET_ADDRESSES, frontendAddress(run, "release-app-blue-2"));
        assert.strictEqual(heal.inputs.environment.HEAL_TOKEN, "switchyard-staging-app-blue-2@2026-12-02T10:00:00Z");
        assert.match(heal.inputs.environment.HEAL_REASONS, /SIGKILL, exit 137: stopped from outside/);
        assert.ok(get(run, "release-gate").deps.includes("release-app-blue-heal"), "the release gate runs after the heal");
        assert.ok(heal.deps.includes("release-app-blue-2"), "after the containers");
    });

    it("a framework app's settings: host names, the gate's Host and X-Forwarded-Proto, trusted proxies, body limit, headers", async () => {
        const cfg = {
            ...base,
            health: { path: "/up" },
            proxy: {
                ...base.proxy,
                hostnames: ["shop.example.com", "*.shop.example.com"],
                trustedProxies: ["10.0.0.0/8"],
                maxBodyMb: 100,
                idempotentMethods: ["PUT"],
                securityHeaders: { "Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "" },
            },
            tls: { certificate: "x", key: "y" },
        };
        // The TLS pair is checked before anything is declared; a real one from the test CA.
        const { makeCa, makeCert } = await import("../certs");
        const ca = makeCa("unit");
        const pair = makeCert("shop.example.com", 30, ca);
        const run = await runProgram({ config: { ...cfg, tls: { certificate: pair.certificate, key: pair.key } }, secrets: ["tls"] });
        const gate = get(run, "release-app-blue-gate").inputs.environment;
        assert.strictEqual(gate.HEALTH_HOST, "shop.example.com", "the first host name that is not a wildcard");
        assert.strictEqual(gate.HEALTH_PROTO, "https", "HTTPS is served, so the probe says so");
        const verify = get(run, "release-verify").inputs.environment;
        assert.strictEqual(verify.HEALTH_HOST, "shop.example.com");
        const conf = get(run, "proxy-config").inputs.stdin as string;
        assert.match(conf, /map \$host \$switchyard_unknown_host \{\n\s+hostnames;\n\s+default 1;\n\s+shop\.example\.com 0;\n\s+\*\.shop\.example\.com 0;/);
        assert.match(conf, /set_real_ip_from 10\.0\.0\.0\/8;/);
        assert.match(conf, /client_max_body_size 100m;/);
        assert.match(conf, /"" "default-src 'self'";/);
        assert.doesNotMatch(conf, /switchyard_h_x_frame_options/, "an empty value leaves the default out");
        assert.match(conf, /add_header X-Content-Type-Options \$switchyard_h_x_content_type_options always;/);
        // The app marks PUT idempotent: nginx's own rule then; DELETE stays sent-once (test/scripts/nginx-resend.test.ts runs it).
        assert.match(conf, /\n\s+PUT "";\n\s+DELETE "once";\n\s+POST "";\n\s+PATCH "";/);
    });

    it("ACME: a sidecar with certbot's image on the proxy's ACME volume, mounted read-only in the proxy; no tls-config step; a ready step", async () => {
        const run = await runProgram({
            config: {
                ...base,
                proxy: { ...base.proxy, hostnames: ["shop.example.com"], redirectHttp: true },
                acme: { email: "ops@example.com", directoryUrl: "https://acme.internal:14000/dir", checkSeconds: 60 },
                notify: { webhookUrl: "https://hooks.example.com/T/secret-token" },
            },
            secrets: ["notify"],
        });
        const sidecar = get(run, "acme-container").inputs;
        assert.strictEqual(sidecar.name, "switchyard-staging-acme");
        assert.deepStrictEqual(sidecar.entrypoints, ["python3", "-c"]);
        assert.match(sidecar.command[0], /^"""The ACME sidecar of components\/acme\.ts: certbot, in a loop\./);
        assert.deepStrictEqual(sidecar.capabilities, { drops: ["ALL"], adds: ["CAP_CHOWN"] });
        assert.strictEqual(sidecar.envs[SECRET_SIG] !== undefined, true, "the sidecar's variables are secret (the webhook URL)");
        const env = unwrapSecrets(sidecar.envs) as string[];
        assert.ok(env.includes("SWITCHYARD_ACME_DOMAINS=shop.example.com"));
        assert.ok(env.includes("SWITCHYARD_ACME_SERVER=https://acme.internal:14000/dir"));
        assert.ok(env.includes("SWITCHYARD_NOTIFY_URL=https://hooks.example.com/T/secret-token"));
        const mounts = get(run, "proxy-container").inputs.mounts as { source: string; target: string; readOnly?: boolean }[];
        assert.deepStrictEqual(mounts.find((m) => m.target === "/etc/switchyard/acme"), { type: "volume", source: "switchyard-staging-proxy-acme", target: "/etc/switchyard/acme", readOnly: true });
        assert.ok(sidecar.mounts.some((m: { source: string; target: string }) => m.source === "switchyard-staging-proxy-acme" && m.target === "/acme-out"));
        assert.ok(!run.resources.has("proxy-tls"), "no certificate from config to install");
        assert.strictEqual(get(run, "acme-ready").inputs.create, "bash scripts/release/acme-ready.sh");
        const conf = get(run, "proxy-config").inputs.stdin as string;
        assert.match(conf, /default \/etc\/switchyard\/acme\/server\.pem;/);
        assert.match(conf, /location \^~ \/\.well-known\/acme-challenge\/ \{\n\s+root \/etc\/switchyard\/acme\/webroot;/);
        assert.match(conf, /listen 127\.0\.0\.1:8443 ssl http2;/);
        assert.ok(get(run, "acme-container").deps.includes("proxy-config"), "the proxy answers the CA before the first order");
    });
});
