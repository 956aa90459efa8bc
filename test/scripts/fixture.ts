// A real stack on the local Docker engine, made with the docker CLI, for the
// release-step scripts to act on: the same networks, volumes, labels, names
// and nginx config the Pulumi program declares, without going through Pulumi.
import { execFile, execFileSync, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Colour } from "../../lib/config";
import { stackNames } from "../../lib/naming";
import { REDIS_COMMAND } from "../../components/redis";
import { LIVE_SOCKET, LIVE_TLS_SOCKET, METRICS_LOG_DIR, renderNginxConfig, WORKER_UID } from "../../nginx/render";
import { KEEP_MINUTES, KEEP_RECORDS } from "../../lib/records";
import { CANARY_PREFIX, ROUTE_MARKER, STATE_DIR } from "../../lib/routemarker";
import { DEFAULT_ADDRESS_POOL, ipamOf, pickSubnets, postgresAddress, redisAddress, replicaAddress, StackSubnets } from "../../lib/addressing";
import { proxyBehaviour, routingOf } from "../../lib/proxy";
import { configSchema } from "../../lib/config";

import { REPO } from "../../lib/project";
export { PROJECT_FILES, REPO } from "../../lib/project";
export { pulumiBin } from "../../lib/plugins";

export const IMAGES = {
    app: process.env.SWITCHYARD_TEST_APP_IMAGE ?? "switchyard/app:1.0.0",
    /** The sample app on schema 2 (visits.source), the release that needs an expand migration. */
    app2: process.env.SWITCHYARD_TEST_APP2_IMAGE ?? "switchyard/app:2.0.0",
    /** The second app: a static Go binary in a FROM scratch image (examples/scratch-app). */
    scratch: process.env.SWITCHYARD_TEST_SCRATCH_IMAGE ?? "switchyard/scratch-app:1.0.0",
    registry: process.env.SWITCHYARD_TEST_REGISTRY_IMAGE ?? "switchyard/registry:local",
    nginx: process.env.SWITCHYARD_TEST_NGINX_IMAGE ?? "switchyard/nginx:local",
    postgres: process.env.SWITCHYARD_TEST_POSTGRES_IMAGE ?? "switchyard/postgres:local",
    redis: process.env.SWITCHYARD_TEST_REDIS_IMAGE ?? "switchyard/redis:local",
    /** Node from Debian's packages: the metrics sidecar's image here (node:20-bookworm-slim by default). */
    node: process.env.SWITCHYARD_TEST_NODE_IMAGE ?? "switchyard/node:local",
};

export function docker(...args: string[]): string {
    return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/**
 * `count` distinct free TCP ports on 127.0.0.1 (never any other address), below
 * the kernel's ephemeral range (see the e2e harness's freePort), found by a
 * child process: up() is synchronous.
 */
export function freePorts(count: number): number[] {
    const script = `const net = require("net"); const got = new Set();
        const next = () => { if (got.size === ${count}) { console.log([...got].join(" ")); return; }
            const p = 20000 + Math.floor(Math.random() * 12000); if (got.has(p)) return next();
            const v = net.createServer(); v.once("error", next); v.listen(p, "127.0.0.1", () => v.close(() => { got.add(p); next(); })); };
        next();`;
    return execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }).trim().split(" ").map(Number);
}

/** The pids of a proxy's nginx worker processes: the same before and after means no reload. */
export function nginxWorkers(proxy: string): string {
    return docker("exec", proxy, "sh", "-c", 'for p in /proc/[0-9]*; do c=$(tr "\\000" " " < $p/cmdline 2>/dev/null); case "$c" in "nginx: worker process"*) echo ${p#/proc/};; esac; done | sort');
}

export function dockerAvailable(): string | undefined {
    const r = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8" });
    if (r.status !== 0) return `docker info failed: ${(r.stderr || "").trim()}`;
    for (const image of Object.values(IMAGES)) {
        if (spawnSync("docker", ["image", "inspect", image], { encoding: "utf8" }).status !== 0) {
            return `image ${image} is missing: run npm run setup`;
        }
    }
    return undefined;
}

