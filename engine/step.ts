// What every release step of the engine shares: one progress line per action
// with the seconds since the step started, a failure that says what to do and
// tells the stack's webhook, and the environment read as one checked object.
// The same lines, in the same form, as the bash steps printed before them, so
// logs and tests read old and new alike.
import { spawn } from "child_process";
import { packageFile } from "../lib/package";
import { RESTORE_LOCK, WEBHOOK_URL_FILE } from "../lib/routemarker";
import { withExtraCa } from "./extra-ca";
import { containerState, Docker, dockerEngine, imageOf, Proxy, ProxyUnreadable, stepDockerEnv } from "./docker";

/**
 * A step's failure: its message is what the operator reads. A `report` (the
 * gate's, several lines naming each replica) is printed and posted as it is,
 * without the FAILED prefix.
 */
export class StepFailure extends Error {
    constructor(
        message: string,
        readonly report = false,
    ) {
        super(message);
    }
}

export class Step {
    private readonly t0 = Date.now();
    readonly docker: Docker;
    private readonly dockerProblem?: string;

    constructor(
        readonly name: string,
        readonly env: NodeJS.ProcessEnv = process.env,
    ) {
        const { env: dockerEnv, problem } = stepDockerEnv(env);
        this.docker = dockerEngine(dockerEnv);
        this.dockerProblem = problem;
    }

    private prefix(): string {
        return `[${this.name} ${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s]`;
    }

    say(message: string): void {
        process.stdout.write(`${this.prefix()} ${message}\n`);
    }

    fail(message: string): never {
        throw new StepFailure(message);
    }

    /** Fails with a report of several lines, printed and posted as it is. */
    failReport(report: string): never {
        throw new StepFailure(report, true);
    }

    /** The named variables, each set and non-empty, or the step fails naming the first missing one. */
    require<K extends string>(...names: K[]): Record<K, string> {
        if (this.dockerProblem) this.fail(this.dockerProblem);
        const out = {} as Record<K, string>;
        for (const n of names) {
            const v = this.env[n];
            if (!v) this.fail(`environment variable ${n} is required`);
            out[n] = v;
        }
        return out;
    }

    /**
     * Fails while `npm run restore` runs on this stack (its lock in the proxy's
     * state): a dump taken, a migration run or a switch made under a restore
     * would be wiped by it or would serve the wrong schema.
     */
    async refuseDuringRestore(proxy: Proxy): Promise<void> {
        const who = await proxy.readState(RESTORE_LOCK);
        if (who) this.refuseRestoring(who);
    }

    /** The failure of a step under a restore: `who` is the lock's content. */
    refuseRestoring(who: string): never {
        this.fail(`a restore of this stack is running (${who}); nothing was changed. Wait until npm run restore has finished, then pulumi up again`);
    }

    /** Until docker says the container runs; else the step fails with its last lines. */
    async waitRunning(container: string, limitSeconds: number): Promise<void> {
        let state = "";
        for (let i = 0; i < limitSeconds * 5; i++) {
            state = await containerState(this.docker, container);
            if (state === "running") return;
            await sleep(200);
        }
        let last = "";
        if (state) {
            const logs = await this.docker.run(["logs", "--tail", "5", container]);
            last = `; its last lines:\n${`${logs.stdout}${logs.stderr}`.replace(/\n+$/, "").split("\n").map((l) => `  | ${l}`).join("\n")}`;
        }
        this.fail(`container ${container} is not running after ${limitSeconds}s (state: ${state || "missing"})${last}`);
    }

    /**
     * Posts one message (failure or rollback) to the stack's webhook when one
     * is configured: the notifier step keeps its URL in the proxy's state
     * volume, so no step carries it in its environment. Bounded in time
     * (notify.js); a failed notification is logged and never fails the step.
     */
    async notify(kind: "failure" | "rollback", summary: string, fromImage?: string, known?: { url: string; toImage: string }): Promise<void> {
        const proxyName = this.env.SWITCHYARD_PROXY;
        if (!proxyName) return;
        const proxy = new Proxy(this.docker, proxyName);
        // `known`: the caller read the URL and the images already (rollback --now, whose every docker call here is an ssh session).
        let url = known?.url;
        try {
            url ??= await proxy.readState(WEBHOOK_URL_FILE);
        } catch (e) {
            // A notification never fails the step: what it would have said is on the step's own output.
            this.say(`no notification sent: ${(e as Error).message}`);
            return;
        }
        if (!url) return;
        const stack = this.env.SWITCHYARD_STACK || ((await this.docker.inspect([proxyName]).catch(() => undefined))?.found[0]?.Config.Labels?.["switchyard.stack"] ?? "");
        const from = fromImage || (await imageOf(this.docker, stack, await proxy.route().catch(() => "")));
        const to = known ? known.toImage : await imageOf(this.docker, stack, this.env.SWITCHYARD_COLOR || "none");
        const args = [packageFile("scripts", "release", "notify.js"), kind, stack, this.name, this.env.SWITCHYARD_COLOR ?? "", from || "none", to || "none", summary];
        await new Promise<void>((resolve) => {
            const child = spawn(process.execPath, args, { env: { ...withExtraCa(this.env), NOTIFY_URL: url }, stdio: ["ignore", "pipe", "pipe"] });
            let out = "";
            child.stdout.on("data", (d) => (out += d));
            child.stderr.on("data", (d) => (out += d));
            child.on("close", () => {
                for (const line of out.split("\n").filter(Boolean)) this.say(line);
                resolve();
            });
        });
    }

    /** Runs `main`; a failure prints FAILED with the host's name, tells the webhook, and exits 1. */
    static async run(name: string, main: (step: Step) => Promise<void>): Promise<void> {
        const step = new Step(name);
        try {
            await main(step);
        } catch (e) {
            if (e instanceof StepFailure && e.report) {
                process.stderr.write(`${e.message}\n`);
                await step.notify("failure", e.message).catch(() => undefined);
                process.exitCode = 1;
                return;
            }
            const text = e instanceof StepFailure || e instanceof ProxyUnreadable ? e.message : `unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
            const message = `${step.env.SWITCHYARD_HOST_NAME ? `on host ${step.env.SWITCHYARD_HOST_NAME}: ` : ""}${text}`;
            process.stderr.write(`${step.prefix()} FAILED: ${message}\n`);
            await step.notify("failure", message).catch(() => undefined);
            process.exitCode = 1;
        }
    }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
