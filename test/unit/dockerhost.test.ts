// Where a one-host stack's engine is (lib/dockerhost.ts resolveDockerEndpoint):
// the docker CLI's current context is asked once per process for the same
// environment, against a stand-in `docker` on PATH that records each call.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { resolveDockerEndpoint } from "../../lib/dockerhost";

describe("the docker CLI's current context (lib/dockerhost.ts)", () => {
    it("is asked once per environment: the same environment again reads the answer, another context asks again", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-context-"));
        try {
            const calls = path.join(dir, "calls");
            fs.writeFileSync(path.join(dir, "docker"), `#!/bin/sh\necho "$*" >> "${calls}"\nprintf 'ctx-%s\\tunix:///srv/%s.sock\\n' "\${DOCKER_CONTEXT:-default}" "\${DOCKER_CONTEXT:-default}"\n`, { mode: 0o755 });
            const env = { PATH: `${dir}:/usr/bin:/bin`, HOME: dir };
            const first = resolveDockerEndpoint(undefined, env);
            const again = resolveDockerEndpoint(undefined, { ...env });
            assert.deepStrictEqual(first, { host: "unix:///srv/default.sock", source: "docker context ctx-default" });
            assert.deepStrictEqual(again, first);
            assert.strictEqual(fs.readFileSync(calls, "utf8").trim().split("\n").length, 1, "one docker CLI call for the same environment");
            const other = resolveDockerEndpoint(undefined, { ...env, DOCKER_CONTEXT: "remote" });
            assert.deepStrictEqual(other, { host: "unix:///srv/remote.sock", source: "docker context ctx-remote" });
            assert.strictEqual(fs.readFileSync(calls, "utf8").trim().split("\n").length, 2, "another context is asked for");
            assert.deepStrictEqual(resolveDockerEndpoint("unix:///x.sock", env), { host: "unix:///x.sock", source: "config docker:host" }, "docker:host asks nothing");
            assert.strictEqual(fs.readFileSync(calls, "utf8").trim().split("\n").length, 2);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
