// The instant rollback's one decision (engine/rollback-now.ts instantVerdict):
// traffic goes back only when the previous colour answers on every host that
// needs it. The real flip under load is release-cycle e2e scenario 2 (keep).
import * as assert from "assert";
import { instantVerdict, parseApps, parseMembers } from "../../engine/rollback-now";

const ok = (name: string) => ({ name, code: "200" });

describe("instant rollback (engine/rollback-now.ts)", () => {
    it("moves every host not yet on the colour, when each of its replicas answered 2xx just now", () => {
        const v = instantVerdict("blue", [
            { name: "m1", route: "green", replicas: [ok("a"), ok("b")] },
            { name: "m2", route: "blue", replicas: [] },
            { name: "m3", route: "green", replicas: [{ name: "c", code: "204" }] },
        ]);
        assert.ok(v.ok);
        assert.deepStrictEqual(v.move.map((h) => h.name), ["m1", "m3"], "m2 already routes to blue");
    });

    it("refuses with the first reason, so nothing moves on any host", () => {
        const no = (hosts: Parameters<typeof instantVerdict>[1]) => {
            const v = instantVerdict("blue", hosts);
            assert.ok(!v.ok);
            return v.why;
        };
        assert.strictEqual(no([{ route: "green", replicas: [] }]), "blue does not run (retired, or never started)");
        assert.strictEqual(no([{ name: "m1", route: "green", replicas: [ok("a")] }, { name: "m2", route: "", replicas: [] }]), "the proxy on host m2 does not answer");
        assert.strictEqual(no([{ route: "green", replicas: [ok("a"), { name: "b", code: "" }, { name: "c", code: "503" }] }]), "blue does not answer: b no response, c 503");
    });

    it("reads docker's listings: app containers with colour and image, frontend members with their addresses", () => {
        const id = `sha256:${"c".repeat(64)}`;
        assert.deepStrictEqual(parseApps(`sy-app-blue-1\tblue\tapp:1\t${id}\nsy-app-green-1\tgreen\tapp:2\tapp:2\n`), [
            { name: "sy-app-blue-1", colour: "blue", image: "app:1", imageId: id },
            { name: "sy-app-green-1", colour: "green", image: "app:2", imageId: "" },
        ]);
        const m = parseMembers("sy-app-blue-1 172.30.244.131/24\nsy-proxy 172.30.244.2/24\n\n");
        assert.strictEqual(m.get("sy-app-blue-1"), "172.30.244.131");
        assert.strictEqual(m.size, 2);
    });
});
