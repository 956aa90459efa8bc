// npm run plan -- --stack NAME [--with-diff] [--no-preview] [--work-dir DIR] [--stack-file PATH]
//
// What a reviewer needs before approving a release, in Markdown. It runs a
// real `pulumi preview` of the stack (Automation API) with the policy pack,
// and joins it with the release story of the program's own planner: risks
// first (a data service, volume, network or the proxy replaced or deleted, a
// protected resource touched), the policy findings, which colour goes live
// and what retires, every resource operation by component, the config changes
// since the last update, and with --with-diff the raw `pulumi preview --diff`.
// Where the provider plugins are missing it says so in one line and prints
// the planner's story alone, marked as such; --no-preview asks for that.
// Exit 2 when the preview is refused (a mandatory policy, the delete guard).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { otherColour, parseConfig, SwitchyardConfig } from "../lib/config";
import { dockerHostProbe, HostState, readHostStates } from "../lib/host";
import { MEASURED_START_PREFIX, STATE_DIR } from "../lib/routemarker";
import { missingForPreview } from "../lib/plugins";
import { dataHostIndex, rolloutBatches } from "../lib/hosts";
import { describeProcesses, planRelease } from "../lib/release";
import { readStackFile } from "../lib/stackfile";
import { PACKAGE_ROOT } from "../lib/package";
import { followStack, hostEnv, parseStackArgs, projectDir, runCli } from "./cli";
import { realPreview } from "./preview";
import { renderPreviewPlan } from "./preview-report";


/** Image each data service runs now (undefined when it does not run). */
export type RunningServices = Partial<Record<"postgres" | "redis" | "proxy", string>>;

/** The images the data services run (on the data host, `dataEnv`) and the proxy (this process's host). */
export function runningServices(prefix: string, dataEnv: NodeJS.ProcessEnv = process.env): RunningServices {
    const out: RunningServices = {};
    for (const svc of ["postgres", "redis", "proxy"] as const) {
        const env = svc === "proxy" ? process.env : dataEnv;
        try {
            const imageId = execFileSync("docker", ["inspect", "-f", "{{.Image}}", `${prefix}-${svc}`], { encoding: "utf8", env, stdio: ["ignore", "pipe", "ignore"] }).trim();
            const tags = execFileSync("docker", ["image", "inspect", "-f", "{{join .RepoTags \",\"}}", imageId], { encoding: "utf8", env, stdio: ["ignore", "pipe", "ignore"] }).trim();
            out[svc] = tags || imageId;
        } catch {
            // not running: a first release creates it
        }
    }
    return out;
}

/** The stack's config as the program would see it (secure values count as set with --secret). */
export function loadStackConfig(file: string, stack: string): SwitchyardConfig {
    const { raw, secretKeys } = readStackFile(file);
    return parseConfig(raw, secretKeys, stack);
}

export function renderPlan(stack: string, cfg: SwitchyardConfig, host: HostState, services: RunningServices, hosts?: HostState[]): string {
    const { risks, serviceRisks, story } = planSections(cfg, host, services, hosts);
    const all = [...serviceRisks, ...risks];
    const lines = [`## Switchyard plan: \`${stack}\``, ""];
    if (all.length) lines.push("### ⚠ Risks", "", ...all.map((r) => `- ${r}`), "");
    return [...lines, ...story].join("\n");
}

/**
 * The release story of the program's own planner and the risks it sees;
 * serviceRisks are its guesses, from image tags, that a data service or the
 * proxy is replaced (a real preview knows instead).
 */
