import * as assert from "assert";
import { parseConfig, SwitchyardConfig } from "../../lib/config";
import { HostState } from "../../lib/host";
import { pinnedImageId, planRelease } from "../../lib/release";

function config(values: Record<string, unknown>): SwitchyardConfig {
    const raw = Object.fromEntries(Object.entries(values).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
    return parseConfig(raw, new Set(), "test");
}

const v1 = "app:1.0.0";
const v2 = "app:2.0.0";

/** The host after a release of `cfg`: `live` routed, declared colours running. */
function hostRunning(cfg: SwitchyardConfig, live: "blue" | "green", colours: ("blue" | "green")[], retired: HostState["retired"] = {}): HostState {
    const running: HostState["running"] = {};
    for (const c of colours) running[c] = { image: cfg.slots[c]!.image, containers: [`x-app-${c}-1`] };
    return { route: live, running, retired, swapLimit: true, stopped: [], networks: { taken: [] } };
}

describe("release plan", () => {
    it("first release: the live colour goes live, nothing to switch from", () => {
        const cfg = config({ liveColor: "blue", slots: { blue: { image: v1 } } });
        const p = planRelease(cfg, { running: {}, retired: {}, swapLimit: true, stopped: [], networks: { taken: [] } });
        assert.deepStrictEqual([p.live, p.switching, p.previousLive, p.declared, p.idleState], ["blue", false, undefined, ["blue"], "empty"]);
    });

    it("stage: a new image on the idle colour declares it, live unchanged", () => {
        const before = config({ liveColor: "blue", slots: { blue: { image: v1 } } });
        const cfg = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(before, "blue", ["blue"]));
        assert.deepStrictEqual([p.switching, p.declared, p.idleState], [false, ["blue", "green"], "staged"]);
    });

    it("switch under standby retire: the old colour leaves the program", () => {
        const cfg = config({ liveColor: "green", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(cfg, "blue", ["blue", "green"]));
        assert.deepStrictEqual([p.switching, p.previousLive, p.declared, p.idleState], [true, "blue", ["green"], "retired"]);
    });

    it("after a retire, a no-op update keeps the retired colour out (ledger)", () => {
        const cfg = config({ liveColor: "green", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(cfg, "green", ["green"], { blue: v1 }));
        assert.deepStrictEqual([p.switching, p.declared, p.idleState], [false, ["green"], "retired"]);
    });

    it("a new image on a retired colour stages it again", () => {
        const cfg = config({ liveColor: "green", slots: { blue: { image: "app:3.0.0" }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(cfg, "green", ["green"], { blue: v1 }));
        assert.deepStrictEqual([p.declared, p.idleState], [["green", "blue"], "staged"]);
    });

    it("rollback to a retired colour re-creates it from its pinned image and retires the other", () => {
        const cfg = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(cfg, "green", ["green"], { blue: v1 }));
        assert.deepStrictEqual([p.switching, p.previousLive, p.declared, p.idleState], [true, "green", ["blue"], "retired"]);
    });

    it("the image id a colour is created from: what it runs, or what it ran when retired, never what its tag names now", () => {
        const id1 = `sha256:${"1".repeat(64)}`;
        const id2 = `sha256:${"2".repeat(64)}`;
        const host: HostState = { route: "green", running: { green: { image: v2, imageId: id2, containers: ["x-app-green-1"] } }, retired: { blue: v1 }, retiredImageId: { blue: id1 }, swapLimit: true, stopped: [], networks: { taken: [] } };
        assert.strictEqual(pinnedImageId(host, "green", v2), id2, "a running colour keeps the image it runs");
        assert.strictEqual(pinnedImageId(host, "green", "app:3.0.0"), undefined, "a new image on it: what the tag resolves to");
        assert.strictEqual(pinnedImageId(host, "blue", v1), id1, "back to a retired colour with its image: what it ran");
        assert.strictEqual(pinnedImageId(host, "blue", "app:3.0.0"), undefined, "a retired colour with a new image: a release");
        assert.strictEqual(pinnedImageId({ ...host, retiredImageId: undefined }, "blue", v1), undefined, "a ledger written before ids: the tag");
        assert.strictEqual(pinnedImageId({ ...host, running: { green: { image: v2, containers: ["x"] } } }, "green", v2), undefined, "containers created by name: the tag");
    });

    it("switch under standby keep: both colours stay declared", () => {
        const cfg = config({ liveColor: "green", standby: "keep", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(cfg, "blue", ["blue", "green"]));
        assert.deepStrictEqual([p.switching, p.declared, p.idleState], [true, ["green", "blue"], "standby"]);
    });

    it("one-step release: new idle image and flip in one update", () => {
        const before = config({ liveColor: "blue", slots: { blue: { image: v1 } } });
        const cfg = config({ liveColor: "green", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(before, "blue", ["blue"]));
        assert.deepStrictEqual([p.switching, p.declared, p.idleState], [true, ["green"], "retired"]);
    });

    it("allows any change to the idle colour", () => {
        const before = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v1 } } });
        const cfg = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(before, "blue", ["blue", "green"]));
        assert.deepStrictEqual(p.declared, ["blue", "green"]);
    });
});
