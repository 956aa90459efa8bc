// Let's Encrypt's ACME test server, Pebble, on 127.0.0.1 for the ACME e2e:
// built from the Go module proxy by set-up (step 8), with its DNS stand-in
// (pebble-challtestsrv) answering 127.0.0.1 for every name, so Pebble
// validates HTTP-01 against the stack's live listener on this machine.
// Certificates live `validitySeconds`, so a renewal happens within the test.
// block() makes the server refuse connections (a firewall rule, as a CA
// that cannot be reached); its accounts and orders survive, as a real CA's do.
import { ChildProcess, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import { makeCa, makeCert, TestCert } from "../certs";
import { freePort, say, sleep } from "./harness";

const home = process.env.SWITCHYARD_HOME ?? path.join(os.homedir(), ".switchyard");
const bin = (name: string) => path.join(home, "bin", name);

export class Pebble {
    port = 0;
    private managementPort = 0;
    private dnsPort = 0;
    private procs: ChildProcess[] = [];
    private dir = "";
    private blocked = false;
    /** The CA of Pebble's own HTTPS listener: what acme.caCertificate trusts. */
    listenerCa!: TestCert;

    /** Why Pebble cannot run here, or undefined. */
    static missing(): string | undefined {
        for (const name of ["pebble", "pebble-challtestsrv"]) if (!fs.existsSync(bin(name))) return `${bin(name)} (npm run setup builds it)`;
        return undefined;
    }

    get directoryUrl(): string {
        return `https://127.0.0.1:${this.port}/dir`;
    }

    /** Starts Pebble validating HTTP-01 on `httpPort` of 127.0.0.1, issuing certificates valid for `validitySeconds`. */
    async start(httpPort: number, validitySeconds: number): Promise<void> {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-pebble-"));
        [this.port, this.managementPort, this.dnsPort] = [await freePort(), await freePort(), await freePort()];
        this.listenerCa = makeCa("Pebble listener CA");
        const listener = makeCert("pebble", 30, this.listenerCa);
        fs.writeFileSync(path.join(this.dir, "cert.pem"), listener.certificate);
        fs.writeFileSync(path.join(this.dir, "key.pem"), listener.key);
        const config = {
            pebble: {
                listenAddress: `127.0.0.1:${this.port}`,
                managementListenAddress: `127.0.0.1:${this.managementPort}`,
                certificate: path.join(this.dir, "cert.pem"),
                privateKey: path.join(this.dir, "key.pem"),
                httpPort,
                tlsPort: httpPort,
                ocspResponderURL: "",
                externalAccountBindingRequired: false,
                retryAfter: { authz: 1, order: 1 },
                profiles: { default: { description: "short-lived, so renewal happens in the test", validityPeriod: validitySeconds } },
            },
        };
        fs.writeFileSync(path.join(this.dir, "pebble.json"), JSON.stringify(config));
        const log = fs.openSync(path.join(this.dir, "pebble.log"), "a");
        const dns = `127.0.0.1:${this.dnsPort}`;
        this.procs.push(
            spawn(bin("pebble-challtestsrv"), ["-dnsserver", dns, "-doh", "", "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", "", "-defaultIPv6", ""], { stdio: ["ignore", log, log] }),
        );
        // No random sleep before validating, no nonces rejected on purpose: deterministic timing.
        this.procs.push(spawn(bin("pebble"), ["-config", path.join(this.dir, "pebble.json"), "-dnsserver", dns], { stdio: ["ignore", log, log], env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" } }));
        for (let i = 0; i < 100; i++) {
            if (await this.answers()) {
                say(`pebble on 127.0.0.1:${this.port} (certificates valid ${validitySeconds} s, HTTP-01 on :${httpPort})`);
                return;
            }
            await sleep(100);
        }
        throw new Error(`pebble did not answer on 127.0.0.1:${this.port}: ${fs.readFileSync(path.join(this.dir, "pebble.log"), "utf8").slice(-1000)}`);
    }

    private answers(): Promise<boolean> {
        return new Promise((resolve) => {
            // ACME servers refuse a request without a User-Agent.
            const req = https.get({ host: "127.0.0.1", port: this.port, path: "/dir", ca: this.listenerCa.certificate, servername: "localhost", timeout: 1000, headers: { "User-Agent": "switchyard-e2e" } }, (res) => {
                res.resume();
                resolve(res.statusCode === 200);
            });
            req.on("error", () => resolve(false));
            req.on("timeout", () => req.destroy());
        });
    }

    /** The root Pebble issues under (random at each start): what a client trusts the issued certificates by. */
    root(): Promise<string> {
        return new Promise((resolve, reject) => {
            https
                .get({ host: "127.0.0.1", port: this.managementPort, path: "/roots/0", ca: this.listenerCa.certificate, servername: "localhost", headers: { "User-Agent": "switchyard-e2e" } }, (res) => {
                    let body = "";
                    res.on("data", (c) => (body += c));
                    res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`pebble roots: ${res.statusCode}`))));
                })
                .on("error", reject);
        });
    }

    /** Refuse every connection to the ACME listener (a reset, so clients fail at once). */
    block(): void {
        this.iptables("-I");
        this.blocked = true;
    }

    unblock(): void {
        if (this.blocked) this.iptables("-D");
        this.blocked = false;
    }

    private iptables(op: "-I" | "-D"): void {
        const r = spawnSync("iptables", [op, "INPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", String(this.port), "-j", "REJECT", "--reject-with", "tcp-reset"], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`iptables ${op}: ${r.stderr}`);
    }

    stop(): void {
        this.unblock();
        for (const p of this.procs) p.kill("SIGTERM");
        this.procs = [];
        if (this.dir && process.env.SWITCHYARD_E2E_KEEP !== "1") fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