export function planSections(cfg: SwitchyardConfig, host: HostState, services: RunningServices, hosts?: HostState[]): { risks: string[]; serviceRisks: string[]; story: string[] } {
    const lines: string[] = [];
    const plan = planRelease(cfg, host);
    // The image each colour runs now; a different one means its containers are re-created.
    const runsAsConfigured = (c: "blue" | "green") => host.running[c]?.image === cfg.slots[c]?.image;
    const risks: string[] = [];
    const serviceRisks: string[] = [];
    const changes: string[] = [];
    for (const svc of ["postgres", "redis", "proxy"] as const) {
        const now = services[svc];
        const want = cfg[svc].image;
        if (svc !== "proxy" && cfg[`${svc}Url`]) {
            if (now) serviceRisks.push(`**${svc} is removed**: the stack now uses ${svc}Url, so its container and volume leave the program (the delete guard refuses it without \`SWITCHYARD_ALLOW_DELETE=${svc},volume\`); move the data to the managed service first.`);
            else changes.push(`${svc} is managed elsewhere (${svc}Url): no container of it is declared.`);
            continue;
        }
        if (now && !now.split(",").includes(want)) {
            const what = svc === "proxy" ? "both listeners stop while nginx is re-created" : "the shared data service restarts (its volume is kept)";
            serviceRisks.push(`**${svc} is replaced**: ${now} → ${want}; ${what}.`);
        }
        if (!now) changes.push(`${svc} is created (${want}).`);
    }
    const live = host.route;
    const image = (c: string) => host.running[c as "blue"]?.image ?? host.retired[c as "blue"] ?? "not running";
    if (live === plan.live && !plan.switching && !runsAsConfigured(plan.live)) {
        risks.push(
            `**${plan.live} is live and its image changes** (${host.running[plan.live]?.image} → ${cfg.slots[plan.live]!.image}): ` +
                `the delete guard refuses re-creating the colour that serves traffic; release to ${plan.idle} instead.`,
        );
    }
    lines.push("| | now | after this update |", "|---|---|---|");
    lines.push(`| live colour | ${live ? `${live} (${image(live)})` : "nothing is live yet"} | **${plan.live}** (${cfg.slots[plan.live]!.image}) |`);
    const idleNow = live ? otherColour(live) : undefined;
    lines.push(`| idle colour | ${idleNow ? `${idleNow}: ${host.running[idleNow] ? `running ${host.running[idleNow]!.image}` : host.retired[idleNow] ? `retired (${host.retired[idleNow]})` : "empty"}` : "-"} | ${plan.idle}: ${plan.idleState}${cfg.slots[plan.idle] ? ` (${cfg.slots[plan.idle]!.image})` : ""} |`);
    lines.push("");
    const hasProcesses = Object.keys(cfg.processes).length > 0;
    if (plan.switching) {
        const steps = [
            // The dump runs beside the re-check (components/release.ts).
            cfg.backups.enabled ? "gate and backup, side by side" : "gate",
            ...(cfg.migrations.command ? ["migrate (expand)"] : []),
            ...(hasProcesses ? ["processes (start, hand over)"] : []),
            ...(cfg.canary ? [`canary (${cfg.canary.steps.join(" % → ")} %, ${cfg.canary.stepSeconds} s each)`] : []),
            "re-point (no nginx reload)",
            "verify",
            ...(cfg.bake.seconds > 0 ? [`bake (${cfg.bake.seconds} s)`] : []),
            ...(hasProcesses ? ["processes (stop the old colour's)"] : []),
            "retire",
            ...(cfg.migrations.contractCommand ? ["contract"] : []),
        ];
        lines.push(`**Switch ${plan.previousLive} → ${plan.live}.** Steps, in order: ${steps.join(" → ")}.`);
        if (!runsAsConfigured(plan.live)) {
            lines.push(`- **Create:** ${plan.live} with ${cfg.slots[plan.live]!.image}, ${cfg.replicas} replica(s), before anything switches.`);
        }
    } else if (!live) {
        lines.push(`**First release:** ${plan.live} goes live.`);
    } else if (runsAsConfigured(plan.live)) {
        lines.push(`**No switch:** ${plan.live} stays live.`);
    } else {
        lines.push(`**REFUSED:** ${plan.live} is live and its image would change; \`pulumi up\` stops before changing anything.`);
    }
    const staged = plan.idleState === "staged" && !runsAsConfigured(plan.idle);
    if (staged) lines.push(`- **Staged:** ${plan.idle} is (re)created with ${cfg.slots[plan.idle]!.image} and gated; the preview listener (port ${cfg.proxy.previewPort}) serves it.`);
    if (plan.switching || !live) {
        lines.push(`- **Gate:** each of ${cfg.replicas} ${plan.live} replica(s) must answer \`${cfg.health.path}\` healthy ${cfg.health.healthyThreshold} times in a row within ${cfg.health.timeoutSeconds} s.`);
        if (cfg.backups.enabled) lines.push(`- **Backup:** \`pg_dump\` of ${cfg.postgres.database} before anything switches; the newest ${cfg.backups.keep} are kept.`);
        if (cfg.migrations.command) lines.push(`- **Migrate (expand):** \`${cfg.migrations.command}\` from ${cfg.slots[plan.live]!.image}, while ${live ?? "nothing"} still serves.`);
        if (cfg.canary && plan.switching) {
            const latency = cfg.bake.maxP99Ms === undefined ? "" : ` or a p99 above ${cfg.bake.maxP99Ms} ms`;
            lines.push(
                `- **Canary:** ${plan.live} gets ${cfg.canary.steps.join(" %, then ")} % of new traffic (clients keep the colour they got), ${cfg.canary.stepSeconds} s each, judged by its real requests; ` +
                    `above ${cfg.bake.maxErrorPercent} % 5xx${latency} (from ${cfg.bake.minRequests} requests), all traffic goes back to ${live ?? "nothing"} at once and the update fails. ` +
                    `A rollback to a release that went live before takes no steps.` +
                    (cfg.hosts && cfg.hosts.length > 1 ? ` Every host splits by the same weights at once, and their records are judged together; each keeps the last weight until its own re-point.` : ""),
            );
        }
        lines.push(`- **Verify:** ${cfg.verifyRequests} consecutive answers from ${plan.live} on the live listener, else traffic goes back.`);
        if (cfg.bake.seconds > 0) {
            const latency = cfg.bake.maxP99Ms === undefined ? "" : ` or a p99 above ${cfg.bake.maxP99Ms} ms`;
            lines.push(`- **Bake:** ${cfg.bake.seconds} s of ${plan.live}'s real traffic from the proxy's records; above ${cfg.bake.maxErrorPercent} % 5xx${latency} (from ${cfg.bake.minRequests} requests), traffic goes back to ${live ?? "nothing"} and the update fails.`);
        }
    }
    if (hasProcesses) {
        lines.push(`- **Processes:** ${describeProcesses(cfg.processes, plan.declared)}.`);
        if (plan.switching) lines.push(`  ${plan.live}'s start and are gated before the re-point; each scheduler is handed over (${plan.previousLive}'s stopped first); then ${plan.previousLive}'s get SIGTERM and their stop grace.`);
    }
    if (cfg.maintenance) lines.push("- **Maintenance mode is on:** the live listener answers 503 (Retry-After) until it is turned off.");
    if (plan.switching) {
        lines.push(
            plan.idleState === "retired"
                ? `- **Retire:** ${plan.previousLive} drains (up to ${cfg.drainSeconds} s), is stopped and removed.`
                : `- **Standby:** ${plan.previousLive} keeps running for an instant rollback (standby keep).`,
        );
        if (cfg.migrations.contractCommand) lines.push(`- **Contract:** \`${cfg.migrations.contractCommand}\` once ${plan.previousLive} no longer runs; rolling back past it needs a restore.`);
    }
    if (changes.length) lines.push(...changes.map((c) => `- ${c}`));
    lines.push("");
    if (cfg.hosts && hosts) lines.push(...hostOrder(cfg, hosts), "");
    return { risks, serviceRisks, story: lines };
}

