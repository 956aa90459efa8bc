// npm run plan from a real `pulumi preview` (Automation API) with the policy
// pack, against throwaway stacks on a local file backend and the local Docker
// engine: a no-op, a release, a replaced Postgres (a risk at the top, and the
// delete guard refuses it), a bad production stack (refused by the program), and
// the shipped staging and production stacks (every policy passes). Where the
// provider plugins are missing, the command falls back and says so; these
// tests then check exactly that.
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as YAML from "yaml";
import * as os from "os";
import * as path from "path";
import { missingForPreview, pulumiBin } from "../../lib/plugins";
import { baseConfig, E2EStack, freePort } from "../e2e/harness";
import { docker, REPO } from "./fixture";

function plan(s: E2EStack, ...extra: string[]): Promise<{ status: number; out: string; err: string }> {
    return planWith(s, {}, ...extra);
}

function planWith(s: E2EStack, env: Record<string, string>, ...extra: string[]): Promise<{ status: number; out: string; err: string }> {
    return new Promise((resolve) => {
        const child = spawn(process.execPath, ["-r", "ts-node/register", "ops/plan.ts", "--stack", s.name, "--work-dir", s.dir, ...extra], {
            cwd: REPO,
            env: { ...s.env, TS_NODE_TRANSPILE_ONLY: "true", ...env },
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("close", (code) => resolve({ status: code ?? -1, out, err }));
    });
}

function shipped(stack: string): Record<string, unknown> {
    const file = YAML.parse(fs.readFileSync(`${REPO}/Pulumi.${stack}.yaml`, "utf8"));
    return Object.fromEntries(Object.entries(file.config).map(([k, v]) => [k.replace(/^switchyard:/, ""), v]));
}

describe("npm run plan from a real preview, with the policy pack", function () {
    this.timeout(600000);
    const missing = missingForPreview();
    const stacks: E2EStack[] = [];
    after(async () => {
        for (const s of stacks) await s.destroy();
    });
    const make = async (suffix: string, config: Record<string, unknown>) => {
        const s = await E2EStack.create(suffix, config);
        stacks.push(s);
        return s;
    };

    it("without the provider plugins it says so in one line and prints the planner's story, marked", async () => {
        const f = await make("f", baseConfig(await freePort(), await freePort()));
        // A Pulumi home with no plugins: what a machine without them sees.
        const emptyHome = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-noplugins-"));
        const bin = pulumiBin();
        const r = await planWith(f, { PULUMI_HOME: emptyHome, PATH: `${bin ? path.dirname(bin) : ""}:${process.env.PATH}` });
        assert.strictEqual(r.status, 0, r.err);
        assert.match(r.out, /^> \*\*Preview unavailable here\*\* \(missing: docker \d+\.\d+\.\d+, command \d+\.\d+\.\d+, random \d+\.\d+\.\d+\): below is the program's own planner, not Pulumi's preview\./);
        assert.match(r.out, /## Switchyard plan: `.*`\n/);
        assert.match(r.out, /\*\*First release:\*\* blue goes live\./);
        assert.doesNotMatch(r.out, /from a real `pulumi preview`/);
    });

    const needsPlugins = function (this: Mocha.Context) {
        if (missing.length) {
            console.log(`      preview tests SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
    };
    let s: E2EStack;
    it("after an up: nothing changes, every policy passes, no config change", async function () {
        needsPlugins.call(this);
        s = await make("", baseConfig(await freePort(), await freePort()));
        await s.up("fresh (for plan)");
        const r = await plan(s);
        assert.strictEqual(r.status, 0, r.out + r.err);
        assert.match(r.out, /^## Switchyard plan: `.*` \(from a real `pulumi preview`, \d+ s\)/);
        assert.match(r.out, /### Policy `switchyard`\n\nEvery policy passes\./);
        assert.match(r.out, /### What Pulumi will do: 0 to create, 0 to update, 0 to replace, 0 to delete \(\d+ unchanged\)\n\nNothing changes\./);
        assert.match(r.out, /### Config changes since the last update\n\nNone\./);
        assert.doesNotMatch(r.out, /Risks/);
    });

    it("a one-step release: the story, the slot created, the release steps updated, the config diff", async function () {
        needsPlugins.call(this);
        s.writeConfig({ ...s.readConfig(), slots: { blue: { image: "switchyard/app:1.0.0" }, green: { image: "switchyard/app:1.1.0" } }, liveColor: "green" });
        const r = await plan(s, "--with-diff");
        assert.strictEqual(r.status, 0, r.out + r.err);
        assert.match(r.out, /\*\*Switch blue → green\.\*\* Steps, in order: gate and backup, side by side → re-point/);
        assert.match(r.out, /\| slot app-green \| `switchyard-release-app-green-1` docker:container\/?:?Container \| \+ create \|/);
        assert.match(r.out, /\| release steps \| `switchyard-release-repoint` command:Command \| ~ update \| environment \|/);
        assert.match(r.out, /\| `switchyard:liveColor` \| `blue` \| `green` \|/);
        assert.match(r.out, /<details><summary>pulumi preview --diff<\/summary>[\s\S]*SWITCHYARD_COLOR[\s\S]*<\/details>/);
        assert.doesNotMatch(r.out, /Risks/, "a release replaces nothing shared");
    });

    it("a replaced Postgres is a risk at the top, and the preview is refused", async function () {
        needsPlugins.call(this);
        docker("tag", "switchyard/postgres:local", "switchyard/postgres:plan-other");
        s.writeConfig({ ...s.readConfig(), postgres: { image: "switchyard/postgres:plan-other" } });
        try {
            const r = await plan(s);
            assert.strictEqual(r.status, 2, r.out + r.err);
            const risks = r.out.indexOf("### ⚠ Risks");
            assert.ok(risks > 0 && risks < r.out.indexOf("### What Pulumi will do"), "risks come before the operations");
            assert.match(r.out, /- \*\*the shared Postgres is replaced\*\*: `switchyard-postgres-container` \(docker:index\/container:Container\)/);
            assert.match(r.out, /### ⛔ The preview was refused[\s\S]*Postgres/);
        } finally {
            // The extra tag would show in every later test that reads Postgres's image.
            s.writeConfig({ ...s.readConfig(), postgres: { image: "switchyard/postgres:local" } });
            docker("rmi", "switchyard/postgres:plan-other");
        }
    });

    it("a bad production stack is refused by the program itself, without the policy pack, naming each value and fix; plan says the same", async function () {
        needsPlugins.call(this);
        // Previews bind no port: the shipped ports are fine on this machine.
        const bad = { ...shipped("production"), drainSeconds: 2, verifyRequests: 1, replicas: 1 };
        delete (bad as Record<string, unknown>).appUser;
        const p = await make("bad", bad);
        const lines = [
            /switchyard:appUser = \(not set\): lets the image decide, possibly root: production app containers run as a non-root user/,
            /switchyard:drainSeconds = 2: production needs 5-300 s/,
            /switchyard:verifyRequests = 1: production needs at least 3 answers/,
        ];
        // A plain `pulumi preview`, no --policy-pack: what a pipeline that forgot the flag runs.
        const preview = p.cli(["preview", "--non-interactive", "--color", "never"]);
        assert.notStrictEqual(preview.status, 0, preview.out);
        for (const line of lines) assert.match(preview.out, line);
        assert.match(preview.out, /nothing was created or changed/);
        const r = await plan(p);
        assert.notStrictEqual(r.status, 0, r.out + r.err);
        for (const line of lines) assert.match(r.out + r.err, line);
    });

    for (const stack of ["staging", "production"]) {
        it(`the shipped ${stack} stack passes every policy in a real preview`, async function () {
            needsPlugins.call(this);
            const p = await make(stack.slice(0, 1), shipped(stack));
            const r = await plan(p);
            assert.strictEqual(r.status, 0, r.out + r.err);
            assert.match(r.out, /Every policy passes\./);
            assert.match(r.out, /\*\*First release:\*\* blue goes live\./);
        });
    }
});
