// Values in the Docker provider's read-back form. The expected strings are
// what kreuzwerker's provider (v3.9.0, under @pulumi/docker 4.11.2) stores
// for these NanoCPUs, and what Go prints for these durations; the e2e suite
// proves the result: a no-op `pulumi up` with 0 changes.
import * as assert from "assert";
import { cpusRoundTrip, dockerCapabilities, goDuration, providerCpus } from "../../lib/dockerform";

describe("provider read-back forms", () => {
    it("cpus: one decimal for round values, trimmed decimals otherwise", () => {
        const cases: [number, string][] = [
            [1, "1.0"], [2, "2.0"], [0.5, "0.5"], [0.25, "0.25"], [1.5, "1.5"], [0.125, "0.125"],
            [11, "11.0"], [10, "10."], [20, "20."], [0.1, "0.1"], [0.05, "0.1"], [0.01, "0.0"],
        ];
        for (const [cpus, form] of cases) assert.strictEqual(providerCpus(cpus), form, String(cpus));
    });

    it("cpus that Docker would read back as another number are flagged", () => {
        assert.ok(cpusRoundTrip(0.5) && cpusRoundTrip(1) && cpusRoundTrip(10) && cpusRoundTrip(0.25));
        assert.ok(!cpusRoundTrip(0.05), "0.05 reads back as 0.1");
        assert.ok(!cpusRoundTrip(0.01), "0.01 reads back as 0.0");
    });

    it("capabilities as Docker stores them (a refresh reads CAP_CHOWN back, never CHOWN)", () => {
        assert.deepStrictEqual(dockerCapabilities(["CHOWN", "CAP_KILL", "ALL"]), ["CAP_CHOWN", "CAP_KILL", "ALL"]);
    });

    it("durations as Go prints them", () => {
        assert.deepStrictEqual([2, 5, 59, 60, 90, 3600, 3725].map(goDuration), ["2s", "5s", "59s", "1m0s", "1m30s", "1h0m0s", "1h2m5s"]);
        assert.throws(() => goDuration(1.5), /not a whole number/);
    });
});
