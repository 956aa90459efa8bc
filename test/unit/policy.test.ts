// The policy pack's rules (policy/checks.ts), on the resources the program
// declares under mocks and on hand-made resources for what the program never
// declares. A real preview with the pack runs in test/scripts/plan-preview.test.ts.
import * as assert from "assert";
import { evaluate, isPinned, ResourceView, runsAsRoot } from "../../policy/checks";
import { readStackFile, stackFilePath } from "../../lib/stackfile";
import { runProgram, RunResult } from "./mocks";

function stackFile(stack: string): Record<string, unknown> {
    const { raw } = readStackFile(stackFilePath(stack));
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.replace(/^switchyard:/, ""), v]));
}

/** What the policy pack would see of a run: every resource, and the stack with its outputs. */
function viewOf(run: RunResult): ResourceView[] {
    const rs: ResourceView[] = [...run.resources.values()].map((r) => ({ type: r.type, name: r.name, urn: `urn:pulumi:s::switchyard::${r.type}::${r.name}`, props: r.inputs, protect: r.protect }));
    rs.push({ type: "pulumi:pulumi:Stack", name: "switchyard-s", urn: "urn:pulumi:s::switchyard::pulumi:pulumi:Stack::switchyard-s", props: run.outputs, protect: false });
    return rs;
}

const messages = (rs: ResourceView[], config = {}) => evaluate(rs, config).map((v) => `${v.rule.level} ${v.rule.name}: ${v.violation.message}`);

