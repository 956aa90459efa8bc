// The wording of npm run plan's preview report (ops/preview-report.ts),
// on preview steps as the engine reports them.
import * as assert from "assert";
import { PreviewResult, PreviewStep, parseUrn } from "../../ops/preview";
import { componentOf, configDiff, previewRisks, renderPreviewPlan, resourceTable } from "../../ops/preview-report";

const urn = (types: string, name: string) => `urn:pulumi:staging::switchyard::${types}::${name}`;
function step(op: PreviewStep["op"], types: string, name: string, parent?: [string, string], extra: Partial<PreviewStep> = {}): PreviewStep {
    const type = types.split("$").pop()!;
    return { op, urn: urn(types, name), type, name, parent: parent && { type: parent[0], name: parent[1] }, protect: false, diffs: [], ...extra };
}

const slotContainer = step("create", "switchyard:app:Slot$docker:index/container:Container", "switchyard-release-app-green-1", ["switchyard:app:Slot", "switchyard-release-app-green"]);
const repoint = step("update", "switchyard:release:Release$command:local:Command", "switchyard-release-repoint", ["switchyard:release:Release", "switchyard-release"], { diffs: ["environment"] });
const pg = step("replace", "switchyard:data:Postgres$docker:index/container:Container", "switchyard-postgres-container", ["switchyard:data:Postgres", "switchyard-postgres"], { diffs: ["image"] });
const volume = step("delete", "switchyard:data:Redis$docker:index/volume:Volume", "switchyard-redis-data", ["switchyard:data:Redis", "switchyard-redis"], { protect: true });
const protectedPw = step("update", "switchyard:data:Postgres$random:index/randomPassword:RandomPassword", "switchyard-postgres-password", ["switchyard:data:Postgres", "switchyard-postgres"], { protect: true, diffs: ["length"] });
const same = step("same", "switchyard:proxy:Nginx$docker:index/container:Container", "switchyard-proxy-container", ["switchyard:proxy:Nginx", "switchyard-proxy"]);

describe("plan's preview report", () => {
    it("reads names and types from URNs, and groups resources by component", () => {
        assert.deepStrictEqual(parseUrn(urn("switchyard:app:Slot$docker:index/container:Container", "app-blue-1")), { type: "docker:index/container:Container", name: "app-blue-1" });
        assert.deepStrictEqual([slotContainer, repoint, pg, same].map(componentOf), ["slot app-green", "release steps", "data", "proxy"]);
    });

    it("risks: a replaced data service, a deleted volume, a protected resource touched; a release is no risk", () => {
        assert.deepStrictEqual(previewRisks([slotContainer, repoint, same]), []);
        assert.deepStrictEqual(previewRisks([pg, volume, protectedPw]), [
            "**the shared Postgres is replaced**: `switchyard-postgres-container` (docker:index/container:Container), because of `image`.",
            "**a volume is deleted**: `switchyard-redis-data` (docker:index/volume:Volume).",
            "**a protected resource is touched**: `switchyard-postgres-password` (random:index/randomPassword:RandomPassword) would be updated (length).",
        ]);
    });

    it("the operations table: counts, one row per changed resource, grouped", () => {
        const t = resourceTable([slotContainer, repoint, pg, same]).join("\n");
        assert.match(t, /^### What Pulumi will do: 1 to create, 1 to update, 1 to replace, 0 to delete \(1 unchanged\)/);
        assert.match(t, /\| data \| `switchyard-postgres-container` docker:container\/?:?Container \| \+- replace \| image \|\n\| release steps \| `switchyard-release-repoint` command:Command \| ~ update \| environment \|\n\| slot app-green \| `switchyard-release-app-green-1`/);
        assert.match(resourceTable([same]).join("\n"), /Nothing changes\./);
    });

    it("the config diff: changed keys only, objects by content, secrets as [secret]", () => {
        const last = {
            "switchyard:liveColor": { value: "blue", secret: false },
            "switchyard:health": { value: '{"path":"/health","timeoutSeconds":60}', secret: false },
            "switchyard:postgresPassword": { value: "v1:abc", secret: true },
        };
        const now = {
            "switchyard:liveColor": { value: "green", secret: false },
            "switchyard:health": { value: '{"timeoutSeconds":60,"path":"/health"}', secret: false },
            "switchyard:postgresPassword": { value: "[secret]", secret: true },
            "switchyard:notify": { value: "[secret]", secret: true },
        };
        assert.deepStrictEqual(configDiff(last, now), [
            "### Config changes since the last update",
            "",
            "| key | last update | this change |",
            "|---|---|---|",
            "| `switchyard:liveColor` | `blue` | `green` |",
            "| `switchyard:notify` | (unset) | [secret] |",
            "",
        ]);
        assert.match(configDiff(undefined, now).join("\n"), /No update of this stack yet/);
    });

    it("the whole report: refusal, then risks, then policy, story, operations, config, raw diff", () => {
        const preview: PreviewResult = {
            steps: [pg, repoint],
            policies: [
                { policy: "replicas-production", level: "advisory", message: "replicas is 1; …" },
                { policy: "app-non-root", level: "mandatory", message: "app-blue-1: user is unset" },
            ],
            policyPack: "/repo/policy",
            raw: "Previewing update (staging):\n  ~ switch-repoint",
            error: "error: Refused: this preview would delete switchyard-staging-postgres",
            seconds: 9.4,
        };
        const out = renderPreviewPlan({ stack: "staging", preview, plannerRisks: ["**postgres is replaced**: a → b."], story: ["**No switch:** blue stays live."], config: {}, withDiff: true });
        const order = ["(from a real `pulumi preview`, 9 s)", "### ⛔ The preview was refused", "### ⚠ Risks", "the shared Postgres is replaced", "**postgres is replaced**", "### Policy `switchyard`", "❌ **mandatory** `app-non-root`", "⚠️ advisory `replicas-production`", "**No switch:**", "### What Pulumi will do", "### Config changes since the last update", "<details><summary>pulumi preview --diff</summary>"];
        const at = order.map((x) => out.indexOf(x));
        assert.ok(at.every((i) => i >= 0), `all present:\n${out}`);
        assert.deepStrictEqual([...at].sort((a, b) => a - b), at, `in this order:\n${out}`);
    });
});
