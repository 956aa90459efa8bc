// The instant rollback's one decision (engine/rollback-now.ts instantVerdict):
// traffic goes back only when the previous colour answers on every host that
// needs it. The real flip under load is release-cycle e2e scenario 2 (keep).
import * as assert from "assert";
import { appsOf, instantVerdict, membersOf, opLines, probeCodes } from "../../engine/rollback-now";

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

    it("reads the engine's listings: app containers with colour, image and id, frontend members with their addresses", () => {
        const id = `sha256:${"c".repeat(64)}`;
        const labels = (colour: string, image: string) => ({ "switchyard.colour": colour, "switchyard.image": image });
        assert.deepStrictEqual(appsOf([{ Names: ["/sy-app-blue-1"], Labels: labels("blue", "app:1"), Image: id }, { Names: ["/sy-app-green-1"], Labels: labels("green", "app:2"), Image: "app:2" }]), [
            { name: "sy-app-blue-1", colour: "blue", image: "app:1", imageId: id },
            { name: "sy-app-green-1", colour: "green", image: "app:2", imageId: "" },
        ]);
        const m = membersOf({ Containers: { a1: { Name: "sy-app-blue-1", IPv4Address: "172.30.244.131/24" }, p: { Name: "sy-proxy", IPv4Address: "172.30.244.2/24" }, x: { Name: "no-address", IPv4Address: "" } } });
        assert.strictEqual(m.get("sy-app-blue-1"), "172.30.244.131");
        assert.strictEqual(m.size, 2);
        assert.strictEqual(membersOf(undefined).size, 0, "no frontend network: no addresses");
    });

    it("sends the state changes as data, one per line, and refuses a value with a line break", () => {
        assert.strictEqual(opLines(["w", "previous-live", "green", "r", "route-marker"]), "apply\nw\nprevious-live\ngreen\nr\nroute-marker\n.\n");
        assert.throws(() => opLines(["w", "previous-live-image", "app:1\nr\nx"]), /line break .*nothing was moved/);
    });

    it("reads the probe's answers in the order curl finished them, by address", () => {
        const codes = probeCodes(["route green", "code 000 http://0.0.0.0:1/", "code 200 http://10.1.0.132:3000/health", "code 503 http://10.1.0.131:3000/health", "ready"]);
        assert.strictEqual(codes.get("10.1.0.131:3000"), "503");
        assert.strictEqual(codes.get("10.1.0.132:3000"), "200");
        assert.strictEqual(codes.get("0.0.0.0:1"), "", "no answer");
        assert.strictEqual(codes.size, 3);
    });

    it("names why a host could not be read", () => {
        const v = instantVerdict("blue", [{ name: "m1", route: "", replicas: [], problem: "ssh: connect to host m1 port 22: Connection refused" }]);
        assert.ok(!v.ok);
        assert.strictEqual(v.why, "the proxy on host m1 does not answer (ssh: connect to host m1 port 22: Connection refused)");
    });
});
