// What recover reads of this machine: the backend's files and the processes a
// killed `pulumi up` left running. Linux /proc, read directly: no ps, no awk.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The backend the Pulumi CLI uses here: PULUMI_BACKEND_URL, else the one `pulumi login` chose; undefined for Pulumi Cloud's default. */
export function backendUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
    if (env.PULUMI_BACKEND_URL) return env.PULUMI_BACKEND_URL;
    const home = env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
    try {
        return (JSON.parse(fs.readFileSync(path.join(home, "credentials.json"), "utf8")) as { current?: string }).current || undefined;
    } catch {
        return undefined;
    }
}

/** The directory of a file:// backend (its query dropped), else undefined. */
export function fileBackendRoot(url: string | undefined): string | undefined {
    if (!url?.startsWith("file://")) return undefined;
    const dir = url.slice("file://".length).replace(/\?.*$/, "");
    return dir.startsWith("~") ? path.join(os.homedir(), dir.slice(1)) : dir;
}

/** The `.attrs` sidecars under the backend's .pulumi directory that no longer parse as JSON. */
export function truncatedSidecars(stateDir: string): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
        for (const e of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.name.endsWith(".attrs")) {
                try {
                    JSON.parse(fs.readFileSync(p, "utf8"));
                } catch {
                    out.push(p);
                }
            }
        }
    };
    walk(stateDir);
    return out;
}

export interface Proc {
    pid: number;
    ppid: number;
    cmd: string[];
}

function processes(): Proc[] {
    const out: Proc[] = [];
    for (const d of fs.readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
        try {
            const cmd = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").replace(/\0$/, "").split("\0");
            const ppid = Number(fs.readFileSync(`/proc/${d}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]);
            out.push({ pid: Number(d), ppid, cmd });
        } catch {
            // gone meanwhile
        }
    }
    return out;
}

const readOr = (f: string, fallback = "") => {
    try {
        return fs.readFileSync(f, "utf8");
    } catch {
        return fallback;
    }
};

/**
 * Whether a process of this machine still runs. A killed one whose parent
 * died too is a zombie until init reaps it (a second or two, seen here after a
 * SIGKILL of `npx switchyard release`'s process group): `kill -0` still finds it,
 * but it holds nothing any more.
 */
export function isRunning(pid: number): boolean {
    const stat = readOr(`/proc/${pid}/stat`);
    return stat !== "" && !/^[ZX]/.test(stat.replace(/^.*\) /, ""));
}

/**
 * The release steps of a killed update that still run: `bash
 * scripts/release/STEP.sh` whose environment names this stack's proxy; a step,
 * not its subshells or a step it calls (verify runs re-point).
 */
export function killedSteps(proxyContainer: string): { pid: number; name: string }[] {
    const marker = `SWITCHYARD_PROXY=${proxyContainer}`;
    const steps = new Map<number, { ppid: number; name: string }>();
    for (const p of processes()) {
        const script = p.cmd.find((a) => /scripts\/release\/[a-z-]+\.sh$/.test(a));
        if (!script || !/(^|\/)bash$/.test(p.cmd[0] ?? "")) continue;
        if (!readOr(`/proc/${p.pid}/environ`).split("\0").includes(marker)) continue;
        steps.set(p.pid, { ppid: p.ppid, name: script.replace(/^.*\/|\.sh$/g, "") });
    }
    return [...steps].filter(([, s]) => !steps.has(s.ppid)).map(([pid, s]) => ({ pid, name: s.name }));
}

/**
 * Plugins whose CLI is gone and that run nothing any more, of the project at
 * `dir` only: Pulumi starts a plugin in the program's directory, so one whose
 * working directory is elsewhere belongs to another project's update.
 */
export function orphanedPlugins(dir: string): { pid: number; name: string }[] {
    const project = fs.realpathSync(dir);
    return idlePlugins(processes(), project, (pid) => readOr(`/proc/${pid}/comm`).trim(), (pid) => {
        try {
            return fs.readlinkSync(`/proc/${pid}/cwd`);
        } catch {
            return undefined;
        }
    });
}

/**
 * Of a process table, the plugins of `project` that a killed CLI left: a
 * provider or a language host (`pulumi-resource-*`, `pulumi-language-*`) whose
 * parent is not `pulumi`, that runs in the project's directory and has no
 * child but ssh sessions. A child is work (a command plugin's step, a
 * language host's program), except `ssh`: the docker provider's connection to
 * an ssh:// host (`docker system dial-stdio`), which is no work and ends with
 * the plugin; counted as work, it kept the provider of every ssh:// host of a
 * killed update running after recover.
 */
export function idlePlugins(all: Proc[], project: string, commOf: (pid: number) => string, cwdOf: (pid: number) => string | undefined): { pid: number; name: string }[] {
    const working = new Set(all.filter((p) => path.basename(p.cmd[0] ?? "") !== "ssh").map((p) => p.ppid));
    return all
        .filter((p) => /(^|\/)pulumi-(resource|language)-[a-z0-9-]+$/.test(p.cmd[0] ?? "") && p.cmd.length > 1)
        .filter((p) => commOf(p.ppid) !== "pulumi")
        .filter((p) => cwdOf(p.pid) === project)
        .filter((p) => !working.has(p.pid))
        .map((p) => ({ pid: p.pid, name: path.basename(p.cmd[0]) }));
}
