// What the ops commands share: their arguments, the stack they follow and how they fail.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { resolveDockerEndpoint } from "../lib/dockerhost";
import { stackNames } from "../lib/naming";
import { readStackFile, stackFilePath } from "../lib/stackfile";

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

/** Runs a command's main; any error is one line "<name>: <message>" and exit 1. */
export function runCli(name: string, main: () => void | Promise<void>): void {
    const fail = (err: unknown) => {
        console.error(`${name}: ${(err as Error).message}`);
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
 * and the Docker host from the stack's `docker:host` (then DOCKER_HOST, the
 * docker context, the local socket). Every docker call the command makes
 * afterwards goes to that host: DOCKER_HOST is set for this process.
 */
export function followStack(stack: string, stackFile?: string): { names: ReturnType<typeof stackNames>; file: string; project: string; dockerHost: string } {
    const file = stackFile ?? stackFilePath(stack);
    const raw = fs.existsSync(file) ? readStackFile(file).raw : {};
    // With several hosts, the ops commands act on the first: it runs the data services, the backups and the canary.
    const firstHost = raw["switchyard:hosts"] ? (JSON.parse(raw["switchyard:hosts"]) as { dockerHost?: string }[])[0]?.dockerHost : undefined;
    const endpoint = firstHost ? { host: firstHost, source: "hosts[0]" } : resolveDockerEndpoint(raw["docker:host"]);
    process.env.DOCKER_HOST = endpoint.host;
    const project = projectName();
    return { names: stackNames(project, stack), file, project, dockerHost: endpoint.host };
}

/** The project's name, from Pulumi.yaml beside lib/. */
export function projectName(dir = path.resolve(__dirname, "..")): string {
    const name = (YAML.parse(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { name?: unknown })?.name;
    if (typeof name !== "string" || !name) throw new Error(`no project name in ${path.join(dir, "Pulumi.yaml")}`);
    return name;
}
