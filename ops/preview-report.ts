// Renders a real preview (ops/preview.ts) for a reviewer, joined with
// the release story of the program's planner: risks first, then the policy
// findings, the story, what Pulumi will do grouped by component, the config
// changes since the last update, and the raw diff folded away. Pure, so the
// wording is unit-tested.
import { ConfigMap } from "@pulumi/pulumi/automation";
import { PreviewResult, PreviewStep } from "./preview";

const DESTRUCTIVE = new Set(["replace", "create-replacement", "delete-replaced", "delete"]);
const QUIET = new Set(["same", "read", "refresh"]);

/** Which part of the stack a resource belongs to, for grouping. */
export function componentOf(step: PreviewStep): string {
    const p = step.parent;
    if (step.type.startsWith("pulumi:providers:")) return "providers";
    if (!p) return step.type === "pulumi:pulumi:Stack" ? "stack" : "other";
    // The slot's colour: its name is <app>-release-app-<colour>.
    if (p.type === "switchyard:app:Slot") return `slot ${p.name.replace(/^.*?(app-(?:blue|green))$/, "$1")}`;
    if (p.type.startsWith("switchyard:release:")) return "release steps";
    if (p.type.startsWith("switchyard:data:")) return "data";
    if (p.type === "switchyard:proxy:Nginx") return "proxy";
    if (p.type === "switchyard:net:Networks") return "networks";
    return p.name;
}

/** What a reviewer must not miss: a data service, volume, network or the proxy replaced or deleted; any protected resource touched. */
export function previewRisks(steps: PreviewStep[]): string[] {
    const risks: string[] = [];
    for (const s of steps) {
        if (QUIET.has(s.op)) continue;
        const what = s.type === "docker:index/volume:Volume" ? "a volume"
            : s.type === "docker:index/network:Network" ? "a network"
            : /(?:^|-)postgres-container$/.test(s.name) ? "the shared Postgres"
            : /(?:^|-)redis-container$/.test(s.name) ? "the shared Redis"
            : /(?:^|-)proxy-container$/.test(s.name) ? "the proxy (both listeners)"
            : undefined;
        // delete-replaced is half of a replacement (Docker's containers delete first).
        const verb = s.op === "delete" ? "deleted" : "replaced";
        if (DESTRUCTIVE.has(s.op) && what) {
            risks.push(`**${what} is ${verb}**: \`${s.name}\` (${s.type})${s.diffs.length ? `, because of ${s.diffs.map((d) => `\`${d}\``).join(", ")}` : ""}.`);
        } else if (s.protect) {
            risks.push(`**a protected resource is touched**: \`${s.name}\` (${s.type}) would be ${s.op}d${s.diffs.length ? ` (${s.diffs.join(", ")})` : ""}.`);
        }
    }
    return risks;
}

function opSymbol(op: string): string {
    return ({ create: "+ create", update: "~ update", replace: "+- replace", "create-replacement": "+- replace", "delete-replaced": "+- replace", delete: "- delete" } as Record<string, string>)[op] ?? op;
}

export function resourceTable(steps: PreviewStep[]): string[] {
    const changed = steps.filter((s) => !QUIET.has(s.op) && !s.type.startsWith("pulumi:providers:") && s.type !== "pulumi:pulumi:Stack" && !s.type.startsWith("switchyard:"));
    const same = steps.filter((s) => s.op === "same").length;
    const count = (ops: string[]) => changed.filter((s) => ops.includes(s.op)).length;
    const head = `### What Pulumi will do: ${count(["create"])} to create, ${count(["update"])} to update, ${count(["replace", "create-replacement", "delete-replaced"])} to replace, ${count(["delete"])} to delete (${same} unchanged)`;
    if (changed.length === 0) return [head, "", "Nothing changes.", ""];
    const rows = changed
        .map((s) => ({ group: componentOf(s), s }))
        .sort((a, b) => a.group.localeCompare(b.group) || a.s.name.localeCompare(b.s.name));
    return [
        head,
        "",
        "| component | resource | operation | changed |",
        "|---|---|---|---|",
        ...rows.map(({ group, s }) => `| ${group} | \`${s.name}\` ${s.type.replace(/^docker:index\//, "docker:").replace(/^command:local:/, "command:")} | ${opSymbol(s.op)} | ${s.diffs.join(", ")} |`),
        "",
    ];
}

/** Config of the last update against the stack file now; secrets as [secret]. */
export function configDiff(last: ConfigMap | undefined, now: Record<string, { value: string; secret: boolean }>): string[] {
    if (!last) return ["### Config changes since the last update", "", "No update of this stack yet: all of its config is new.", ""];
    const keys = [...new Set([...Object.keys(last), ...Object.keys(now)])].filter((k) => k.startsWith("switchyard:") || k.startsWith("docker:")).sort();
    const show = (v: { value: string; secret?: boolean } | undefined) => (v === undefined ? "(unset)" : v.secret ? "[secret]" : `\`${v.value}\``);
    const rows = keys
        .filter((k) => {
            const a = last[k];
            const b = now[k];
            if (!a || !b) return Boolean(a) !== Boolean(b);
            if (a.secret || b.secret) return false; // ciphertexts differ per encryption; a changed secret shows only as a changed resource
            return normalise(a.value) !== normalise(b.value);
        })
        .map((k) => `| \`${k}\` | ${show(last[k])} | ${show(now[k])} |`);
    return ["### Config changes since the last update", "", ...(rows.length ? ["| key | last update | this change |", "|---|---|---|", ...rows] : ["None."]), ""];
}

// JSON objects compare by content, not key order or spacing.
function normalise(v: string): string {
    try {
        const sort = (x: any): any => (Array.isArray(x) ? x.map(sort) : x && typeof x === "object" ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sort(x[k])])) : x);
        return JSON.stringify(sort(JSON.parse(v)));
    } catch {
        return v;
    }
}

export function policySection(p: PreviewResult): string[] {
    if (!p.policyPack) return [];
    if (p.policies.length === 0) return ["### Policy `switchyard`", "", "Every policy passes.", ""];
    const lines = p.policies
        .sort((a, b) => (a.level === b.level ? a.policy.localeCompare(b.policy) : a.level === "mandatory" ? -1 : 1))
        .map((f) => `- ${f.level === "mandatory" ? "❌ **mandatory**" : "⚠️ advisory"} \`${f.policy}\`: ${f.message.replace(/\n+/g, " ")}`);
    return ["### Policy `switchyard`", "", ...lines, ""];
}

export interface PlanReport {
    stack: string;
    preview: PreviewResult;
    plannerRisks: string[];
    story: string[];
    config: Record<string, { value: string; secret: boolean }>;
    withDiff: boolean;
}

export function renderPreviewPlan(r: PlanReport): string {
    const p = r.preview;
    const lines = [`## Switchyard plan: \`${r.stack}\` (from a real \`pulumi preview\`, ${p.seconds.toFixed(0)} s)`, ""];
    if (p.error) lines.push("### ⛔ The preview was refused", "", "```", p.error, "```", "`pulumi up` would stop before changing anything.", "");
    const risks = [...previewRisks(p.steps), ...r.plannerRisks];
    if (risks.length) lines.push("### ⚠ Risks", "", ...risks.map((x) => `- ${x}`), "");
    lines.push(...policySection(p), ...r.story, ...resourceTable(p.steps), ...configDiff(p.lastConfig, r.config));
    if (r.withDiff) lines.push("<details><summary>pulumi preview --diff</summary>", "", "```", p.raw.trim().split("\n").slice(-400).join("\n"), "```", "</details>", "");
    return lines.join("\n");
}
