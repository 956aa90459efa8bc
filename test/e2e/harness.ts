// The e2e harness: a throwaway stack of this project on a local file backend,
// driven through Pulumi's Automation API (LocalWorkspace) against the real
// docker, command and random providers and the local Docker engine. Every
// operation prints one line with what changed and how long it took; its full
// output is kept in the stack's log file for when an assertion fails.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import * as YAML from "yaml";
import { LocalWorkspace, OpMap, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { Colour } from "../../lib/config";
import { APP_ROLE_IN_CONTAINER } from "../../lib/dataservice";
import { readRoute } from "../../lib/host";
import { stackNames } from "../../lib/naming";
import { missingForPreview, pulumiBin } from "../../lib/plugins";
import { copyProject } from "../../lib/project";
import { docker, REPO } from "../scripts/fixture";
import { LoadOptions, LoadReport, startLoadProcess } from "../scripts/load";

const T0 = Date.now();
const secs = (ms: number) => (ms / 1000).toFixed(1);
export const say = (line: string) => console.log(`      [e2e ${secs(Date.now() - T0).padStart(6)}s] ${line}`);

/** What keeps the suite from running here, one item per missing part; empty when it can run. */
export function missingParts(): string[] {
    const missing = missingForPreview();
    if (spawnSync("docker", ["info"], { stdio: "ignore" }).status !== 0) missing.push("a Docker engine (npm run setup)");
    return missing;
}

const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (never any other address), below the kernel's
 * ephemeral range: nginx binds the proxy's ports itself (host networking), and
 * a port from that range can be taken meanwhile by any process's listen(0) or
 * outgoing connection (the Pulumi plugins' own gRPC servers among them).
 */
export async function freePort(): Promise<number> {
    for (let i = 0; i < 500; i++) {
        const port = 20000 + Math.floor(Math.random() * 12000);
        if (handedOut.has(port)) continue;
        const free = await new Promise<boolean>((resolve) => {
            const srv = net.createServer();
            srv.once("error", () => resolve(false));
            srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
        });
        if (free) {
            handedOut.add(port);
            return port;
        }
    }
    throw new Error("no free port between 20000 and 32000 on 127.0.0.1");
}

export interface Changes {
    create: number;
    update: number;
    replace: number;
    delete: number;
    same: number;
}

export interface OpResult {
    changes: Changes;
    seconds: number;
    output: string;
}

function changesOf(map: OpMap | undefined): Changes {
    const m = (map ?? {}) as Record<string, number | undefined>;
    return { create: m.create ?? 0, update: m.update ?? 0, replace: m.replace ?? 0, delete: m.delete ?? 0, same: m.same ?? 0 };
}

export const changed = (c: Changes) => c.create + c.update + c.replace + c.delete;
const describe = (c: Changes) => `${c.create} created, ${c.update} updated, ${c.replace} replaced, ${c.delete} deleted, ${c.same} unchanged`;

/** The stack config the suite starts from: the local stack's shape on fresh ports. */
export function baseConfig(livePort: number, previewPort: number): Record<string, unknown> {
    return {
        environment: "local",
        liveColor: "blue",
        slots: { blue: { image: "switchyard/app:1.0.0" } },
        replicas: 2,
        standby: "retire",
        drainSeconds: 15,
        health: { path: "/health", intervalSeconds: 1, timeoutSeconds: 20, healthyThreshold: 3 },
        proxy: { image: "switchyard/nginx:local", livePort, previewPort, bindAddress: "127.0.0.1" },
        postgres: { image: "switchyard/postgres:local" },
        redis: { image: "switchyard/redis:local" },
        // Three, so ten switches show the retention at work.
        backups: { keep: 3 },
    };
}

/** One throwaway stack in a copy of the project, on its own file backend. */
export class E2EStack {
    readonly names: ReturnType<typeof stackNames>;
    readonly logFile: string;
    private constructor(
        readonly dir: string,
        readonly name: string,
        readonly stack: Stack,
        readonly env: NodeJS.ProcessEnv,
        readonly pulumi: string,
        project: string,
    ) {
        this.names = stackNames(project, name);
        this.logFile = path.join(dir, "e2e.log");
    }

    /**
     * A stack in a copy of this project, or (with `project`) in the Pulumi
     * project already at `project.dir`, such as one that installed the package.
     */
    static async create(suffix: string, config: Record<string, unknown>, project?: { dir: string; name: string }): Promise<E2EStack> {
        const bin = pulumiBin()!;
        const dir = project?.dir ?? copyProject(REPO, [], "switchyard-e2e-");
        fs.mkdirSync(path.join(dir, ".state"));
        const name = `e2e${randomBytes(3).toString("hex")}${suffix}`;
        const env: Record<string, string> = {
            PULUMI_BACKEND_URL: `file://${path.join(dir, ".state")}`,
            PULUMI_CONFIG_PASSPHRASE: `e2e-${randomBytes(8).toString("hex")}`,
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
            // As setup/env.sh: types are checked by npm test, not on every update.
            PULUMI_NODEJS_TRANSPILE_ONLY: process.env.PULUMI_NODEJS_TRANSPILE_ONLY ?? "true",
            PATH: `${path.dirname(bin)}:${process.env.PATH}`,
        };
        const pulumiCommand = await PulumiCommand.get({ root: path.dirname(path.dirname(bin)), skipVersionCheck: false });
        const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: dir }, { envVars: env, pulumiCommand, secretsProvider: "passphrase" });
        const s = new E2EStack(dir, name, stack, { ...process.env, ...env, PULUMI_CONFIG_PASSPHRASE_FILE: "" }, bin, project?.name ?? "switchyard");
        delete s.env.PULUMI_CONFIG_PASSPHRASE_FILE;
        s.writeConfig(config);
        say(`stack ${name} in ${dir} (backend ${env.PULUMI_BACKEND_URL})`);
        return s;
    }

    get stackFile(): string {
        return path.join(this.dir, `Pulumi.${this.name}.yaml`);
    }

    /** Replaces the stack's switchyard config, as editing Pulumi.<stack>.yaml would; keeps its salt. */
    writeConfig(config: Record<string, unknown>): void {
        const file = fs.existsSync(this.stackFile) ? YAML.parse(fs.readFileSync(this.stackFile, "utf8")) ?? {} : {};
        const other = Object.fromEntries(Object.entries(file.config ?? {}).filter(([k]) => !k.startsWith("switchyard:")));
        file.config = { ...other, ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`switchyard:${k}`, v])) };
        fs.writeFileSync(this.stackFile, YAML.stringify(file));
    }

    readConfig(): Record<string, any> {
        const file = YAML.parse(fs.readFileSync(this.stackFile, "utf8")) ?? {};
        return Object.fromEntries(Object.entries(file.config ?? {}).filter(([k]) => k.startsWith("switchyard:")).map(([k, v]) => [k.slice(11), v]));
    }

    private log(label: string, text: string): void {
        fs.appendFileSync(this.logFile, `\n===== ${new Date().toISOString()} ${label}\n${text}`);
    }

    /** `pulumi up`; rejects with the CLI's output when it fails. */
    async up(label: string, opts: { expectNoChanges?: boolean } = {}): Promise<OpResult> {
        const t = Date.now();
        let output = "";
        try {
            // Each chunk of Pulumi's display stamped with the seconds since the up began.
            const onOutput = (chunk: string) => (output += chunk.replace(/^(?=.)/gm, `[${secs(Date.now() - t).padStart(5)}] `));
            const r = await this.stack.up({ onOutput, color: "never", expectNoChanges: opts.expectNoChanges });
            const changes = changesOf(r.summary.resourceChanges);
            say(`up ${label}: ${describe(changes)} in ${secs(Date.now() - t)}s`);
            return { changes, seconds: (Date.now() - t) / 1000, output };
        } catch (err) {
            this.log(`up ${label} FAILED`, `${output}\n${(err as Error).message}`);
            say(`up ${label}: failed after ${secs(Date.now() - t)}s`);
            throw Object.assign(new Error(`${(err as Error).message}`), { output, seconds: (Date.now() - t) / 1000 });
        } finally {
            this.log(`up ${label}`, output);
        }
    }

    /** `pulumi up` that must fail: its output and how long it took. */
    async upFails(label: string): Promise<{ message: string; seconds: number; output: string }> {
        try {
            await this.up(label);
        } catch (err) {
            return { message: (err as Error).message, seconds: (err as any).seconds, output: (err as any).output };
        }
        throw new Error(`up ${label} was expected to fail and succeeded`);
    }

    async preview(label: string): Promise<OpResult> {
        const t = Date.now();
        let output = "";
        const r = await this.stack.preview({ diff: true, onOutput: (s) => (output += s), color: "never" });
        this.log(`preview ${label}`, output);
        const changes = changesOf(r.changeSummary);
        say(`preview ${label}: ${describe(changes)} in ${secs(Date.now() - t)}s`);
        return { changes, seconds: (Date.now() - t) / 1000, output };
    }

    /** The pulumi CLI on this stack, outside the Automation API (status and output). */
    cli(args: string[], extraEnv: Record<string, string> = {}): { status: number; out: string } {
        // A stack export of three hosts passes 1 MB, spawnSync's default buffer: past it the output is cut to nothing.
        const r = spawnSync(this.pulumi, [...args, "--stack", this.name], { cwd: this.dir, env: { ...this.env, ...extraEnv }, encoding: "utf8", timeout: 300000, maxBuffer: 64 * 1024 * 1024 });
        const out = `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n(pulumi ${args.join(" ")}: ${r.error.message})` : ""}`;
        this.log(`pulumi ${args.join(" ")} (exit ${r.status})`, out);
        return { status: r.status ?? -1, out };
    }

    /** An ops command of this repo (npm run backups / restore ...) on this stack, without blocking the event loop. */
    ops(command: string, ...args: string[]): Promise<{ status: number; out: string; seconds: number }> {
        const t = Date.now();
        return new Promise((resolve) => {
            const child = spawn(process.execPath, ["-r", "ts-node/register", `ops/${command}.ts`, "--stack", this.name, "--stack-file", this.stackFile, ...args], {
                cwd: REPO,
                env: { ...this.env, TS_NODE_TRANSPILE_ONLY: "true" },
            });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("close", (code) => {
                this.log(`npm run ${command} ${args.join(" ")} (exit ${code})`, out);
                resolve({ status: code ?? -1, out, seconds: (Date.now() - t) / 1000 });
            });
        });
    }

    /** The instant rollback (engine/rollback-now.js) on this stack, as `npm run rollback -- --now` runs it first. */
    rollbackNow(): Promise<{ status: number; out: string; startedAt: number; endedAt: number }> {
        const startedAt = Date.now();
        return new Promise((resolve) => {
            const child = spawn(process.execPath, [path.join(REPO, "dist", "engine", "rollback-now.js"), "--stack", this.name, "--stack-file", this.stackFile], { cwd: this.dir, env: this.env });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("close", (code) => {
                this.log(`rollback --now (exit ${code})`, out);
                resolve({ status: code ?? -1, out, startedAt, endedAt: Date.now() });
            });
        });
    }

    /** `pulumi up` as its own process group, for killing and for racing. */
    spawnUp(): ChildProcess {
        const out = fs.openSync(this.logFile, "a");
        return spawn(this.pulumi, ["up", "--yes", "--skip-preview", "--color", "never", "--stack", this.name], { cwd: this.dir, env: this.env, detached: true, stdio: ["ignore", out, out] });
    }

    /** Starts `pulumi up`, waits until `when` is true, then SIGKILLs its whole process group. */
    async killUpWhen(label: string, when: () => boolean, timeoutMs = 180000): Promise<void> {
        const t = Date.now();
        const child = this.spawnUp();
        const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
        let exitCode: number | null | undefined;
        void exited.then((c) => (exitCode = c));
        while (!when()) {
            if (exitCode !== undefined) throw new Error(`up finished (exit ${exitCode}) before the moment to kill it (${label})`);
            if (Date.now() - t > timeoutMs) throw new Error(`${label}: the moment to kill did not come within ${timeoutMs / 1000}s`);
            await sleep(100);
        }
        process.kill(-child.pid!, "SIGKILL");
        await exited;
        say(`killed pulumi up (process group) ${label}, ${secs(Date.now() - t)}s after it started`);
    }

    route(): Colour | undefined {
        return readRoute(this.names.proxyContainer, this.env);
    }

    /** Containers carrying this stack's label: name, role, colour, state. */
    containers(all = true): { name: string; role: string; colour: string; state: string; image: string }[] {
        const out = docker("ps", ...(all ? ["-a"] : []), "--filter", `label=switchyard.stack=${this.names.stackLabel}`, "--format", '{{.Names}}\t{{.Label "switchyard.role"}}\t{{.Label "switchyard.colour"}}\t{{.State}}\t{{.Image}}');
        return out
            .split("\n")
            .filter(Boolean)
            .map((l) => {
                const [name, role, colour, state, image] = l.split("\t");
                return { name, role, colour, state, image };
            })
            .sort((a, b) => a.name.localeCompare(b.name));
    }

    /** Docker ids of the named container (for "never replaced or restarted"). */
    identity(container: string): string {
        return docker("inspect", "--format", "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}", container);
    }

    /** Names of the containers in the stack's state. */
    stateContainerNames(): string[] {
        const exp = JSON.parse(this.cli(["stack", "export"]).out);
        return (exp.deployment.resources ?? [])
            .filter((r: any) => r.type === "docker:index/container:Container")
            .map((r: any) => r.outputs?.name as string)
            .sort();
    }

    /** Destroys the stack and everything it made, then removes what a failed run left. */
    async destroy(): Promise<void> {
        const t = Date.now();
        const r = this.cli(["destroy", "--yes", "--run-program", "--skip-preview", "--remove"], { SWITCHYARD_ALLOW_DELETE: "all" });
        // Belt and braces: anything labelled with this stack goes, so no run leaks containers.
        const ids = docker("ps", "-aq", "--filter", `label=switchyard.stack=${this.names.stackLabel}`).split("\n").filter(Boolean);
        if (ids.length) docker("rm", "-f", ...ids);
        for (const kind of ["volume", "network"] as const) {
            const left = docker(kind, "ls", "-q", "--filter", `name=${this.names.namePrefix}-`).split("\n").filter(Boolean);
            if (left.length) spawnSync("docker", [kind, "rm", ...(kind === "volume" ? ["-f"] : []), ...left], { stdio: "ignore" });
        }
        say(`destroyed stack ${this.name} (pulumi destroy exit ${r.status}${ids.length ? `; removed ${ids.length} container(s) it left` : ""}) in ${secs(Date.now() - t)}s`);
        if (process.env.SWITCHYARD_E2E_KEEP !== "1") fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs fn under constant load from a separate process, with 2 s of load
 * before it and 1.5 s after; `began`/`ended` say when fn ran. The load is
 * stopped even when fn fails, so no worker outlives a failed scenario; a load
 * that did not both read and write the database fails.
 */
export async function withLoad(opts: LoadOptions, fn: () => Promise<unknown>): Promise<LoadReport & { began: number; ended: number }> {
    const load = startLoadProcess(opts);
    let began = 0;
    let ended = 0;
    try {
        await sleep(2000);
        began = Date.now();
        await fn();
        ended = Date.now();
        await sleep(1500);
    } catch (err) {
        await load.stop().catch(() => undefined);
        throw err;
    }
    const rep = await load.stop();
    // Every e2e load reads and writes the database (GET and POST /visits), not only /version.
    const posts = rep.samples.filter((x) => x.method === "POST").length;
    const reads = rep.samples.filter((x) => x.path === "/visits" && x.method === "GET").length;
    if (!(posts > 0 && reads > 0)) throw new Error(`the load must write and read the database: ${posts} POST /visits, ${reads} GET /visits`);
    return { ...rep, began, ended };
}

/** Polls until check() is true; rejects naming what it waited for. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 60000): Promise<void> {
    const t = Date.now();
    while (!check()) {
        if (Date.now() - t > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
        await sleep(200);
    }
}

/**
 * Until Docker's own health check calls the container healthy. Its first run
 * comes one interval after the start (5 s in the sample image, 5 s for the
 * proxy), and a release can finish sooner: the gate probes the app itself,
 * so "starting" right after an up is not yet an answer. Unhealthy fails at
 * once; so does anything but healthy after `limitMs` (an interval and a
 * check's timeout, with room).
 */
export async function dockerHealthy(name: string, limitMs = 12000): Promise<void> {
    const t = Date.now();
    for (;;) {
        const status = execFileSync("docker", ["inspect", "--format", "{{.State.Health.Status}}", name], { encoding: "utf8" }).trim();
        if (status === "healthy") return;
        if (status !== "starting" || Date.now() - t > limitMs) throw new Error(`${name}: Docker's health check says ${status} after ${((Date.now() - t) / 1000).toFixed(1)} s`);
        await sleep(250);
    }
}

