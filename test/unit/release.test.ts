import * as assert from "assert";
import { parseConfig, SwitchyardConfig } from "../../lib/config";
import { HostState } from "../../lib/host";
import { planRelease, ReleaseRefused, slotFingerprint } from "../../lib/release";

function config(values: Record<string, unknown>): SwitchyardConfig {
    const raw = Object.fromEntries(Object.entries(values).map(([k, v]) => [`switchyard:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
    return parseConfig(raw, new Set(), "test");
}

const v1 = "app:1.0.0";
const v2 = "app:2.0.0";

/** The host after a release of `cfg`: `live` routed, declared colours running. */
function hostRunning(cfg: SwitchyardConfig, live: "blue" | "green", colours: ("blue" | "green")[], retired: HostState["retired"] = {}): HostState {
    const running: HostState["running"] = {};
    for (const c of colours) running[c] = { image: cfg.slots[c]!.image, fingerprint: slotFingerprint(cfg, c), containers: [`x-app-${c}-1`] };
    return { route: live, running, retired };
}

describe("release plan", () => {
    it("first release: the live colour goes live, nothing to switch from", () => {
        const cfg = config({ liveColor: "blue", slots: { blue: { image: v1 } } });
        const p = planRelease(cfg, { running: {}, retired: {} });
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

    it("refuses a new image on the live colour, and says to release to the idle colour", () => {
        const before = config({ liveColor: "blue", slots: { blue: { image: v1 } } });
        const cfg = config({ liveColor: "blue", slots: { blue: { image: v2 } } });
        assert.throws(
            () => planRelease(cfg, hostRunning(before, "blue", ["blue"])),
            (err: Error) =>
                err instanceof ReleaseRefused &&
                /recreate the containers of blue, which is live now/.test(err.message) &&
                /running app:1\.0\.0/.test(err.message) &&
                /Release to the idle colour instead: `pulumi config set --path slots\.green\.image <image>`/.test(err.message) &&
                /Nothing was created or changed/.test(err.message),
        );
    });

    it("refuses other spec changes that would recreate live containers (replicas, limits, health)", () => {
        const before = config({ liveColor: "blue", slots: { blue: { image: v1 } } });
        for (const change of [{ replicas: 3 }, { limits: { app: { memoryMb: 300, cpus: 0.5 } } }, { health: { path: "/ready" } }]) {
            const cfg = config({ liveColor: "blue", slots: { blue: { image: v1 } }, ...change });
            assert.throws(() => planRelease(cfg, hostRunning(before, "blue", ["blue"])), ReleaseRefused, JSON.stringify(change));
        }
    });

    it("allows any change to the idle colour", () => {
        const before = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v1 } } });
        const cfg = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const p = planRelease(cfg, hostRunning(before, "blue", ["blue", "green"]));
        assert.deepStrictEqual(p.declared, ["blue", "green"]);
    });

    it("refuses changing the old colour's image in the update that switches away from it under keep", () => {
        const before = config({ liveColor: "blue", standby: "keep", slots: { blue: { image: v1 }, green: { image: v2 } } });
        const cfg = config({ liveColor: "green", standby: "keep", slots: { blue: { image: "app:1.0.1" }, green: { image: v2 } } });
        assert.throws(() => planRelease(cfg, hostRunning(before, "blue", ["blue", "green"])), /recreate the containers of blue/);
    });

    it("the fingerprint ignores the other colour and changes with the image", () => {
        const a = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v1 } } });
        const b = config({ liveColor: "blue", slots: { blue: { image: v1 }, green: { image: v2 } } });
        assert.strictEqual(slotFingerprint(a, "blue"), slotFingerprint(b, "blue"));
        assert.notStrictEqual(slotFingerprint(a, "green"), slotFingerprint(b, "green"));
    });
});
