// The npm commands act on the stack they name (issue 16, finding 5): a
// destroy of production never falls through to the local stack, and a
// --stack among the Pulumi arguments that differs from the command's own
// stack is refused before Pulumi runs. Real scripts, real Pulumi CLI where
// one is installed; the stacks named here do not exist, so nothing is touched.
import * as assert from "assert";
import { spawnSync } from "child_process";
import { REPO } from "./fixture";

function run(cmd: string, args: string[]): { status: number; out: string } {
    const r = spawnSync(cmd, args, { cwd: REPO, encoding: "utf8", timeout: 120000 });
    return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("stack commands act on the stack named", function () {
    this.timeout(120000);

    it("npm run destroy -- --stack NAME acts on NAME, not on local", () => {
        const r = run("npm", ["run", "--silent", "destroy", "--", "--stack", "no-such-stack-1"]);
        assert.notStrictEqual(r.status, 0);
        assert.match(r.out, /destroy: removing stack 'no-such-stack-1'/);
        assert.match(r.out, /no Pulumi\.no-such-stack-1\.yaml/);
        assert.doesNotMatch(r.out, /Pulumi\.local\.yaml|stack local/);
    });

    it("destroy refuses an argument it does not know", () => {
        const r = run("npm", ["run", "--silent", "destroy", "--", "--yes-really"]);
        assert.strictEqual(r.status, 2);
        assert.match(r.out, /destroy: unknown argument '--yes-really' \(allowed: --stack NAME\)/);
    });

    it("a second, different --stack is refused before Pulumi runs; the same one is fine", () => {
        for (const args of [["--stack", "production"], ["--stack=production"], ["-s", "production"]]) {
            const r = run("bash", ["ops/stack.sh", "local", "destroy", "--yes", ...args]);
            assert.strictEqual(r.status, 2, r.out);
            assert.match(r.out, /refused: this command acts on stack 'local', but the arguments also name stack 'production'; nothing was run/);
        }
        const same = run("bash", ["ops/stack.sh", "no-such-stack-2", "preview", "--stack", "no-such-stack-2"]);
        assert.match(same.out, /no Pulumi\.no-such-stack-2\.yaml/, "the same name passes the check");
    });
});