/**
 * With several hosts: each host's own plan, in the order they switch (the
 * table above is the canary's). `hosts` holds what each runs now, in config order.
 */
export function hostOrder(cfg: SwitchyardConfig, hosts: HostState[]): string[] {
    const list = cfg.hosts!;
    const batches = rolloutBatches(list.length, cfg.rollout.batchSize);
    const lines = [`**Hosts, in release order** (after the canary, ${cfg.rollout.batchSize} at a time):`, ""];
    const services = [cfg.postgresUrl ? undefined : "Postgres", cfg.redisUrl ? undefined : "Redis"].filter(Boolean).join(" and ");
    const dataAt = dataHostIndex(cfg);
    batches.forEach((batch, b) => {
        for (const i of batch) {
            const plan = planRelease(cfg, hosts[i]);
            const what = plan.switching ? `switch ${plan.previousLive} → ${plan.live}` : plan.previousLive === undefined ? `first release: ${plan.live} goes live` : `${plan.live} stays live`;
            const runs = i === dataAt && services ? `, runs ${services}` : "";
            const when =
                b === 0
                    ? `canary${runs}${cfg.bake.seconds > 0 ? `; bakes ${cfg.bake.seconds} s` : ""}`
                    : `re-points after ${batches[b - 1].map((j) => list[j].name).join(", ")} ${b === 1 && cfg.bake.seconds > 0 ? "baked" : "verified"}${runs}`;
            lines.push(`${i + 1}. \`${list[i].name}\` (${list[i].dockerHost}): ${what} (${when})`);
        }
    });
    lines.push("", `A failure stops the rollout on that host: the hosts after it never move.`);
    if (cfg.canary) lines.push(`The canary's steps (${cfg.canary.steps.join(" % → ")} %) split every host's traffic before the first re-point; a failed step, verify or bake on ${list[0].name} takes the share back from every host.`);
    return lines;
}