describe("policy pack rules", function () {
    this.timeout(30000);

    it("the shipped staging and production stacks pass every policy", async () => {
        for (const stack of ["staging", "production"]) {
            const run = await runProgram({ config: stackFile(stack), stack });
            assert.strictEqual(run.outputs.settings && (run.outputs.settings as any).environment, stack);
            assert.deepStrictEqual(messages(viewOf(run)), [], stack);
        }
    });

    it("a production stack with a short drain, one verify request, one replica and no app user is refused, naming values and fixes", async () => {
        // The program refuses that config itself (lib/production.ts); the pack
        // judges what reaches it, so the view is edited as a state made
        // elsewhere (an older program, an import) would show it.
        const rs = viewOf(await runProgram({ config: { ...stackFile("production"), replicas: 1 }, stack: "production" }));
        for (const r of rs.filter((x) => x.name === "release-app-blue-1")) r.props = { ...r.props, user: undefined };
        const stack = rs.find((r) => r.type === "pulumi:pulumi:Stack")!;
        stack.props = { ...stack.props, settings: { ...stack.props.settings, drainSeconds: 2, verifyRequests: 1 } };
        const got = messages(rs);
        assert.deepStrictEqual(got, [
            'mandatory app-non-root: release-app-blue-1 (switchyard-production-app-blue-1): user is unset (the image decides, possibly root); set appUser to a non-root uid:gid, such as 10001:10001',
            "mandatory release-safety-bounds: drainSeconds is 2; production needs 5-300 s so requests in flight to the old colour finish (pulumi config set drainSeconds 30)",
            "mandatory release-safety-bounds: verifyRequests is 1; production needs at least 3 answers from the new colour before the switch counts (pulumi config set verifyRequests 10)",
            "advisory replicas-production: replicas is 1; with one replica a crash of it is an outage; production should run at least 2 (pulumi config set replicas 3)",
        ]);
    });

    it("the same settings outside production break no production rule", async () => {
        const run = await runProgram({ config: { ...stackFile("staging"), drainSeconds: 2, verifyRequests: 1, replicas: 1 }, stack: "staging" });
        assert.deepStrictEqual(messages(viewOf(run)), []);
    });

    it("each rule catches what the program never declares (so none can pass by construction)", async () => {
        const run = await runProgram({ config: stackFile("production"), stack: "production" });
        const rs = viewOf(run);
        const at = (name: string) => rs.find((r) => r.name === name)!;
        at("release-app-blue-image").props = { ...at("release-app-blue-image").props, name: "ghcr.io/acme/app:latest" };
        at("postgres-data").protect = false;
        at("redis-container").props = { ...at("redis-container").props, ports: [{ internal: 6379, external: 6379, ip: "0.0.0.0" }] };
        at("proxy-container").props = { ...at("proxy-container").props, memory: 0 };
        // Host networking: the listeners are the config's `listen` lines.
        const config = at("proxy-config");
        config.props = { ...config.props, stdin: String(config.props.stdin).replace("listen 0.0.0.0:80;", "listen 127.0.0.1:80;").replace("listen 127.0.0.1:8081;", "listen 0.0.0.0:80;") };
        // A proxy with ports Docker publishes (a stack made by 0.2) is judged by those.
        rs.push({ ...at("proxy-container"), name: "bridge-proxy", urn: "urn:bridge-proxy", props: { ...at("proxy-container").props, name: "bridge", networkMode: undefined, ports: [{ internal: 8080, external: 80, ip: "0.0.0.0" }, { internal: 8081, external: 8082, ip: "127.0.0.1" }] } });
        at("release-verify").props = { ...at("release-verify").props, delete: "bash scripts/release/undo.sh" };
        at("release-retire").props = { ...at("release-retire").props, triggers: ["x"] };
        const got = messages(rs, { measuredStartSeconds: 200 });
        for (const expected of [
            'mandatory images-pinned: release-app-blue-image: image "ghcr.io/acme/app:latest" is not pinned',
            "mandatory data-protected: postgres-data (switchyard-production-pgdata): protect is false",
            "mandatory data-not-published: redis-container (switchyard-production-redis) publishes 0.0.0.0:6379->6379",
            "mandatory memory-limits: proxy-container (switchyard-production-proxy): memory is 0",
            "mandatory proxy-listeners: proxy-container: listens on ports [80,80]; it must listen on proxy.livePort 80 and proxy.previewPort 8081",
            "mandatory proxy-listeners: proxy-container: port 80 binds 127.0.0.1, but proxy.bindAddress is 0.0.0.0",
            "mandatory proxy-listeners: bridge-proxy: listens on ports [80,8082]; it must listen on proxy.livePort 80 and proxy.previewPort 8081",
            'mandatory release-steps-never-undo: release-verify: has delete "bash scripts/release/undo.sh"',
            "mandatory release-steps-never-undo: release-retire: has triggers",
            "advisory health-timeout-vs-start: health.timeoutSeconds is 120, but the live colour took 200.0 s from start to its first healthy answer",
        ]) {
            assert.ok(got.some((g) => g.startsWith(expected)), `expected "${expected}" in:\n${got.join("\n")}`);
        }
    });

    it("production: a public preview listener is refused unless publicPreview says so; raw nginx is flagged", async () => {
        // Before the fix the production stack published 8081 on 0.0.0.0 with the live listener.
        const run = await runProgram({ config: { ...stackFile("production"), proxy: { ...JSON.parse(String(stackFile("production").proxy)), extraHttpConfig: "add_header X-A b;" } }, stack: "production" });
        const rs = viewOf(run);
        const config = rs.find((r) => r.name === "proxy-config")!;
        const listens = () => [...String(config.props.stdin).matchAll(/^\s*listen ([\d.]+:\d+);/gm)].map((m) => m[1]);
        assert.deepStrictEqual(listens(), ["0.0.0.0:80", "127.0.0.1:8081"], "the shipped production preview stays on loopback");
        assert.deepStrictEqual(messages(rs), [
            "advisory extra-http-config-reviewed: proxy.extraHttpConfig is set: raw nginx directives are trusted input, as powerful as editing nginx.conf (a listener, a location serving the proxy's files); review every change to it like code",
        ]);
        config.props = { ...config.props, stdin: String(config.props.stdin).replace("listen 127.0.0.1:8081;", "listen 0.0.0.0:8081;") };
        const stackRes = rs.find((r) => r.type === "pulumi:pulumi:Stack")!;
        stackRes.props = { ...stackRes.props, settings: { ...(stackRes.props.settings as any), proxy: { ...(stackRes.props.settings as any).proxy, previewBindAddress: "0.0.0.0" } } };
        assert.ok(
            messages(rs).some((m) => m.startsWith("mandatory preview-listener-private: proxy-container: the preview listener (port 8081) binds 0.0.0.0, reachable beyond this host")),
            messages(rs).join("\n"),
        );
        stackRes.props = { ...stackRes.props, settings: { ...(stackRes.props.settings as any), proxy: { ...(stackRes.props.settings as any).proxy, previewBindAddress: "0.0.0.0", publicPreview: true } } };
        assert.ok(!messages(rs).some((m) => m.includes("preview-listener-private")), "an explicit publicPreview passes");
    });

    it("pinned and root, as the rules read them", () => {
        assert.ok(isPinned("app:1.2.3") && isPinned("reg:5000/a/b@sha256:" + "a".repeat(64)));
        assert.ok(!isPinned("app") && !isPinned("app:latest") && !isPinned("reg:5000/app"));
        assert.ok(runsAsRoot(undefined) && runsAsRoot("0") && runsAsRoot("root:root") && runsAsRoot("0:10001"));
        assert.ok(!runsAsRoot("10001:10001") && !runsAsRoot("app"));
    });
});
