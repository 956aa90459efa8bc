// What every Switchyard container has in common: labels the host reader uses,
// limits in the form the provider reads back, a stop grace that fits its role,
// bounded logs, and lifecycle settings that keep `pulumi refresh` safe.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { goDuration, providerCpus } from "./dockerform";

/** Docker labels every Switchyard container carries; the host probe reads them. */
export interface SwitchyardLabels {
    stack: string;
    role: "app" | "proxy" | "postgres" | "redis" | "acme" | "metrics" | "records" | "process";
    colour?: string;
    /** A process type's name (role "process"). */
    process?: string;
    image?: string;
    replica?: number;
}

export function dockerLabels(l: SwitchyardLabels): docker.types.input.ContainerLabel[] {
    const entries: [string, string | number | undefined][] = [
        ["switchyard.stack", l.stack],
        ["switchyard.role", l.role],
        ["switchyard.colour", l.colour],
        ["switchyard.process", l.process],
        ["switchyard.image", l.image],
        ["switchyard.replica", l.replica],
    ];
    return entries.filter(([, v]) => v !== undefined).map(([label, value]) => ({ label, value: String(value) }));
}

/** Memory in MB and CPUs, as config gives them. */
export interface Limits {
    memoryMb: number;
    cpus: number;
}

/** What the program knows about the daemon before declaring containers. */
export interface DaemonFacts {
    /** Whether the daemon enforces swap limits (docker info .SwapLimit). */
    swapLimit: boolean;
}

/**
 * Limits as the provider reads them back (fact 10): cpus in its decimal form,
 * and memory_swap set explicitly — unset, Docker fills in twice the memory and
 * every update shows a diff. Swap is off (swap = memory); where the daemon has
 * no swap limit support Docker stores -1, so -1 is what is sent.
 */
export function limitArgs(l: Limits, daemon: DaemonFacts): Pick<docker.ContainerArgs, "memory" | "memorySwap" | "cpus"> {
    return { memory: l.memoryMb, memorySwap: daemon.swapLimit ? l.memoryMb : -1, cpus: providerCpus(l.cpus) };
}

/**
 * Stop and removal: `stopTimeout` is the grace `docker stop` gives, and
 * `destroyGraceSeconds` the grace the provider gives when it deletes or
 * replaces the container (0 when unset: a kill). `mustRun: false` so that
 * `pulumi refresh` never deletes a stopped container (the provider's read
 * removes a stopped must-run container); health is judged by our gate and
 * the proxy-config step, not by the provider.
 */
export function lifecycleArgs(graceSeconds: number): Pick<docker.ContainerArgs, "stopTimeout" | "destroyGraceSeconds" | "mustRun" | "restart" | "logDriver" | "logOpts"> {
    return {
        stopTimeout: graceSeconds,
        destroyGraceSeconds: graceSeconds,
        mustRun: false,
        restart: "unless-stopped",
        // Bounded logs; explicit so a daemon's default log options do not apply.
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
    };
}

/**
 * Docker healthcheck with durations in the form the provider reads back
 * ("1m0s", not "60s"). A list runs in exec form (no shell: config values go
 * in as arguments); a text is a fixed shell command of Switchyard's own.
 */
export function healthcheck(test: string | string[], intervalSeconds: number, timeoutSeconds: number, retries: number, startPeriodSeconds: number): docker.types.input.ContainerHealthcheck {
    return {
        tests: Array.isArray(test) ? ["CMD", ...test] : ["CMD-SHELL", test],
        interval: goDuration(intervalSeconds),
        timeout: goDuration(timeoutSeconds),
        retries,
        startPeriod: goDuration(startPeriodSeconds),
    };
}

/**
 * Resource options every container gets: the delete guard, and log options
 * ignored in diffs — a daemon merges its own default log options into what a
 * container asks for, and that read-back (a forced replacement) must not
 * recreate the container on the next update.
 *
 * A changed healthcheck replaces the container. The provider plans it as an
 * update, but its update changes only the state: Docker cannot change a
 * container's healthcheck, so the state would claim a check the container
 * does not run. The replacement is delete-first, as the provider's own are
 * (fact 1): the new container takes the old one's name.
 */
export function containerOptions(opts: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions {
    return {
        ...opts,
        ignoreChanges: [...(opts.ignoreChanges ?? []), "logOpts"],
        replaceOnChanges: [...(opts.replaceOnChanges ?? []), "healthcheck"],
        deleteBeforeReplace: true,
    };
}
