// The GitHub workflows pass a real linter (actionlint, built by npm run setup).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { REPO } from "./fixture";

function actionlint(): string {
    const home = process.env.SWITCHYARD_HOME ?? path.join(os.homedir(), ".switchyard");
    const bin = path.join(home, "bin", "actionlint");
    if (!fs.existsSync(bin)) throw new Error(`no actionlint at ${bin}: run npm run setup`);
    return bin;
}

describe("GitHub workflows (actionlint)", () => {
    it("every workflow in .github/workflows passes actionlint", () => {
        const files = fs.readdirSync(path.join(REPO, ".github", "workflows")).map((f) => path.join(".github", "workflows", f));
        assert.ok(files.length >= 2, "a preview and a deploy workflow");
        const r = spawnSync(actionlint(), ["-no-color", ...files], { cwd: REPO, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
    });

    it("actionlint does catch a broken workflow (so the check above can fail)", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-wf-"));
        const broken = path.join(dir, "broken.yml");
        fs.writeFileSync(broken, "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n");
        const r = spawnSync(actionlint(), ["-no-color", broken], { encoding: "utf8" });
        assert.strictEqual(r.status, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /property "nope" is not defined/);
    });
});

describe("GitHub workflows: credentials", () => {
    const workflows = fs
        .readdirSync(path.join(REPO, ".github", "workflows"))
        .map((f) => ({ file: f, doc: YAML.parse(fs.readFileSync(path.join(REPO, ".github", "workflows", f), "utf8")) as any }));
    const onPullRequest = (doc: any) => Boolean(doc.on && (doc.on.pull_request || doc.on.pull_request_target || (Array.isArray(doc.on) && doc.on.includes("pull_request"))));
    const environments = (job: any): string[] => {
        const env = typeof job.environment === "object" ? job.environment?.name : job.environment;
        if (typeof env !== "string") return [];
        const m = /^\$\{\{\s*matrix\.(\w+)\s*\}\}$/.exec(env);
        return m ? (job.strategy?.matrix?.include ?? []).map((i: any) => String(i[m[1]])) : [env];
    };

    it("a pull-request job reads secrets only through an environment, and production's needs approval", () => {
        const checked: string[] = [];
        for (const { file, doc } of workflows.filter((w) => onPullRequest(w.doc))) {
            for (const [name, job] of Object.entries<any>(doc.jobs ?? {})) {
                const usesSecrets = /\$\{\{\s*secrets\./.test(JSON.stringify(job));
                if (!usesSecrets) continue;
                const envs = environments(job);
                assert.ok(envs.length > 0, `${file} job ${name} runs a pull request's code with repository secrets; give it an environment`);
                for (const stack of (job.strategy?.matrix?.include ?? []).map((i: any) => i.stack).filter(Boolean)) {
                    const include = job.strategy.matrix.include.find((i: any) => i.stack === stack);
                    if (stack === "production") assert.strictEqual(include.environment, "production-preview", `${file}: production previews run in the protected production-preview environment`);
                }
                assert.ok(!/DOCKER_HOST_PRODUCTION|secrets\[/.test(JSON.stringify(job)), `${file} job ${name}: no repository-level production secret, no secret picked by a matrix value`);
                checked.push(`${file}:${name}`);
            }
        }
        assert.ok(checked.includes("preview.yml:preview"), `the preview job was checked (checked: ${checked.join(", ") || "none"})`);
    });
});
