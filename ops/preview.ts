// A real `pulumi preview` of a stack through the Automation API, with the
// policy pack, as structured steps: what the engine will create, update,
// replace or delete, under which component, which resources are protected,
// what the policies say, and the config of the stack's last update.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigMap, EngineEvent, LocalWorkspace, OpType, PulumiCommand } from "@pulumi/pulumi/automation";
import { pulumiBin } from "../lib/plugins";
import { copyProject } from "../lib/project";

export interface PreviewStep {
    op: OpType;
    urn: string;
    type: string;
    name: string;
    /** The component it belongs to ("switchyard:app:Slot", "app-blue"), if any. */
    parent?: { type: string; name: string };
    /** Protected in the stack's state now. */
    protect: boolean;
    /** Properties that differ. */
    diffs: string[];
}

export interface PolicyFinding {
    policy: string;
    level: "mandatory" | "advisory";
    message: string;
    urn?: string;
}

export interface PreviewResult {
    steps: PreviewStep[];
    policies: PolicyFinding[];
    /** Whether the policy pack ran (it reports nothing when all pass). */
    policyPack?: string;
    /** The display of `pulumi preview --diff`. */
    raw: string;
    /** Why the preview failed (a mandatory policy, the delete guard, a config error). */
    error?: string;
    seconds: number;
    /** Config of the stack's last update; undefined before the first. */
    lastConfig?: ConfigMap;
}

/** "urn:pulumi:s::p::a:b:C$d:e:F::name" -> { type: "d:e:F", name } */
export function parseUrn(urn: string): { type: string; name: string } {
    const parts = urn.split("::");
    const types = (parts[2] ?? "").split("$");
    return { type: types[types.length - 1], name: parts.slice(3).join("::") };
}

export interface PreviewOptions {
    stack: string;
    /** The project directory (Pulumi.yaml). */
    workDir: string;
    /** Policy pack directory. Defaults to none. */
    policyPack?: string;
    /** Config for the pack's policies, by policy name. Defaults to none. */
    policyConfig?: Record<string, Record<string, unknown>>;
    /** Environment for the CLI. Defaults to this process's. */
    env?: Record<string, string>;
}

export async function realPreview(opts: PreviewOptions): Promise<PreviewResult> {
    const t = Date.now();
    const bin = pulumiBin();
    if (!bin) throw new Error("no pulumi CLI (npm run setup)");
    const pulumiCommand = await PulumiCommand.get({ root: path.dirname(path.dirname(bin)), skipVersionCheck: true });
    // In a copy: a preview writes nothing to the working tree.
    const workDir = copyProject(opts.workDir, [`Pulumi.${opts.stack}.yaml`], "switchyard-plan-");
    const stack = await LocalWorkspace.createOrSelectStack(
        { stackName: opts.stack, workDir },
        { pulumiCommand, envVars: opts.env, secretsProvider: "passphrase" },
    );
    const lastConfig = (await stack.history(1).catch(() => []))[0]?.config;
    const steps = new Map<string, PreviewStep>();
    const policies: PolicyFinding[] = [];
    const onEvent = (e: EngineEvent) => {
        const m = e.resourcePreEvent?.metadata;
        if (m) {
            const parentUrn = m.new?.parent || m.old?.parent;
            const parent = parentUrn && !parentUrn.includes("pulumi:pulumi:Stack") ? parseUrn(parentUrn) : undefined;
            const prev = steps.get(m.urn);
            // A replacement is reported as several steps; "replace" names it best.
            if (!prev || m.op === "replace" || prev.op === "same") {
                steps.set(m.urn, {
                    op: m.op,
                    urn: m.urn,
                    type: m.type,
                    name: parseUrn(m.urn).name,
                    parent,
                    // Protected in state: creating a protected resource touches nothing.
                    protect: Boolean(m.old?.protect),
                    diffs: m.diffs ?? [],
                });
            }
        }
        const p = e.policyEvent;
        if (p) {
            // The engine sends the policy's description, then the violation's own message.
            const lines = p.message.trim().split("\n");
            const message = (lines.length > 1 ? lines.slice(1) : lines).join(" ").trim();
            policies.push({ policy: p.policyName, level: p.enforcementLevel === "mandatory" ? "mandatory" : "advisory", message, urn: p.resourceUrn });
        }
    };
    let raw = "";
    let configFile: string | undefined;
    if (opts.policyPack && opts.policyConfig) {
        configFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-policy-")), "config.json");
        fs.writeFileSync(configFile, JSON.stringify(opts.policyConfig));
    }
    let error: string | undefined;
    try {
        await stack.preview({
            diff: true,
            color: "never",
            onEvent,
            onOutput: (s) => (raw += s),
            ...(opts.policyPack ? { policyPacks: [opts.policyPack] } : {}),
            ...(configFile ? { policyPackConfigs: [configFile] } : {}),
        });
    } catch (err) {
        const mandatory = policies.filter((p) => p.level === "mandatory").length;
        error = mandatory > 0 ? `${mandatory} mandatory policy violation(s), listed under Policy below.` : errorSummary(raw, (err as Error).message);
    }
    fs.rmSync(workDir, { recursive: true, force: true });
    return { steps: [...steps.values()], policies, policyPack: opts.policyPack, raw, error, seconds: (Date.now() - t) / 1000, lastConfig };
}

/** The lines of a failed preview that say why (its diagnostics), not the whole display. */
function errorSummary(raw: string, message: string): string {
    const lines = `${raw}\n${message}`.split("\n").map((l) => l.trim());
    const why = lines.filter((l) => /^error: |Refused|Invalid Switchyard config|mandatory/.test(l) && !/^error: preview failed$/.test(l));
    return [...new Set(why)].slice(0, 12).join("\n") || message.split("\n").slice(-10).join("\n");
}
