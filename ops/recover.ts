// switchyard recover --stack NAME [--wait-seconds N] [--cancel]
//
// After a `pulumi up` of NAME was killed (kill -9, a lost SSH session, a
// rebooted CI runner), bring the stack back to a state the next `pulumi up`
// finishes from. Traffic is not touched: the live listener keeps serving the
// colour it routes to, whatever step was cut off (each step is idempotent).
//
//   0. state     (file backend) a sidecar `.attrs` file the killed CLI left
//                empty or cut short: Pulumi's file store writes it in place, not
//                atomically, and then fails every command with "failed to load
//                checkpoint: EOF". The sidecar holds only content type and a
//                checksum; without it the store reads the (intact) checkpoint.
//   1. lock      remove the dead update's lock (`pulumi cancel`), refusing when
//                the lock's process is still alive on this machine, and asking
//                for --cancel when it cannot see (another machine's lock, or a
//                backend that is not a local file)
//      steps     a kill -9 of the CLI does not stop its plugins: Pulumi starts
//                each in its own process group, so the release step the killed
//                update was running (verify, retire, a migration) runs on to its
//                end. Recover waits for it (--wait-seconds, default 900), since
//                cutting a migration or a drain short is worse, and only then
//                lets the next update start; then it stops the plugins the dead
//                CLI left behind (they would otherwise stay for good)
//   2. pending   `pulumi refresh --clear-pending-creates`: read every resource
//                back from Docker and drop operations the killed update left
//                pending (otherwise every later update warns about them)
//   3. orphans   containers of the stack that Docker has but the state does not
//                (an app container killed mid-create): removed when they belong
//                to a colour the live listener does not route to, or are a
//                worker or scheduler that never started; anything else is
//                reported and left for you
//
// Then run `pulumi up`: it finishes the release the killed update started, or
// the one the config now describes.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readRoute } from "../lib/host";
import { everyHost, followStack, parseStackArgs, progress, projectDir, stackFilePath } from "./cli";
import { lastLine, openStack } from "./workspace";
import { backendUrl, fileBackendRoot, isRunning, killedSteps, orphanedPlugins, truncatedSidecars } from "./recover-procs";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function docker(args: string[], env: NodeJS.ProcessEnv): { ok: boolean; out: string } {
    const r = spawnSync("docker", args, { env, encoding: "utf8" });
    return { ok: r.status === 0, out: r.stdout ?? "" };
}

interface StateResource {
    urn: string;
    id?: string;
    type: string;
    provider?: string;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}

/** The names of the containers the state holds; with several hosts, those whose provider dials `host`. */
export function containersInState(resources: StateResource[], host: string | undefined): Set<string> {
    const hostOf = new Map(resources.filter((r) => r.type === "pulumi:providers:docker").map((r) => [`${r.urn}::${r.id}`, r.outputs?.host ?? r.inputs?.host]));
    return new Set(
        resources
            .filter((r) => r.type === "docker:index/container:Container")
            .filter((r) => host === undefined || hostOf.get(r.provider ?? "") === host)
            .map((r) => String(r.outputs?.name)),
    );
}

