// backups.hostDir: which host directories may hold a stack's dumps (lib/hostdir.ts).
import * as assert from "assert";
import { hostDirProblem } from "../../lib/hostdir";

describe("backups.hostDir: a directory of the stack's own", () => {
    it("accepts directories of their own, wherever an operator keeps data", () => {
        for (const dir of ["/srv/switchyard-backups", "/var/backups/switchyard", "/var/lib/switchyard", "/home/alice/backups", "/data/dumps", "/mnt/nas/pg", "/opt/app/backups/"]) {
            assert.strictEqual(hostDirProblem(dir), undefined, dir);
        }
    });

    it("refuses the system's directories, what is under the system's trees and /tmp, and home directories themselves", () => {
        for (const dir of ["/", "//", "/tmp", "/tmp/", "/etc", "/var", "/var/lib", "/var/lib/docker", "/home", "/root", "/srv", "/usr/local", "/run/x", "/var/tmp/d", "/dev/shm", "/proc/1", "/home/alice", "/var/lib/docker/volumes/v/_data"]) {
            assert.ok(hostDirProblem(dir), `${dir} is refused`);
        }
    });
});
