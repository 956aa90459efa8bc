// What the ops commands share: their arguments, the stack they follow and how they fail.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { plainTcpProblem, resolveDockerEndpoint } from "../lib/dockerhost";
import { ClientTls, dockerTlsName, writeDockerTls } from "../lib/dockertls";
import { stackNames } from "../lib/naming";
import { readStackFile, stackFilePath as fileIn } from "../lib/stackfile";

export interface StackArgs {
    stack: string;
    /** A stack config file other than Pulumi.<stack>.yaml (tests use it). */
    stackFile?: string;
    /** Values of the command's own options (--backup NAME). */
    values: Record<string, string>;
    /** The command's own flags that were given (--yes). */
    flags: Set<string>;
}

/** --stack NAME [--stack-file PATH], plus a command's own `--name VALUE` options and flags. */
export function parseStackArgs(argv: string[], own: { values?: string[]; flags?: string[] } = {}): StackArgs {
    const out: StackArgs = { stack: "", values: {}, flags: new Set() };
    const values = own.values ?? [];
    const flags = own.flags ?? [];
    for (let i = 0; i < argv.length; i++) {
        const name = argv[i].replace(/^--/, "");
        if (argv[i] === "--stack") out.stack = argv[++i];
        else if (argv[i] === "--stack-file") out.stackFile = argv[++i];
        else if (argv[i].startsWith("--") && values.includes(name)) out.values[name] = argv[++i] ?? "";
        else if (argv[i].startsWith("--") && flags.includes(name)) out.flags.add(name);
        else {
            const allowed = ["--stack NAME", "--stack-file PATH", ...values.map((v) => `--${v} ${v.toUpperCase()}`), ...flags.map((f) => `--${f}`)];
            throw new Error(`unknown argument ${argv[i]} (allowed: ${allowed.join(", ")})`);
        }
    }
    if (!out.stack || !/^[\w.-]+$/.test(out.stack)) throw new Error(`--stack NAME is required (got ${out.stack || "nothing"})`);
    return out;
}

/** A failure already said in the command's own progress form (`[release  3.1s] FAILED: …`). */
export class Reported extends Error {}

/**
 * One progress line per step, with the seconds since the command started:
 * `[release    3.1s] message`. `fail` prints `FAILED: message` on stderr and
 * ends the command with exit 1.
 */
export function progress(mode: string) {
    const t0 = Date.now();
    const line = (m: string) => `[${mode} ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${m}\n`;
    return {
        say: (m: string) => void process.stdout.write(line(m)),
        warn: (m: string) => void process.stderr.write(line(m)),
        fail: (m: string): never => {
            throw new Reported(line(`FAILED: ${m}`));
        },
    };
}

/** Runs a command's main; any error is one line "<name>: <message>" (or its own Reported line) and exit 1. */
export function runCli(name: string, main: () => void | Promise<void>): void {
    const fail = (err: unknown) => {
        if (err instanceof Reported) process.stderr.write(err.message);
        else console.error(`${name}: ${(err as Error).message}`);
        process.exit(1);
    };
    try {
        const done = main();
        if (done instanceof Promise) done.catch(fail);
    } catch (err) {
        fail(err);
    }
}

/**
 * The stack an ops command acts on, resolved the way the program resolves it:
 * Docker names from the project name in Pulumi.yaml (pulumi.getProject()),
 * and the Docker host from the stack's `hosts` or `docker:host` (then
 * DOCKER_HOST, the docker context, the local socket). With several hosts,
 * `on` picks which: "canary" the first (its proxy and route), "data" the
 * data host (data.host, else the first: Postgres, Redis and the backups).
 * Every docker call the command makes afterwards goes to that host:
 * DOCKER_HOST (and for a tcp:// host its TLS material) is set for this process.
 */
export function followStack(
    stack: string,
    stackFile?: string,
    on: "canary" | "data" = "canary",
): { names: ReturnType<typeof stackNames>; file: string; project: string; dockerHost: string } {
    const file = stackFile ?? stackFilePath(stack);
    const raw = fs.existsSync(file) ? readStackFile(file).raw : {};
    const project = projectName();
    const names = stackNames(project, stack);
    const host = on === "data" ? dataHost(raw) : configuredHosts(raw)?.[0];
    const endpoint = host ? { host: host.dockerHost, source: host.name } : resolveDockerEndpoint(raw["docker:host"]);
    const plain = host ? undefined : plainTcpProblem(endpoint);
    if (plain) throw new Error(plain);
    Object.assign(process.env, host ? hostEnv(stack, file, names.namePrefix, host) : { DOCKER_HOST: endpoint.host });
    return { names, file, project, dockerHost: endpoint.host };
}