/** Seconds the live colour took from its start to passing its gate (gate.sh records it), if known. */
function measuredStart(proxy: string, live: string | undefined): number | undefined {
    if (!live) return undefined;
    try {
        const v = Number(execFileSync("docker", ["exec", proxy, "cat", `${STATE_DIR}/${MEASURED_START_PREFIX}${live}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
        return v > 0 ? v : undefined;
    } catch {
        return undefined;
    }
}

function configNow(file: string): Record<string, { value: string; secret: boolean }> {
    const { raw, secretKeys } = readStackFile(file);
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, { value: v, secret: secretKeys.has(k) }]));
}

export async function main(argv = process.argv.slice(2)) {
    const args = parseStackArgs(argv, { values: ["work-dir"], flags: ["with-diff", "no-preview"] });
    const { stack } = args;
    const workDir = path.resolve(args.values["work-dir"] ?? projectDir());
    const file = args.stackFile ?? path.join(workDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`no stack config at ${file}`);
    const { names } = followStack(stack, file);
    const cfg = loadStackConfig(file, stack);
    // With several hosts, each is read; the story's table is the first's (the canary; followStack points this process at it),
    // the data services' images the data host's.
    const envs = cfg.hosts?.map((h) => hostEnv(stack, file, names.namePrefix, h));
    const hosts = envs && readHostStates(names.stackLabel, names.proxyContainer, envs);
    const host = hosts?.[0] ?? dockerHostProbe(names.stackLabel, names.proxyContainer);
    const services = runningServices(names.namePrefix, envs?.[dataHostIndex(cfg)]);
    if (args.flags.has("no-preview")) {
        console.log(renderPlan(stack, cfg, host, services, hosts));
        return;
    }
    const missing = missingForPreview();
    if (missing.length) {
        console.log(`> **Preview unavailable here** (missing: ${missing.join(", ")}): below is the program's own planner, not Pulumi's preview.\n`);
        console.log(renderPlan(stack, cfg, host, services, hosts));
        return;
    }
    // The policy pack is this repository's (policy/); an installed package previews without it.
    const policyPack = path.join(PACKAGE_ROOT, "policy");
    const packReady = fs.existsSync(path.join(policyPack, "node_modules", "@pulumi", "policy"));
    if (!packReady) console.error("plan: the policy pack's dependencies are not installed (npm run setup); previewing without it");
    const measured = measuredStart(names.proxyContainer, host.route);
    const preview = await realPreview({
        stack,
        workDir,
        policyPack: packReady ? policyPack : undefined,
        policyConfig: measured ? { "health-timeout-vs-start": { measuredStartSeconds: measured } } : undefined,
    });
    // Whether a data service or the proxy is replaced, the preview knows; the
    // planner only guesses it from image tags (a rebuilt local tag fools it).
    const { risks, story } = planSections(cfg, host, services, hosts);
    console.log(renderPreviewPlan({ stack, preview, plannerRisks: risks, story, config: configNow(file), withDiff: args.flags.has("with-diff") }));
    // The report is printed either way; a refused preview fails the command (and the PR check).
    if (preview.error) process.exitCode = 2;
}

if (require.main === module) runCli("plan", main);
