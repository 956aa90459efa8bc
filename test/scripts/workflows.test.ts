// The GitHub workflows pass a real linter (actionlint, built by npm run setup).
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
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
