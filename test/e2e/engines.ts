// A second Docker host on this machine for the e2e suite: its own dockerd
// (socket, data root, exec root, address pool), reached over ssh:// through an
// sshd on 127.0.0.1 with a key made here, as a deploy user would reach a
// remote host. Its published ports are on 127.0.0.1 like the main engine's.
//
// Two engines on one kernel share iptables: an engine with iptables on
// rewrites the DOCKER chains at its start, which would drop the main engine's
// port mappings. This one runs with iptables off (its ports go through
// docker-proxy) and one FORWARD rule lets its own containers reach each other,
// since bridged traffic passes the main engine's FORWARD policy. It has a
// default bridge of its own, made here: an engine started with --bridge=none
// deletes the kernel's docker0, the main engine's default bridge (seen: every
// `docker run` on the main engine failed afterwards).
//
// With a TCP port it also listens on 127.0.0.1:<port> with TLS (--tlsverify):
// a CA, a server certificate for 127.0.0.1 and a client certificate made here,
// as a team that exposes an engine on TCP would set it up.
const run = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import { makeCa, makeCert, TestCert } from "../certs";
import { say, sleep } from "./harness";

const SSHD = "/usr/sbin/sshd";

export class ExtraEngine {
    readonly root: string;
    readonly socket: string;
    /** The ssh alias (an ssh_config.d entry): DOCKER_HOST=ssh://<alias>. */
    readonly sshAlias: string;
    private readonly sshConfig: string;
    private readonly forwardRule: string[];
    /** This engine's default bridge (an interface name of at most 15 characters). */
    private readonly bridge: string;

    /** The client material for tcpHost (CA, certificate, key; PEM), made by start(). */
    clientTls?: { ca: string; certificate: string; key: string };
    /** The CA the TCP listener trusts, kept so a test can issue the client a new certificate (a rotation). */
    private clientCa?: TestCert;

    /** `subnet`: this engine's address pool, a /16 no other engine uses; `tcpPort`: also listen there with TLS. */
    constructor(readonly name: string, readonly subnet: string, readonly sshPort: number, readonly tcpPort?: number) {
        this.root = `/var/lib/switchyard-e2e-${name}`;
        this.socket = `${this.root}/docker.sock`;
        this.sshAlias = `switchyard-e2e-${name}`;
        this.sshConfig = `/etc/ssh/ssh_config.d/${this.sshAlias}.conf`;
        this.forwardRule = ["FORWARD", "-s", subnet, "-d", subnet, "-j", "ACCEPT"];
        this.bridge = `sy-${name}`.slice(0, 15);
    }

    /**
     * This host's address, on its default bridge: the first of the pool's
     * last /24 (the pool's other /24s are for the stack's networks). The
     * other engines' containers reach it through the kernel, as app hosts
     * reach a data host's private address.
     */
    get address(): string {
        const [a, b] = this.subnet.split(".");
        return `${a}.${b}.255.1`;
    }
    private get bridgeAddress(): string {
        return `${this.address}/24`;
    }

    get unixHost(): string {
        return `unix://${this.socket}`;
    }
    get sshHost(): string {
        return `ssh://root@${this.sshAlias}`;
    }
    get tcpHost(): string {
        return `tcp://127.0.0.1:${this.tcpPort}`;
    }
    /** How a stack names this host: over TLS when it listens on TCP, else over ssh. */
    get dockerHost(): string {
        return this.tcpPort ? this.tcpHost : this.sshHost;
    }