type ConfiguredHost = { name: string; dockerHost: string };
const configuredHosts = (raw: Record<string, string>): ConfiguredHost[] | undefined => (raw["switchyard:hosts"] ? (JSON.parse(raw["switchyard:hosts"]) as ConfiguredHost[]) : undefined);

/** The host of `hosts` that runs Postgres, Redis and the backups: data.host, else the first; undefined for a one-host stack. */
export function dataHost(raw: Record<string, string>): ConfiguredHost | undefined {
    const hosts = configuredHosts(raw);
    const named = raw["switchyard:data"] ? (JSON.parse(raw["switchyard:data"]) as { host?: string }).host : undefined;
    if (!hosts || named === undefined) return hosts?.[0];
    const host = hosts.find((h) => h.name === named);
    if (!host) throw new Error(`switchyard:data.host = ${JSON.stringify(named)} names no host of switchyard:hosts (${hosts.map((h) => h.name).join(", ")}); run pulumi preview to see the config error`);
    return host;
}

/**
 * Every host of the stack and the docker CLI's environment for it, in
 * release order; for a one-host stack the one host followStack resolved.
 */
export function everyHost(stack: string, file: string, namePrefix: string): { name?: string; env: NodeJS.ProcessEnv }[] {
    const raw = fs.existsSync(file) ? readStackFile(file).raw : {};
    const hosts = configuredHosts(raw);
    return hosts ? hosts.map((h) => ({ name: h.name, env: hostEnv(stack, file, namePrefix, h) })) : [{ env: process.env }];
}

/**
 * The docker CLI's environment for one host of the stack. A tcp:// host's
 * client material is written first, from hostsTls (read with `pulumi config
 * get`, once per command, never printed).
 */
export function hostEnv(stack: string, file: string, namePrefix: string, host: { name: string; dockerHost: string }): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host.dockerHost };
    delete env.DOCKER_CONTEXT;
    if (!host.dockerHost.startsWith("tcp://")) return env;
    hostsTls ??= JSON.parse(secretConfig(stack, file, "switchyard:hostsTls")) as Record<string, ClientTls>;
    const tls = hostsTls[host.name];
    if (!tls) throw new Error(`switchyard:hostsTls has no material for host ${host.name} (${host.dockerHost}); run pulumi preview to see the config error`);
    return { ...env, ...writeDockerTls(dockerTlsName(namePrefix, host.name), tls) };
}
let hostsTls: Record<string, ClientTls> | undefined;

/** A secret config value of the stack, decrypted by the Pulumi CLI (never printed). */
export function secretConfig(stack: string, file: string, key: string): string {
    const r = spawnSync("pulumi", ["config", "get", key, "--stack", stack], { cwd: path.dirname(file), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.error || r.status !== 0) throw new Error(`could not read ${key} of stack ${stack} with \`pulumi config get\` (run \`source setup/env.sh\` first): ${(r.stderr || String(r.error ?? "")).trim().split("\n").pop()}`);
    return r.stdout.trim();
}

/**
 * The Pulumi project a command acts on: the nearest directory holding
 * Pulumi.yaml, from the working directory up, as the Pulumi CLI finds it.
 * Never the package's own directory: installed into a team's project, the
 * commands act on that project.
 */
export function projectDir(from = process.cwd()): string {
    for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
        if (path.dirname(dir) === dir) throw new Error(`no Pulumi.yaml in ${from} or above it: run this in your Pulumi project's directory`);
    }
}

/** The stack's config file, Pulumi.<stack>.yaml of the project. */
export function stackFilePath(stack: string): string {
    return fileIn(stack, projectDir());
}

/** The project's name, from its Pulumi.yaml. */
export function projectName(dir = projectDir()): string {
    const name = (YAML.parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { name?: unknown })?.name;
    if (typeof name !== "string" || !name) throw new Error(`no project name in ${path.join(dir, "Pulumi.yaml")}`);
    return name;
}
