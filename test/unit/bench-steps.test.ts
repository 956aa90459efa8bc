// Where an update's time goes (bench/steps.ts), from output as `pulumi up` shows it.
import * as assert from "assert";
import { stepTimes } from "../../bench/steps";

describe("bench: step times read from an update's output (bench/steps.ts)", () => {
    it("each step's time is its last line's clock, in the order the steps first printed", () => {
        const out = [
            "[  3.1]  +  command:local:Command switchyard-release-gate updating (0s) [gate    0.0s] gating blue: 2 replica(s)",
            "[  3.4]  +  command:local:Command switchyard-release-gate updating (0s) [gate    0.3s] blue-1 healthy",
            "[  3.5]     command:local:Command switchyard-release-backup updating (0s) [backup    0.1s] no dump: app:1 went live before",
            "[  3.9]     command:local:Command switchyard-release-repoint updating (0s) [repoint    0.2s] live listener re-pointed: green -> blue (no reload)",
            "[  4.3]     command:local:Command switchyard-release-verify updating (0s) [verify    0.3s] live answers from blue",
            "[  4.4]  ~  command:local:Command switchyard-release-verify updated (1s)",
        ].join("\n");
        assert.deepStrictEqual(stepTimes(out), [
            { step: "gate", seconds: 0.3, runs: 1 },
            { step: "backup", seconds: 0.1, runs: 1 },
            { step: "repoint", seconds: 0.2, runs: 1 },
            { step: "verify", seconds: 0.3, runs: 1 },
        ]);
    });

    it("a step that runs twice (two hosts, two phases) adds its runs; a two-word name is one step", () => {
        const out = [
            "[gate    0.0s] m1", "[gate    2.5s] m1 done",
            "[migrate expand    0.1s] running", "[migrate expand    1.1s] finished",
            "[gate    0.0s] m2", "[gate    1.0s] m2 done",
            "[migrate contract    0.4s] finished",
        ].join("\n");
        assert.deepStrictEqual(stepTimes(out), [
            { step: "gate", seconds: 3.5, runs: 2 },
            { step: "migrate expand", seconds: 1.1, runs: 1 },
            { step: "migrate contract", seconds: 0.4, runs: 1 },
        ]);
    });

    it("an update that ran no step has no step time; other bracketed text is not a step", () => {
        assert.deepStrictEqual(stepTimes("[  5.0] Resources:\n[  5.0]     41 unchanged\n[id=abc]\n[urn=urn:pulumi:x]"), []);
    });
});