    /** docker against this engine, over its socket. */
    docker(...args: string[]): string {
        return execFileSync("docker", ["-H", this.unixHost, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
    }

    /** Why this machine cannot run a second engine over ssh, or undefined. */
    /** A new client certificate and key from the same CA, as an operator rotates one before it expires; clientTls holds it after. */
    rotateClientCertificate(): { certificate: string; key: string } {
        if (!this.clientCa || !this.clientTls) throw new Error(`engine ${this.name} has no TCP listener with TLS`);
        const client = makeCert("switchyard-e2e-client-rotated", 30, this.clientCa);
        this.clientTls = { ...this.clientTls, certificate: client.certificate, key: client.key };
        return client;
    }

    static missing(): string | undefined {
        if (!fs.existsSync(SSHD)) return `${SSHD} is missing (set-up installs openssh-server)`;
        if (spawnSync("iptables", ["-S", "FORWARD"]).status !== 0) return "iptables does not answer";
        return undefined;
    }

    /** Saves the images once (docker save of the main engine), for engines started side by side. */
    static async saveImages(images: string[], file: string): Promise<void> {
        const save = spawn("docker", ["save", "-o", file, ...images], { stdio: ["ignore", "ignore", "inherit"] });
        const saved = await new Promise<number | null>((r) => save.on("close", r));
        if (saved !== 0) throw new Error(`docker save of ${images.join(" ")} failed (exit ${saved})`);
    }

    /** `imageTar`: the images saved by saveImages; without it they are streamed from the main engine. */
    async start(images: string[], imageTar?: string): Promise<void> {
        const t = Date.now();
        this.stop();
        fs.mkdirSync(`${this.root}/ssh`, { recursive: true, mode: 0o700 });
        if (!run("ip", "link", "add", this.bridge, "type", "bridge") || !run("ip", "addr", "add", this.bridgeAddress, "dev", this.bridge) || !run("ip", "link", "set", this.bridge, "up")) {
            throw new Error(`could not make the bridge ${this.bridge} (${this.bridgeAddress}) for engine ${this.name}`);
        }
        const tlsArgs: string[] = [];
        if (this.tcpPort) {
            const tls = `${this.root}/tls`;
            fs.mkdirSync(tls, { recursive: true, mode: 0o700 });
            const ca = makeCa(`switchyard-e2e-${this.name} CA`);
            const server = makeCert(`switchyard-e2e-${this.name}`, 30, ca);
            const client = makeCert("switchyard-e2e-client", 30, ca);
            fs.writeFileSync(`${tls}/ca.pem`, ca.certificate);
            fs.writeFileSync(`${tls}/server.pem`, server.certificate);
            fs.writeFileSync(`${tls}/server-key.pem`, server.key, { mode: 0o600 });
            this.clientTls = { ca: ca.certificate, certificate: client.certificate, key: client.key };
            this.clientCa = ca;
            tlsArgs.push("--host", this.tcpHost, "--tlsverify", "--tlscacert", `${tls}/ca.pem`, "--tlscert", `${tls}/server.pem`, "--tlskey", `${tls}/server-key.pem`);
        }
        const log = fs.openSync(`${this.root}/dockerd.log`, "a");
        spawn(
            "dockerd",
            [
                "--host", this.unixHost,
                ...tlsArgs,
                "--data-root", `${this.root}/data`,
                "--exec-root", `${this.root}/exec`,
                "--pidfile", `${this.root}/docker.pid`,
                "--iptables=false",
                "--bridge", this.bridge,
                "--default-address-pool", `base=${this.subnet},size=24`,
                "--live-restore",
            ],
            { detached: true, stdio: ["ignore", log, log] },
        );
        for (let i = 0; i < 120 && spawnSync("docker", ["-H", this.unixHost, "info"]).status !== 0; i++) await sleep(500);
        this.docker("info", "--format", "{{.ServerVersion}}");
        // -w: engines started side by side take turns at the xtables lock.
        if (!run("iptables", "-w", "-I", ...this.forwardRule)) throw new Error(`iptables -I ${this.forwardRule.join(" ")} failed`);
        // The images, from the main engine: no registry is reachable here.
        const load = spawn("docker", ["-H", this.unixHost, "load", "-q", ...(imageTar ? ["-i", imageTar] : [])], { stdio: [imageTar ? "ignore" : "pipe", "ignore", "inherit"] });
        if (!imageTar) spawn("docker", ["save", ...images], { stdio: ["ignore", "pipe", "inherit"] }).stdout!.pipe(load.stdin!);
        const loaded = await new Promise<number | null>((r) => load.on("close", r));
        if (loaded !== 0) throw new Error(`docker load into ${this.name} failed (exit ${loaded})`);

        // sshd on 127.0.0.1 with a host key and a client key made here; the
        // session's DOCKER_HOST is this engine, so `docker system dial-stdio`
        // (what an ssh:// DOCKER_HOST runs remotely) reaches it.
        const ssh = `${this.root}/ssh`;
        for (const key of ["host_key", "client_key"]) {
            if (!fs.existsSync(`${ssh}/${key}`)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${ssh}/${key}`]);
        }
        fs.copyFileSync(`${ssh}/client_key.pub`, `${ssh}/authorized_keys`);
        fs.writeFileSync(
            `${ssh}/sshd_config`,
            [
                `Port ${this.sshPort}`,
                "ListenAddress 127.0.0.1",
                `HostKey ${ssh}/host_key`,
                `AuthorizedKeysFile ${ssh}/authorized_keys`,
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                `PidFile ${ssh}/sshd.pid`,
                `SetEnv DOCKER_HOST=${this.unixHost}`,
                "",
            ].join("\n"),
        );
        fs.mkdirSync("/run/sshd", { recursive: true });
        spawn(SSHD, ["-D", "-f", `${ssh}/sshd_config`, "-E", `${ssh}/sshd.log`], { detached: true, stdio: "ignore" });
        const known = `${ssh}/known_hosts`;
        fs.writeFileSync(known, `[127.0.0.1]:${this.sshPort} ${fs.readFileSync(`${ssh}/host_key.pub`, "utf8")}`);
        fs.writeFileSync(
            this.sshConfig,
            [
                `Host ${this.sshAlias}`,
                "  HostName 127.0.0.1",
                `  Port ${this.sshPort}`,
                "  User root",
                `  IdentityFile ${ssh}/client_key`,
                "  IdentitiesOnly yes",
                `  UserKnownHostsFile ${known}`,
                "  StrictHostKeyChecking yes",
                // One connection carries every docker call (README: ssh:// hosts), not a handshake each.
                "  ControlMaster auto",
                `  ControlPath ${ssh}/cm-%C`,
                "  ControlPersist 120",
                "",
            ].join("\n"),
        );
        for (let i = 0; i < 50; i++) {
            if (spawnSync("docker", ["-H", this.sshHost, "info", "--format", "{{.Name}}"], { timeout: 20000 }).status === 0) break;
            await sleep(300);
        }
        const over = execFileSync("docker", ["-H", this.sshHost, "info", "--format", "{{.DockerRootDir}}"], { encoding: "utf8" }).trim();
        if (over !== `${this.root}/data`) throw new Error(`${this.sshHost} reaches ${over}, not ${this.name}'s engine`);
        if (this.tcpPort) {
            // Refused without a client certificate; answered with one.
            const bare = spawnSync("docker", ["-H", this.tcpHost, "--tls", "--tlscacert", `${this.root}/tls/ca.pem`, "info"], { encoding: "utf8", timeout: 20000 });
            if (bare.status === 0) throw new Error(`${this.tcpHost} answered a client without a certificate`);
            const client = `${this.root}/tls/client`;
            fs.mkdirSync(client, { recursive: true, mode: 0o700 });
            fs.writeFileSync(`${client}/ca.pem`, this.clientTls!.ca);
            fs.writeFileSync(`${client}/cert.pem`, this.clientTls!.certificate);
            fs.writeFileSync(`${client}/key.pem`, this.clientTls!.key, { mode: 0o600 });
            const viaTcp = execFileSync("docker", ["-H", this.tcpHost, "info", "--format", "{{.DockerRootDir}}"], { encoding: "utf8", env: { ...process.env, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: client } }).trim();
            if (viaTcp !== `${this.root}/data`) throw new Error(`${this.tcpHost} reaches ${viaTcp}, not ${this.name}'s engine`);
        }
        const reached = this.tcpPort ? `${this.tcpHost} (TLS, client certificate required)` : `${this.sshHost} (sshd 127.0.0.1:${this.sshPort})`;
        say(`engine ${this.name}: dockerd on ${this.unixHost}, reached as ${reached}, ${images.length} images loaded, in ${((Date.now() - t) / 1000).toFixed(1)}s`);
    }

    /** Stops sshd and dockerd, and removes what start() put on the machine. */
    stop(): void {
        const kill = (pidFile: string) => {
            if (!fs.existsSync(pidFile)) return;
            const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
            try {
                process.kill(pid, "SIGTERM");
            } catch {
                return;
            }
            // Gone, or a zombie: this process started it, and a blocked event loop has not reaped it yet.
            const alive = () => {
                try {
                    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
                } catch {
                    return false;
                }
            };
            for (let i = 0; i < 150 && alive(); i++) spawnSync("sleep", ["0.2"]);
        };
        spawnSync("ssh", ["-O", "exit", this.sshAlias], { stdio: "ignore", timeout: 5000 });
        kill(`${this.root}/ssh/sshd.pid`);
        if (fs.existsSync(this.socket) && spawnSync("docker", ["-H", this.unixHost, "info"]).status === 0) {
            const ids = spawnSync("docker", ["-H", this.unixHost, "ps", "-aq"], { encoding: "utf8" }).stdout.trim();
            if (ids) spawnSync("docker", ["-H", this.unixHost, "rm", "-f", "-v", ...ids.split("\n")]);
            // Its networks too: a stopped engine leaves their bridges in the kernel.
            spawnSync("docker", ["-H", this.unixHost, "network", "prune", "-f"]);
        }
        kill(`${this.root}/docker.pid`);
        while (run("iptables", "-w", "-D", ...this.forwardRule));
        run("ip", "link", "del", this.bridge);
        this.removeOrphanBridges();
        fs.rmSync(this.sshConfig, { force: true });
        if (fs.existsSync(this.root)) {
            // Mounts the engine left (container rootfs, netns) go first.
            const mounts = fs.readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")[1]).filter((m) => m?.startsWith(this.root)).reverse();
            for (const m of mounts) spawnSync("umount", ["-l", m]);
            fs.rmSync(this.root, { recursive: true, force: true });
        }
    }

    /**
     * Bridges with an address in this engine's pool that no engine owns any
     * more: what an engine killed before it removed its networks leaves (a
     * killed test run; its data root is gone). Left, they shadow the routes of
     * the next run's networks that get the same subnets (seen: m3's replicas
     * could not reach the data host, whose answers went to a dead bridge).
     */
    private removeOrphanBridges(): void {
        const [base, bits] = this.subnet.split("/");
        const toInt = (ip: string) => ip.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
        const mask = bits === "0" ? 0 : (~0 << (32 - Number(bits))) >>> 0;
        const inPool = (ip: string) => ((toInt(ip) & mask) >>> 0) === ((toInt(base) & mask) >>> 0);
        const out = spawnSync("ip", ["-4", "-o", "addr", "show"], { encoding: "utf8" }).stdout ?? "";
        for (const line of out.split("\n")) {
            const m = /^\d+:\s+(br-[0-9a-f]+)\s+inet\s+([\d.]+)\//.exec(line);
            if (m && inPool(m[2])) run("ip", "link", "del", m[1]);
        }
    }
}
