// A rollback is not a release (engine/history-rules.ts), without Docker. The
// steps act on these against a real engine in test/scripts/data-steps.test.ts
// and test/scripts/release-steps.test.ts.
import * as assert from "assert";
import { backupSkip, expandSkip, historyLines, isWarm, migratedLine, releaseOf, withLine } from "../../engine/history-rules";
import { migrationFingerprint } from "../../lib/fingerprint";

const V1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const V2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

describe("what the database has seen (engine/history-rules.ts)", () => {
    it("a record keeps each line once, newest last, and only the newest ones", () => {
        assert.deepStrictEqual(historyLines(withLine(withLine(withLine("", "a"), "b"), "a")), ["b", "a"]);
        const long = Array.from({ length: 60 }, (_, i) => `l${i}`).reduce((c, l) => withLine(c, l), "");
        assert.deepStrictEqual(historyLines(long).slice(0, 2), ["l10", "l11"]);
        assert.strictEqual(historyLines(long).length, 50);
        assert.deepStrictEqual(historyLines(" \nx\n\n"), ["x"]);
    });

    it("no dump for an image that went live here before when no migration runs", () => {
        const why = backupSkip({ target: releaseOf(V1, "app:1", ""), wentLive: [`${V1} app:1`, `${V2} app:2`], migrated: [] });
        assert.match(why ?? "", /^no dump: app:1 \(sha256:111111111111\) went live on this database before and no migration runs/);
    });

    it("a release is the image id, the reference and the plain variables: another tag or other variables are another release", () => {
        const plain = releaseOf(V1, "app:1", "");
        const retagged = releaseOf(V1, "app:1.1", "");
        const flagged = releaseOf(V1, "app:1", "FEATURE=on\nLOG=debug");
        assert.strictEqual(plain.release, `${V1} app:1`);
        assert.match(flagged.release, /^sha256:1{64} app:1 env-[0-9a-f]{16}$/);
        assert.ok(!flagged.release.includes("FEATURE") && !flagged.release.includes("debug"), "no value in the record");
        assert.strictEqual(releaseOf(V1, "app:1", "FEATURE=on\nLOG=debug").release, flagged.release, "stable");
        assert.strictEqual(backupSkip({ target: retagged, wentLive: [plain.release], migrated: [] }), undefined, "1.1 of the same build is released as 1.1");
        assert.strictEqual(backupSkip({ target: flagged, wentLive: [plain.release], migrated: [] }), undefined, "the same image with a fault flag is not the one that went live");
        assert.match(backupSkip({ target: flagged, wentLive: [flagged.release], migrated: [] }) ?? "", /^no dump: app:1 \(sha256:111111111111\) with these variables went live/);
        assert.deepStrictEqual(releaseOf("", "app:1", "A=1"), { imageId: "", release: "" });
        assert.deepStrictEqual(releaseOf(V1, "", ""), { imageId: "", release: "" }, "no reference read");
    });

    it("a dump for a new image, an unknown image, or one whose migration would run", () => {
        assert.strictEqual(backupSkip({ target: releaseOf(V2, "app:2", ""), wentLive: [`${V1} app:1`], migrated: [] }), undefined, "a new image is a release");
        assert.strictEqual(backupSkip({ target: releaseOf("", "app:1", ""), wentLive: [`${V1} app:1`], migrated: [] }), undefined, "no image known");
        assert.strictEqual(backupSkip({ target: releaseOf(V1, "app:1", ""), wentLive: [`${V1} app:1`], migrated: [], fingerprint: "f1" }), undefined, "its expand never finished here");
        assert.strictEqual(backupSkip({ target: releaseOf(V1, "app:1", ""), wentLive: [`${V1} app:1`], migrated: [migratedLine(V1, "f0")], fingerprint: "f1" }), undefined, "the command changed");
        assert.strictEqual(backupSkip({ target: releaseOf(V1, "app:1", ""), wentLive: [`${V1} app:1`], migrated: [migratedLine(V2, "f1")], fingerprint: "f1" }), undefined, "another image's migration");
        assert.ok(backupSkip({ target: releaseOf(V1, "app:1", ""), wentLive: [`${V1} app:1`], migrated: [migratedLine(V1, "f1")], fingerprint: "f1" }));
    });

    it("an expand runs again unless it finished here for the same image id and fingerprint", () => {
        const fp = migrationFingerprint(["node", "migrate.js", "expand"], "app:1", 120);
        assert.match(expandSkip(V1, fp, [migratedLine(V1, fp)]) ?? "", /^expand migration skipped: it finished on this database for sha256:111111111111/);
        assert.strictEqual(expandSkip(V2, fp, [migratedLine(V1, fp)]), undefined);
        assert.strictEqual(expandSkip(V1, migrationFingerprint(["node", "migrate.js", "expand2"], "app:1", 120), [migratedLine(V1, fp)]), undefined);
        assert.strictEqual(expandSkip("", fp, [migratedLine("", fp)]), undefined, "no image id: it runs");
    });

    it("the fingerprint changes with the command, the image and the timeout", () => {
        const base = migrationFingerprint(["a"], "i", 1);
        assert.match(base, /^[0-9a-f]{16}$/);
        assert.notStrictEqual(migrationFingerprint(["b"], "i", 1), base);
        assert.notStrictEqual(migrationFingerprint(["a"], "j", 1), base);
        assert.notStrictEqual(migrationFingerprint(["a"], "i", 2), base);
        assert.notStrictEqual(migrationFingerprint(["a b"], "i", 1), migrationFingerprint(["a", "b"], "i", 1), "arguments stay apart");
    });

    it("a colour is warm only when every replica passed the gate and has not restarted or been re-created since", () => {
        const record = "c1 2026-12-03T10:00:00.1Z\nc2 2026-12-03T10:00:00.2Z\n";
        assert.strictEqual(isWarm(record, [{ id: "c1", startedAt: "2026-12-03T10:00:00.1Z" }, { id: "c2", startedAt: "2026-12-03T10:00:00.2Z" }]), true);
        assert.strictEqual(isWarm(record, [{ id: "c1", startedAt: "2026-12-03T10:05:00.0Z" }, { id: "c2", startedAt: "2026-12-03T10:00:00.2Z" }]), false, "c1 restarted");
        assert.strictEqual(isWarm(record, [{ id: "c3", startedAt: "2026-12-03T10:00:00.1Z" }]), false, "a re-created replica");
        assert.strictEqual(isWarm(record, []), false, "no replica");
        assert.strictEqual(isWarm("", [{ id: "c1", startedAt: "2026-12-03T10:00:00.1Z" }]), false, "never gated");
        assert.strictEqual(isWarm(record, [{ id: "c1", startedAt: "" }]), false, "no start read");
    });
});