export async function main(argv: string[]): Promise<void> {
    const { say, warn, fail } = progress("recover");
    const args = parseStackArgs(argv, { values: ["wait-seconds"], flags: ["cancel"] });
    const waitText = args.values["wait-seconds"] ?? "900";
    if (!/^\d+$/.test(waitText)) fail(`--wait-seconds must be a whole number of seconds (got '${waitText}')`);
    const waitSeconds = Number(waitText);
    const cancel = args.flags.has("cancel");
    const backend = backendUrl();
    const root = fileBackendRoot(backend);
    if (!root && !cancel) {
        // A cloud or bucket backend: whether the update still runs elsewhere is not
        // visible here, and cancelling a live update breaks it mid-release.
        fail(`the backend (${backend ?? "Pulumi Cloud"}) is not a local file backend, so recover cannot tell whether the update holding ${args.stack}'s lock is dead; check (pulumi stack history, or the backend's console), then run recover again with --cancel`);
    }
    const file = args.stackFile ?? stackFilePath(args.stack);
    const { names, project } = followStack(args.stack, file);

    // 0. Sidecar files a kill left truncated (file backend only).
    if (root) {
        const cut = truncatedSidecars(path.join(root, ".pulumi"));
        for (const f of cut) {
            fs.rmSync(f, { force: true });
            say(`state: removed ${path.relative(path.join(root, ".pulumi"), f)}, cut short by the kill (the checkpoint it describes is intact)`);
        }
        if (cut.length === 0) say("state: every file of the file backend reads back");
        // 1. The lock. A file backend keeps it as a JSON file naming pid and host.
        const lockDir = path.join(root, ".pulumi", "locks", "organization", project, args.stack);
        for (const lock of fs.existsSync(lockDir) ? fs.readdirSync(lockDir).filter((f) => f.endsWith(".json")) : []) {
            const { pid, hostname } = JSON.parse(fs.readFileSync(path.join(lockDir, lock), "utf8")) as { pid: number; hostname: string };
            if (hostname === os.hostname() && isRunning(pid)) fail(`an update of ${args.stack} is still running (pid ${pid}); wait for it, or stop it first`);
            // Another machine's update cannot be seen from here: it may be alive.
            if (hostname !== os.hostname() && !cancel) fail(`the lock on ${args.stack} belongs to an update on ${hostname} (pid ${pid}), which this machine cannot check; make sure it is dead, then run recover again with --cancel`);
        }
    }
    // Release steps of the killed update that still run: their plugin outlived the CLI.
    let waited = 0;
    for (let running = killedSteps(names.proxyContainer); running.length > 0; running = killedSteps(names.proxyContainer)) {
        const steps = running.map((s) => `${s.name} (pid ${s.pid})`).join(", ");
        if (waited >= waitSeconds) fail(`steps of the killed update still run after ${waitSeconds}s: ${steps}; wait for them (or stop them: kill PID), then run recover again`);
        if (waited % 10 === 0) say(`steps: the killed update's ${steps} still runs; waiting for it to end (${waited}s so far)`);
        await sleep(1000);
        waited++;
    }
    say(waited > 0 ? `steps: the killed update's last step ended after ${waited}s` : "steps: none of the killed update still runs");
    const stopped = orphanedPlugins(projectDir()).filter((p) => {
        try {
            process.kill(p.pid, "SIGTERM");
            return true;
        } catch {
            return false;
        }
    });
    if (stopped.length) say(`steps: stopped plugins the killed CLI left running: ${stopped.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}`);

    const stack = await openStack(args.stack).catch((err: Error) => fail(err.message));
    try {
        await stack.cancel();
        say("lock: the killed update's lock is removed (pulumi cancel)");
    } catch (err) {
        if (!/not currently locked|no update|not locked/i.test(String((err as Error).message))) fail(`pulumi cancel: ${lastLine(err)}`);
        say("lock: none");
    }

    // 2. Pending operations and drift, read back from Docker.
    type Deployment = { pending_operations?: { type: string; resource: { urn: string } }[]; resources?: StateResource[] };
    const exported = async () => (await stack.exportStack().catch((err) => fail(`pulumi stack export failed: ${lastLine(err)}`))).deployment as Deployment;
    const pending = (d: Deployment) => (d.pending_operations ?? []).map((o) => `${o.type} ${o.resource.urn.split("::").pop()}`).join(", ");
    const before = pending(await exported());
    await stack.refresh({ clearPendingCreates: true }).catch((err) => fail(`pulumi refresh failed: ${String((err as { stderr?: string }).stderr ?? err).trim().split("\n").slice(-3).join("\n")}`));
    // One export after the refresh: what is still pending, and the containers the state holds.
    const state = await exported();
    const after = pending(state);
    say(`pending operations: ${before || "none"} -> ${after || "none"} (refresh read every resource back)`);

    // 3. Orphans: containers labelled with this stack that the state does not
    // hold, on every host of the stack. Containers have the same names on every
    // host, so the state's are told apart by the Docker host of their provider.
    const resources = state.resources ?? [];
    const hosts = everyHost(args.stack, file, names.namePrefix);
    const several = hosts.length > 1 || hosts[0].name !== undefined;
    let left = 0;
    const routes: string[] = [];
    for (const h of hosts) {
        const where = several ? ` on ${h.env.DOCKER_HOST}` : "";
        const inState = containersInState(resources, several ? h.env.DOCKER_HOST : undefined);
        const route = readRoute(names.proxyContainer, h.env);
        routes.push(`${several ? `${h.env.DOCKER_HOST}: ` : ""}${route ?? "no route"}`);
        const format = '{{.Names}}\t{{.Label "switchyard.role"}}\t{{.Label "switchyard.colour"}}\t{{.State}}';
        const rows = docker(["ps", "-a", "--filter", `label=switchyard.stack=${names.stackLabel}`, "--format", format], h.env).out.split("\n").filter(Boolean);
        for (const row of rows) {
            const [name, role, colour, state] = row.split("\t");
            if (inState.has(name)) continue;
            if (role === "app" && colour !== route) {
                if (docker(["rm", "-f", name], h.env).ok) say(`orphans: removed ${name}${where} (${colour}, not routed; the killed update was creating it)`);
            } else if (role === "process" && state === "created") {
                // Pulumi creates a worker or scheduler without starting it (the processes
                // step starts it later): one the state lost never ran and holds no job.
                if (docker(["rm", "-f", name], h.env).ok) say(`orphans: removed ${name}${where} (a ${colour ? `${colour} ` : ""}process container the killed update created; it never ran)`);
            } else {
                warn(`orphans: ${name}${where} (${role}${colour ? ` ${colour}` : ""}) is not in the state and may serve traffic; left as is — inspect it, then remove it or import it`);
                left++;
            }
        }
    }
    if (left > 0) fail(`${left} container(s) need a look (above)`);
    say(`done: the live listener routes to ${routes.join(", ")}; run pulumi up to finish the release`);
}

