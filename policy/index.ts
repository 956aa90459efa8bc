// The Switchyard policy pack: `pulumi preview --policy-pack policy` (npm run
// plan and both workflows run it). The rules and their messages live in
// checks.ts; this hands each to @pulumi/policy as a stack validation, because
// the environment a rule applies to comes from the stack output `settings`.
import { PolicyPack, StackValidationArgs } from "@pulumi/policy";
import { POLICIES, PolicyConfig, ResourceView, settingsOf } from "./checks";

function view(args: StackValidationArgs): ResourceView[] {
    return args.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, props: r.props ?? {}, protect: r.opts?.protect ?? false }));
}

new PolicyPack("switchyard", {
    policies: POLICIES.map((rule) => ({
        name: rule.name,
        description: `${rule.description} (${rule.scope})`,
        enforcementLevel: rule.level,
        configSchema: rule.name === "health-timeout-vs-start" ? { properties: { measuredStartSeconds: { type: "number" } } } : undefined,
        validateStack: (args: StackValidationArgs, report: (message: string, urn?: string) => void) => {
            const resources = view(args);
            const settings = settingsOf(resources);
            if (!settings) {
                // Nothing to judge by: the program did not export its settings (an older version of it).
                return;
            }
            if (rule.scope === "production" && settings.environment !== "production") return;
            for (const v of rule.check(resources, settings, args.getConfig<PolicyConfig>())) report(v.message, v.urn);
        },
    })),
});
