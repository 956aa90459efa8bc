// npm run recover on a file backend whose sidecar file a killed `pulumi up`
// left truncated: Pulumi's file store writes `<stack>.json.attrs` in place,
// so a SIGKILL at that moment makes every command fail with "failed to load
// checkpoint: EOF" (seen once in the e2e kill scenario). Real CLI, real backend.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { missingForPreview } from "../../lib/plugins";
import { baseConfig, E2EStack, freePort } from "../e2e/harness";

describe("npm run recover: a file backend left with a truncated sidecar", function () {
    this.timeout(180000);
    let s: E2EStack | undefined;
    after(async () => s && (await s.destroy()));

    it("names and removes the truncated .attrs; the checkpoint reads again and nothing else changes", async function () {
        const missing = missingForPreview();
        if (missing.length) {
            console.log(`      SKIPPED: plugins missing: ${missing.join(", ")}`);
            this.skip();
        }
        s = await E2EStack.create("r", baseConfig(await freePort(), await freePort()));
        const checkpoint = path.join(s.dir, ".state", ".pulumi", "stacks", "switchyard", `${s.name}.json`);
        const before = fs.readFileSync(checkpoint, "utf8");
        fs.writeFileSync(`${checkpoint}.attrs`, ""); // what a kill between create and write leaves
        const broken = s.cli(["stack", "export"]);
        assert.notStrictEqual(broken.status, 0);
        assert.match(broken.out, /failed to load checkpoint: EOF/, "the failure the e2e saw");

        const r = spawnSync("bash", ["scripts/ops/recover.sh", "--stack", s.name], { cwd: s.dir, env: s.env, encoding: "utf8" });
        assert.strictEqual(r.status, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`state: removed stacks/switchyard/${s.name}\\.json\\.attrs, cut short by the kill \\(the checkpoint it describes is intact\\)`));
        assert.strictEqual(s.cli(["stack", "export"]).status, 0, "the checkpoint reads again");
        assert.strictEqual(JSON.parse(fs.readFileSync(checkpoint, "utf8")).version, JSON.parse(before).version);

        const again = spawnSync("bash", ["scripts/ops/recover.sh", "--stack", s.name], { cwd: s.dir, env: s.env, encoding: "utf8" });
        assert.match(again.stdout, /state: every file of the file backend reads back/);
    });
});
