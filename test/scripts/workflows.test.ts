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
        assert.ok(checked.includes("preview.yml:plan"), `the plan job was checked (checked: ${checked.join(", ") || "none"})`);
    });

    it("a pull request's code never runs with a credential: the job with secrets checks out the base branch and takes only Pulumi.<stack>.yaml from the pull request; the job that runs the pull request's code has none", () => {
        const { doc } = workflows.find((w) => w.file === "preview.yml")!;
        const withSecrets = Object.entries<any>(doc.jobs).filter(([, job]) => /\$\{\{\s*secrets\./.test(JSON.stringify(job)));
        assert.deepStrictEqual(withSecrets.map(([n]) => n), ["plan"]);
        const plan = doc.jobs.plan;
        const checkouts = plan.steps.filter((st: any) => String(st.uses ?? "").startsWith("actions/checkout@"));
        assert.strictEqual(checkouts.length, 1);
        assert.strictEqual(checkouts[0].with?.ref, "${{ github.event.pull_request.base.sha }}", "the plan runs the base branch's code");
        assert.strictEqual(checkouts[0].with?.["persist-credentials"], false);
        const runs = plan.steps.map((st: any) => String(st.run ?? "")).join("\n");
        assert.match(runs, /git checkout FETCH_HEAD -- "Pulumi\.\$STACK\.yaml"/);
        // Nothing else of the pull request: no other path checked out, no switch to its head.
        assert.deepStrictEqual(runs.match(/git checkout [^\n]*/g), ['git checkout FETCH_HEAD -- "Pulumi.$STACK.yaml"']);
        assert.strictEqual(doc.jobs.plan.needs, "checks");
        const checks = doc.jobs.checks;
        assert.ok(!/secrets\./.test(JSON.stringify(checks)), "the checks job has no secret");
        assert.match(checks.steps.map((st: any) => String(st.run ?? "")).join("\n"), /npm run test:unit/);
        assert.ok(!/\bbase\.sha\b/.test(JSON.stringify(checks)), "the checks job runs the pull request's own code");
    });

    it("each environment's secrets have names of their own: deploy's carry _STAGING or _PRODUCTION, previews' PREVIEW_", () => {
        const names = (job: any) => [...JSON.stringify(job).matchAll(/secrets\.([A-Z0-9_]+)/g)].map((m) => m[1]);
        const deploy = workflows.find((w) => w.file === "deploy.yml")!.doc.jobs;
        for (const [job, suffix] of [["staging", "_STAGING"], ["production", "_PRODUCTION"]]) {
            const used = names(deploy[job]);
            assert.ok(used.length >= 5, `${job}: ${used.join(", ")}`);
            for (const n of used) assert.ok(n.endsWith(suffix), `deploy ${job} reads ${n}, not a ${suffix} name`);
        }
        for (const n of names(workflows.find((w) => w.file === "preview.yml")!.doc.jobs.plan)) assert.match(n, /^PREVIEW_/);
    });

    it("every action is pinned by a full commit SHA, with the release it was resolved from beside it", () => {
        let count = 0;
        for (const { file } of workflows) {
            const text = fs.readFileSync(path.join(REPO, ".github", "workflows", file), "utf8");
            for (const line of text.split("\n").filter((l) => /^\s*-?\s*uses:/.test(l))) {
                assert.match(line, /uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, `${file}: ${line.trim()}`);
                count++;
            }
        }
        assert.ok(count >= 10, `${count} uses lines checked`);
    });
});
