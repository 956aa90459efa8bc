// The ACME sidecar's renewal rule (scripts/acme/renew.py, run by the image's
// python3): due once two thirds of the certificate's lifetime have passed.
// The loop itself runs against a real ACME server in test/e2e/webapp.e2e.ts.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as path from "path";
import { ACME_PROGRAM } from "../../components/acme";

const SCRIPT = path.resolve(__dirname, "..", "..", "scripts", "acme", "renew.py");
const due = (notBefore: number, notAfter: number, now: number) => spawnSync("python3", [SCRIPT, "--due", String(notBefore), String(notAfter), String(now)]).status === 0;

describe("the ACME sidecar's renewal rule", () => {
    it("renews at two thirds of the lifetime: day 60 of Let's Encrypt's 90, second 40 of a 60-second test certificate", () => {
        const day = 86400;
        assert.strictEqual(due(0, 90 * day, 59.9 * day), false);
        assert.strictEqual(due(0, 90 * day, 60 * day), true);
        assert.strictEqual(due(1000, 1060, 1039), false);
        assert.strictEqual(due(1000, 1060, 1040), true);
        assert.strictEqual(due(1000, 1060, 5000), true, "an expired one is due");
    });

    it("the container runs the script as shipped in the package", () => {
        assert.match(ACME_PROGRAM, /^"""The ACME sidecar of components\/acme\.ts: certbot, in a loop\./);
        assert.match(ACME_PROGRAM, /def due\(not_before, not_after, now\):/);
    });
});
