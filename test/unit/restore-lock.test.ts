// One restore at a time and none under an update (ops/restorelock.ts): the
// parts that need no Docker engine. test/scripts/data-steps.test.ts runs the
// same against real proxies, steps and npm run restore.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LIST_MARKERS_SCRIPT, parseMarkers, RESTORE_LOCK } from "../../lib/routemarker";
import { LockedProxy, runningUpdate, takeRestoreLocks } from "../../ops/restorelock";
import { render } from "../../ops/status";
import { EMPTY_HOST, runProgram } from "./mocks";

/** A proxy whose state is a map: the lock is created only when absent, as the in-proxy shell does. */
function fakeProxy(on: string, files: Map<string, string>): LockedProxy {
    return {
        on,
        exec: (...cmd: string[]) => {
            if (cmd[0] === "sh") {
                const file = `${cmd[4]}/${cmd[5]}`;
                if (files.has(file)) return { status: 1, stdout: "" };
                files.set(file, cmd[6]);
                return { status: 0, stdout: "" };
            }
            if (cmd[0] === "cat") return { status: files.has(cmd[1]) ? 0 : 1, stdout: files.get(cmd[1]) ?? "" };
            if (cmd[0] === "rm") files.delete(cmd[2]);
            return { status: 0, stdout: "" };
        },
    };
}

describe("the restore lock", function () {
    this.timeout(30000);

    it("the marker listing reads who restores, and nothing when no restore runs", () => {
        assert.ok(LIST_MARKERS_SCRIPT.includes(RESTORE_LOCK));
        assert.strictEqual(parseMarkers(`maintenance=\n${RESTORE_LOCK}=npm run restore by ops@h (pid 1) since T`).restoring, "npm run restore by ops@h (pid 1) since T");
        assert.strictEqual(parseMarkers("maintenance=").restoring, undefined);
    });

    it("is taken on every host or on none: a lock already on the second host is named, and the first host's is let go", () => {
        const one = new Map<string, string>();
        const two = new Map<string, string>([["/etc/switchyard/state/restore-running", "npm run restore by a@b (pid 9) since T"]]);
        assert.throws(() => takeRestoreLocks([fakeProxy("", one), fakeProxy(" on host m2", two)], "prod", "me"), /another restore of stack prod is running on host m2 \(npm run restore by a@b \(pid 9\) since T\); nothing was changed\. .*--unlock/);
        assert.strictEqual(one.size, 0, "the lock taken on the first host is let go");
        assert.strictEqual(two.get("/etc/switchyard/state/restore-running"), "npm run restore by a@b (pid 9) since T", "the other restore's lock stays");
        const free = new Map<string, string>();
        assert.strictEqual(takeRestoreLocks([fakeProxy("", free)], "prod", "me").length, 1);
        assert.strictEqual(free.get("/etc/switchyard/state/restore-running"), "me");
    });

    it("sees a running update in a local file backend's lock, and cannot see one elsewhere", () => {
        const backend = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-backend-"));
        try {
            assert.strictEqual(runningUpdate(`file://${backend}`, "switchyard", "prod"), undefined);
            const dir = path.join(backend, ".pulumi", "locks", "organization", "switchyard", "prod");
            fs.mkdirSync(dir, { recursive: true });
            fs.writeFileSync(path.join(dir, "x.json"), JSON.stringify({ pid: 12, hostname: "ci-1", timestamp: "2026-12-03T10:00:00Z" }));
            assert.strictEqual(runningUpdate(`file://${backend}?no_tmp_dir=true`, "switchyard", "prod"), "pid 12 on ci-1 since 2026-12-03T10:00:00Z");
            assert.strictEqual(runningUpdate(`file://${backend}`, "switchyard", "staging"), undefined, "another stack's lock is not this one's");
            assert.strictEqual(runningUpdate("https://api.pulumi.com", "switchyard", "prod"), undefined);
        } finally {
            fs.rmSync(backend, { recursive: true, force: true });
        }
    });

    it("npm run status says a restore runs, who runs it, and how to clear a dead one", () => {
        const { text } = render("prod", [], "blue", {}, undefined, { restoring: "npm run restore by ops@h (pid 1) since T" });
        assert.match(text, /RESTORE RUNNING: npm run restore by ops@h \(pid 1\) since T; updates are refused until it ends \(after a restore that died: npm run restore -- --stack prod --unlock\)/);
        assert.doesNotMatch(render("prod", [], "blue", {}, undefined).text, /RESTORE/);
    });

    it("an up while a restore runs is refused, naming it, before anything is declared", async () => {
        const base = { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } }, replicas: 2 };
        const err = await runProgram({ config: base, host: { ...EMPTY_HOST, route: "blue", restoring: "npm run restore by ops@h (pid 1) since T" } }).then(
            () => assert.fail("an up ran under a restore"),
            (e) => e,
        );
        assert.match(String(err.message), /switchyard: a restore of stack switchyard\/staging is running: npm run restore by ops@h \(pid 1\) since T\. Wait until npm run restore has finished, then run pulumi up again\. Nothing was created or changed\./);
        assert.deepStrictEqual((err.registered ?? []).filter((n: string) => n !== "switchyard"), [], "nothing declared");
    });
});
