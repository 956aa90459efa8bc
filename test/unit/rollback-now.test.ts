// The instant rollback's one decision (engine/rollback-now.ts instantVerdict):
// traffic goes back only when the previous colour answers on every host that
// needs it. The real flip under load is release-cycle e2e scenario 2 (keep).
import * as assert from "assert";
import { instantVerdict, probeAddress } from "../../engine/rollback-now";

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

    it("probes a replica at its address on a network it shares with the proxy, or on the frontend for a proxy on the host's network", () => {
        const nets: [string, string][] = [["sy-backend", "172.30.245.3"], ["sy-frontend", "172.30.244.131"]];
        assert.strictEqual(probeAddress(nets, ["sy-frontend"]), "172.30.244.131");
        assert.strictEqual(probeAddress(nets, ["host"]), "172.30.244.131", "host networking: the frontend address");
        assert.strictEqual(probeAddress(nets, ["other"]), undefined, "no shared network: no address");
        assert.strictEqual(probeAddress([["sy-frontend", ""]], ["sy-frontend"]), undefined, "no IP read");
    });
});
