// npm run plan -- --stack NAME [--stack-file PATH]
//
// A release plan a reviewer reads at a glance, in Markdown: which colour is
// live now and after (with images), what is staged, the gate that guards the
// switch, what retires after how long a drain, and whether the shared
// services change — risks first. It is computed by the same planRelease the
// program runs, from the stack's config file and what the Docker host runs now,
// so it needs Docker access but no Pulumi provider.
import { execFileSync } from "child_process";
import * as fs from "fs";
import { otherColour, parseConfig, SwitchyardConfig } from "../../lib/config";
import { dockerHostProbe, HostState } from "../../lib/host";
import { planRelease } from "../../lib/release";
import { stackNames } from "../../lib/naming";
import { readStackFile, stackFilePath } from "../../lib/stackfile";
import { parseStackArgs, runCli } from "./cli";

/** Image each data service runs now (undefined when it does not run). */
export type RunningServices = Partial<Record<"postgres" | "redis" | "proxy", string>>;

export function runningServices(prefix: string): RunningServices {
    const out: RunningServices = {};
    for (const svc of ["postgres", "redis", "proxy"] as const) {
        try {
            const imageId = execFileSync("docker", ["inspect", "-f", "{{.Image}}", `${prefix}-${svc}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
            const tags = execFileSync("docker", ["image", "inspect", "-f", "{{join .RepoTags \",\"}}", imageId], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
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

export function renderPlan(stack: string, cfg: SwitchyardConfig, host: HostState, services: RunningServices): string {
    const lines: string[] = [`## Switchyard plan: \`${stack}\``, ""];
    const plan = planRelease(cfg, host);
    // The image each colour runs now; a different one means its containers are re-created.
    const runsAsConfigured = (c: "blue" | "green") => host.running[c]?.image === cfg.slots[c]?.image;
    const risks: string[] = [];
    const changes: string[] = [];
    for (const svc of ["postgres", "redis", "proxy"] as const) {
        const now = services[svc];
        const want = cfg[svc].image;
        if (now && !now.split(",").includes(want)) {
            const what = svc === "proxy" ? "both listeners stop while nginx is re-created" : "the shared data service restarts (its volume is kept)";
            risks.push(`**${svc} is replaced**: ${now} → ${want}; ${what}.`);
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
    if (risks.length) lines.push("### ⚠ Risks", "", ...risks.map((r) => `- ${r}`), "");
    lines.push("| | now | after this update |", "|---|---|---|");
    lines.push(`| live colour | ${live ? `${live} (${image(live)})` : "nothing is live yet"} | **${plan.live}** (${cfg.slots[plan.live]!.image}) |`);
    const idleNow = live ? otherColour(live) : undefined;
    lines.push(`| idle colour | ${idleNow ? `${idleNow}: ${host.running[idleNow] ? `running ${host.running[idleNow]!.image}` : host.retired[idleNow] ? `retired (${host.retired[idleNow]})` : "empty"}` : "-"} | ${plan.idle}: ${plan.idleState}${cfg.slots[plan.idle] ? ` (${cfg.slots[plan.idle]!.image})` : ""} |`);
    lines.push("");
    if (plan.switching) {
        const steps = [
            "gate",
            ...(cfg.backups.enabled ? ["backup"] : []),
            ...(cfg.migrations.command ? ["migrate (expand)"] : []),
            "re-point (no nginx reload)",
            "verify",
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
        lines.push(`- **Verify:** ${cfg.verifyRequests} consecutive answers from ${plan.live} on the live listener, else traffic goes back.`);
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
    return lines.join("\n");
}

function main() {
    const { stack, stackFile } = parseStackArgs(process.argv.slice(2));
    const file = stackFile ?? stackFilePath(stack);
    if (!fs.existsSync(file)) throw new Error(`no stack config at ${file}`);
    const names = stackNames("switchyard", stack);
    const host = dockerHostProbe(names.stackLabel, names.proxyContainer);
    console.log(renderPlan(stack, loadStackConfig(file, stack), host, runningServices(names.namePrefix)));
}

if (require.main === module) runCli("plan", main);