/** psql in the stack's Postgres container (as its own superuser, over the socket). */
export function psql(s: E2EStack, sql: string): string {
    return execFileSync("docker", ["exec", `${s.names.namePrefix}-postgres`, "sh", "-c", `psql -U ${APP_ROLE_IN_CONTAINER} -d "$POSTGRES_DB" -tAc "$1"`, "psql", sql], { encoding: "utf8" }).trim();
}

/** redis-cli in the stack's Redis container (password from its own env, never on a command line). */
export function redisCli(s: E2EStack, ...args: string[]): string {
    return execFileSync("docker", ["exec", `${s.names.namePrefix}-redis`, "sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli "$@"', "redis-cli", ...args], { encoding: "utf8" }).trim();
}

/** Plugins (providers, language hosts) on this machine whose pulumi CLI is gone: "pid path" (a killed update's, that recover should have stopped). */
export function orphanedPlugins(): string[] {
    return fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).flatMap((pid) => {
        try {
            const exe = fs.readlinkSync(`/proc/${pid}/exe`);
            if (!/\/pulumi-(resource|language)-[a-z0-9-]+$/.test(exe)) return [];
            const ppid = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1];
            return fs.readFileSync(`/proc/${ppid}/comm`, "utf8").trim() === "pulumi" ? [] : [`${pid} ${exe}`];
        } catch {
            return [];
        }
    });
}