/** docker, without blocking the event loop. */
export function dockerAsync(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("docker", args, { encoding: "utf8" }, (err, stdout, stderr) => (err ? reject(new Error(`docker ${args[0]}: ${stderr || err.message}`)) : resolve(stdout.trim())));
    });
}

export interface SlotOptions {
    image?: string;
    env?: string[];
    /** The colour the replicas answer as: network alias and fixed addresses (the naive-recreate baseline keeps blue's). Defaults to the colour. */
    alias?: Colour;
    /** The container's command instead of the image's (an app that starts late, say). Defaults to the image's. */
    command?: string[];
}

export interface ScriptResult {
    status: number;
    stdout: string;
    stderr: string;
}

/** Runs scripts/release/<step>.sh from the repo root, as the command resources do. */
export function runStep(step: string, env: Record<string, string>, stdin?: string): ScriptResult {
    const r = spawnSync("bash", [`scripts/release/${step}.sh`], {
        cwd: REPO,
        env: { ...process.env, ...env },
        input: stdin,
        encoding: "utf8",
        timeout: 180000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Like runStep, without blocking the event loop (so load keeps flowing meanwhile). */
export function runStepAsync(step: string, env: Record<string, string>, stdin?: string): Promise<ScriptResult> {
    return new Promise((resolve) => {
        const child = spawn("bash", [`scripts/release/${step}.sh`], { cwd: REPO, env: { ...process.env, ...env } });
        child.stdin.end(stdin);
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (code) => resolve({ status: code ?? -1, stdout, stderr }));
    });
}

export interface TestStackOptions {
    /** Port the app listens on. Defaults to 3000 (the sample app). */
    appPort?: number;
    /** Path the gate probes. Defaults to "/health". */
    healthPath?: string;
    /** Serve HTTPS too (the certificate comes from the tls-config step). Defaults to false. */
    tls?: boolean;
    /** Addresses per colour in the proxy's upstreams (the program's `replicas`). Defaults to 2. */
    replicas?: number;
    /** `proxy.*` settings as the stack config gives them (hostnames, trustedProxies, ...). Defaults to none. */
    proxy?: Record<string, unknown>;
    /** Render the canary's split (lib/canary.ts) with this cookie lifetime. Defaults to none. */
    canary?: { cookieMaxAgeSeconds: number };
    /** Run the metrics sidecar (components/metrics.ts) on this port of 127.0.0.1, and write the records it reads. Defaults to none. */
    metricsPort?: number;
    /** Write the record files the bake and the canary read, kept by the keeper (components/records.ts) sweeping every this many seconds. Defaults to none. */
    recordsKeeperSeconds?: number;
}

export class TestStack {
    readonly stack: string;
    readonly prefix: string;
    readonly stackLabel: string;
    readonly proxy: string;
    livePort = 0;
    previewPort = 0;
    tlsPort = 0;
    previewTlsPort = 0;
    /** The app role's password (tests hand it to the steps as the program would). */
    readonly pgPassword = randomBytes(18).toString("hex");
    // Characters a URL and Redis's config parser both treat specially: the
    // program percent-encodes it in REDIS_URL and quotes it for redis-server.
    readonly redisPassword = `${randomBytes(12).toString("hex")}@/#?%"\\$ x`;
    readonly appPort: number;
    readonly healthPath: string;
    readonly replicas: number;
    /** The /24s of the stack's networks, picked free on this engine at up() (lib/addressing.ts). */
    subnets: StackSubnets = { frontend: "", backend: "" };

    /** Named as the program names a stack "sytest-<id>" of project "switchyard". */
    constructor(readonly id: string, readonly options: TestStackOptions = {}) {
        this.appPort = options.appPort ?? 3000;
        this.healthPath = options.healthPath ?? "/health";
        this.replicas = options.replicas ?? 2;
        this.stack = `sytest-${id}`;
        const names = stackNames("switchyard", this.stack);
        this.prefix = names.namePrefix;
        this.stackLabel = names.stackLabel;
        this.proxy = names.proxyContainer;
    }

    /** DATABASE_URL as the slots and the migrate step get it: Postgres's fixed address, no DNS. */
    get databaseUrl() {
        return `postgres://app:${this.pgPassword}@${postgresAddress(this.subnets.backend)}:5432/app`;
    }

    /** Replica `i` of `colour`'s fixed address on the frontend network. */
    address(colour: Colour, i: number): string {
        return replicaAddress(this.subnets.frontend, colour, i);
    }
    get frontend() {
        return `${this.prefix}-frontend`;
    }
    get backend() {
        return `${this.prefix}-backend`;
    }

    up(drainSeconds = 10): void {
        this.down();
        const label = ["--label", `switchyard.stack=${this.stackLabel}`];
        // As the program: a /24 of each network's own, the replicas and data services at fixed addresses.
        const taken = docker("network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", ...docker("network", "ls", "-q").split("\n")).split(/\s+/).filter(Boolean);
        const [frontend, backend] = pickSubnets(DEFAULT_ADDRESS_POOL, taken, this.prefix, 2);
        this.subnets = { frontend, backend };
        const ipam = (subnet: string) => {
            const i = ipamOf(subnet);
            return ["--subnet", i.subnet, "--ip-range", i.ipRange, "--gateway", i.gateway, "--label", "switchyard.addressing=fixed"];
        };
        docker("network", "create", ...label, ...ipam(frontend), this.frontend);
        docker("network", "create", "--internal", ...label, ...ipam(backend), this.backend);
        docker("run", "-d", "--name", `${this.prefix}-postgres`, ...label, "--label", "switchyard.role=postgres",
            "--network", this.backend, "--ip", postgresAddress(backend), "--network-alias", "postgres",
            "-e", "POSTGRES_USER=app", "-e", "POSTGRES_DB=app", "-e", `POSTGRES_PASSWORD=${this.pgPassword}`,
            "--health-cmd", "pg_isready -h 127.0.0.1 -U app -d app", "--health-interval", "1s", IMAGES.postgres);
        docker("run", "-d", "--name", `${this.prefix}-redis`, ...label, "--label", "switchyard.role=redis",
            "--network", this.backend, "--ip", redisAddress(backend), "--network-alias", "redis", "-e", `REDIS_PASSWORD=${this.redisPassword}`,
            IMAGES.redis, ...REDIS_COMMAND);
        docker("volume", "create", ...label, `${this.prefix}-proxy-conf`);
        docker("volume", "create", ...label, `${this.prefix}-proxy-state`);
        // As the program: host networking, nginx binding free ports on 127.0.0.1 itself.
        [this.livePort, this.previewPort, this.tlsPort, this.previewTlsPort] = freePorts(4);
        docker("run", "-d", "--name", this.proxy, ...label, "--label", "switchyard.role=proxy",
            "--network", "host", "--cap-drop", "ALL", ...["CHOWN", "DAC_OVERRIDE", "KILL", "NET_BIND_SERVICE", "SETGID", "SETUID"].flatMap((c) => ["--cap-add", c]),
            "--security-opt", "no-new-privileges:true",
            "-v", `${this.prefix}-proxy-conf:/etc/switchyard/nginx`, "-v", `${this.prefix}-proxy-state:/etc/switchyard/state`,
            "--stop-signal", "SIGQUIT",
            // The program's log options (lib/containers.ts lifecycleArgs): what docker logs reads through.
            "--log-driver", "json-file", "--log-opt", "max-size=10m", "--log-opt", "max-file=3",
            IMAGES.nginx, "sh", "-c",
            "rm -f /run/switchyard-*.sock; until [ -f /etc/switchyard/nginx/nginx.conf ]; do sleep 0.2; done; exec nginx -c /etc/switchyard/nginx/nginx.conf -g 'daemon off;'");
        if (this.options.metricsPort) this.startMetrics(this.options.metricsPort);
        else if (this.options.recordsKeeperSeconds) this.startRecordKeeper(this.options.recordsKeeperSeconds);
        const r = runStep("proxy-config", this.env(), this.nginxConfig(drainSeconds));
        if (r.status !== 0) throw new Error(`proxy-config failed: ${r.stderr}`);
    }

    /** The metrics sidecar as components/metrics.ts declares it: the compiled exporter on the Node image, the proxy's state volume, the host's network. */
    startMetrics(port: number): void {
        const name = `${this.prefix}-metrics`;
        const upstreams = (["blue", "green"] as const).map((c) => `${c}=${Array.from({ length: this.replicas }, (_, i) => `${this.address(c, i + 1)}:${this.appPort}`).join(",")}`).join(" ");
        docker("rm", "-f", name);
        docker("create", "--name", name, "--label", `switchyard.stack=${this.stackLabel}`, "--label", "switchyard.role=metrics",
            "--network", "host", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--security-opt", "no-new-privileges:true",
            "-v", `${this.prefix}-proxy-state:${STATE_DIR}`,
            "-e", "METRICS_ADDRESS=127.0.0.1", "-e", `METRICS_PORT=${port}`, "-e", `LOG_DIR=${METRICS_LOG_DIR}`, "-e", `STATE_DIR=${STATE_DIR}`,
            "-e", `ROUTE_MARKER=${ROUTE_MARKER}`, "-e", `CANARY_PREFIX=${CANARY_PREFIX}`, "-e", `WORKER_UID=${WORKER_UID}`, "-e", `UPSTREAMS=${upstreams}`,
            IMAGES.node, "node", "/switchyard/metrics-exporter.js");
        // As the provider's upload: the file in /switchyard, which the image does not have.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-metrics-"));
        fs.mkdirSync(path.join(dir, "switchyard"));
        fs.copyFileSync(path.join(REPO, "dist", "engine", "metrics-exporter.js"), path.join(dir, "switchyard", "metrics-exporter.js"));
        docker("cp", path.join(dir, "switchyard"), `${name}:/`);
        fs.rmSync(dir, { recursive: true, force: true });
        docker("start", name);
    }

    /** The record files' keeper as components/records.ts declares it: the proxy's image, the state volume, no network. */
    startRecordKeeper(intervalSeconds: number): void {
        const name = `${this.prefix}-records`;
        docker("rm", "-f", name);
        docker("run", "-d", "--name", name, "--label", `switchyard.stack=${this.stackLabel}`, "--label", "switchyard.role=records",
            "--network", "none", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--security-opt", "no-new-privileges:true",
            "-v", `${this.prefix}-proxy-state:${STATE_DIR}`,
            IMAGES.nginx, "sh", "-c", KEEP_RECORDS, "sh", METRICS_LOG_DIR, String(WORKER_UID), String(KEEP_MINUTES), String(intervalSeconds));
    }

    /** The config the program would render for this stack: upstreams of the fixed addresses, `proxy.*` from options. */
    nginxConfig(
        drainSeconds = 10,
        redirectHttp = false,
        tls = !!this.options.tls,
        files = { metrics: this.options.metricsPort !== undefined, records: this.options.recordsKeeperSeconds !== undefined },
    ): string {
        const cfg = configSchema.parse({ liveColor: "blue", slots: { blue: { image: IMAGES.app } }, replicas: this.replicas, proxy: this.options.proxy ?? {} });
        return renderNginxConfig({
            appPort: this.appPort,
            drainSeconds,
            routing: routingOf({ mode: "fixed", subnets: this.subnets }, cfg),
            listeners: {
                mode: "host",
                live: { address: "127.0.0.1", port: this.livePort },
                preview: { address: "127.0.0.1", port: this.previewPort },
                ...(tls ? { liveTls: { address: "127.0.0.1", port: this.tlsPort }, previewTls: { address: "127.0.0.1", port: this.previewTlsPort } } : {}),
            },
            behaviour: proxyBehaviour(cfg),
            ...(tls ? { tls: { redirectHttp, publicPort: this.tlsPort } } : {}),
            canary: this.options.canary,
            metrics: files.metrics,
            records: files.records,
        });
    }

    /** REDIS_URL as the program builds it: the password percent-encoded, Redis's fixed address. */
    get redisUrl() {
        return `redis://:${encodeURIComponent(this.redisPassword)}@${redisAddress(this.subnets.backend)}:6379/0`;
    }

    /** Starts a colour's replicas the way the Slot component declares them. */
    startSlot(colour: Colour, replicas: number, opts: SlotOptions = {}): string[] {
        const plan = this.slotCommands(colour, replicas, opts);
        for (const args of plan.commands) docker(...args);
        return plan.names;
    }

    /** startSlot without blocking the event loop. */
    async startSlotAsync(colour: Colour, replicas: number, opts: SlotOptions = {}): Promise<string[]> {
        const plan = this.slotCommands(colour, replicas, opts);
        for (const args of plan.commands) await dockerAsync(...args);
        return plan.names;
    }

    /** The docker commands that start a slot; `alias` defaults to app-<colour>. */
    private slotCommands(colour: Colour, replicas: number, opts: SlotOptions): { names: string[]; commands: string[][] } {
        const names: string[] = [];
        const commands: string[][] = [];
        const image = opts.image ?? IMAGES.app;
        for (let i = 1; i <= replicas; i++) {
            const name = `${this.prefix}-app-${colour}-${i}`;
            commands.push(
                ["rm", "-f", name],
                ["create", "--name", name,
                    "--label", `switchyard.stack=${this.stackLabel}`, "--label", "switchyard.role=app",
                    "--label", `switchyard.colour=${colour}`, "--label", `switchyard.image=${image}`,
                    "--label", `switchyard.replica=${i}`,
                    "--network", this.backend,
                    "-e", `SWITCHYARD_COLOR=${colour}`, "-e", `SWITCHYARD_IMAGE=${image}`,
                    "-e", `DATABASE_URL=${this.databaseUrl}`,
                    "-e", `REDIS_URL=${this.redisUrl}`,
                    ...(opts.env ?? []).flatMap((e) => ["-e", e]),
                    "--stop-timeout", "15", "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL",
                    image, ...(opts.command ?? [])],
                ["network", "connect", "--alias", `app-${opts.alias ?? colour}`, "--ip", this.address(opts.alias ?? colour, i), this.frontend, name],
                ["start", name],
            );
            names.push(name);
        }
        return { names, commands };
    }

    /** What every step gets: the proxy, the stack, and the proxy's own sockets (how a step reaches its listeners). */
    env(extra: Record<string, string> = {}): Record<string, string> {
        return { SWITCHYARD_PROXY: this.proxy, SWITCHYARD_STACK: this.stackLabel, LIVE_SOCKET, ...(this.options.tls ? { LIVE_TLS_SOCKET } : {}), ...extra };
    }

    /** Runs the gate for `targets` and fails the test with the gate's own output when it does not pass. */
    passGate(colour: Colour, targets: string[]): void {
        const r = runStep("gate", this.gateEnv(colour, targets));
        if (r.status !== 0) throw new Error(`the gate of ${colour} (${targets.join(" ")}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
    }

    gateEnv(colour: Colour, targets: string[], timeout = 60): Record<string, string> {
        return this.env({
            SWITCHYARD_COLOR: colour,
            SWITCHYARD_TARGETS: targets.join(" "),
            SWITCHYARD_TARGET_ADDRESSES: targets.map((t) => this.address(colour, Number(t.split("-").pop()))).join(" "),
            HEALTH_PATH: this.healthPath,
            HEALTH_PORT: String(this.appPort),
            HEALTHY_THRESHOLD: "3",
            GATE_INTERVAL: "1",
            GATE_TIMEOUT: String(timeout),
        });
    }

    running(colour: Colour): string[] {
        const out = docker("ps", "--filter", `label=switchyard.stack=${this.stackLabel}`, "--filter", `label=switchyard.colour=${colour}`, "--format", "{{.Names}}");
        return out ? out.split("\n").sort() : [];
    }

    down(): void {
        removeLabelled(this.stackLabel);
        for (const n of [this.frontend, this.backend]) spawnSync("docker", ["network", "rm", n]);
    }
}

/** Removes the containers, networks and volumes labelled as this stack's (switchyard.stack), in that order. */
export function removeLabelled(stackLabel: string): void {
    const filter = ["--filter", `label=switchyard.stack=${stackLabel}`];
    const list = (...args: string[]) => spawnSync("docker", [...args, ...filter], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    const ids = list("ps", "-aq");
    if (ids.length) spawnSync("docker", ["rm", "-f", "-v", ...ids]);
    const networks = list("network", "ls", "-q");
    if (networks.length) spawnSync("docker", ["network", "rm", ...networks]);
    const volumes = list("volume", "ls", "-q");
    if (volumes.length) spawnSync("docker", ["volume", "rm", "-f", ...volumes]);
}
