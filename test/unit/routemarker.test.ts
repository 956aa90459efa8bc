// The route-marker protocol is defined once (scripts/release/route-marker.env):
// every other file reads it from there instead of spelling the file names.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { LIST_MARKERS_SCRIPT, MAINTENANCE_MARKER, parseMarkers, ROUTE_MARKER, ROUTE_MARKER_FILE, STATE_DIR } from "../../lib/routemarker";
import { renderNginxConfig } from "../../nginx/render";

const REPO = path.resolve(__dirname, "..", "..");
const SHIPPED = ["index.ts", "components", "lib", "nginx", "scripts", "ops"];

function files(p: string): string[] {
    const full = path.join(REPO, p);
    if (fs.statSync(full).isFile()) return [p];
    return fs.readdirSync(full).flatMap((f) => files(path.join(p, f)));
}

describe("the route-marker protocol", () => {
    it("is read from route-marker.env", () => {
        assert.strictEqual(ROUTE_MARKER_FILE, path.join(REPO, "scripts", "release", "route-marker.env"));
        assert.strictEqual(STATE_DIR, "/etc/switchyard/state");
        assert.strictEqual(ROUTE_MARKER, "live-green");
        assert.strictEqual(MAINTENANCE_MARKER, "maintenance");
    });

    it("reads the proxy's listing: the marker present means green, the ledger and maintenance alongside", () => {
        assert.deepStrictEqual(parseMarkers(""), { route: "blue", retired: {}, retiredImageId: {}, maintenance: false });
        assert.deepStrictEqual(parseMarkers("live-green=\nretired-blue=app:1.0.0\nmaintenance=\n"), {
            route: "green",
            retired: { blue: "app:1.0.0" },
            retiredImageId: {},
            maintenance: true,
        });
        // The ledger with the image id the colour ran (retiredLedger).
        const id = `sha256:${"a".repeat(64)}`;
        assert.deepStrictEqual(parseMarkers(`retired-green=registry.example.com:5000/app:2.0.0 ${id}\n`).retiredImageId, { green: id });
        assert.deepStrictEqual(parseMarkers(`retired-green=registry.example.com:5000/app:2.0.0 ${id}\n`).retired, { green: "registry.example.com:5000/app:2.0.0" });
        assert.deepStrictEqual(parseMarkers("retired-green=app:2 not-an-id\n").retiredImageId, {}, "only an image id is taken");
        assert.match(LIST_MARKERS_SCRIPT, /live-green retired-\* maintenance/);
    });

    it("reads a running canary from its link: the colour and the weight of the ladder it points at", () => {
        assert.match(LIST_MARKERS_SCRIPT, /for l in canary-blue canary-green; do \[ -L "\$l" \] && printf '%s=%s\\n' "\$l" "\$\(readlink "\$l"\)"/);
        assert.deepStrictEqual(parseMarkers("canary-green=canary-green.w25\n").canary, { colour: "green", weight: 25 });
        assert.strictEqual(parseMarkers("").canary, undefined);
        // Not a ladder of this colour, or not a weight: no canary is claimed.
        assert.strictEqual(parseMarkers("canary-green=canary-blue.w25\n").canary, undefined);
        assert.strictEqual(parseMarkers("canary-green=canary-green.w100\n").canary, undefined);
        // The last canary's figures, one line per step, as the step wrote them.
        assert.match(LIST_MARKERS_SCRIPT, /\[ -f canary-figures \] && sed 's\/\^\/canary-figures=\/' canary-figures/);
        assert.deepStrictEqual(parseMarkers("canary-figures=T green after blue: 10 % -> 50 %\ncanary-figures=10 %: held for 8s: x\n").canaryFigures, ["T green after blue: 10 % -> 50 %", "10 %: held for 8s: x"]);
        assert.strictEqual(parseMarkers("").canaryFigures, undefined);
    });

    it("is spelled nowhere else in what the program, the steps and the operator commands run", () => {
        const offenders = SHIPPED.flatMap(files)
            .filter((f) => !f.endsWith("route-marker.env") && !f.endsWith(".md"))
            .filter((f) => /live-green|\/etc\/switchyard\/state\b(?!\/tls)/.test(fs.readFileSync(path.join(REPO, f), "utf8").replace(/^\s*(#|\/\/|\*).*$/gm, "")));
        assert.deepStrictEqual(offenders, []);
    });

    it("reaches the proxy config: nginx checks the marker's path on every request", () => {
        const conf = renderNginxConfig({ appPort: 3000, drainSeconds: 15 });
        assert.match(conf, /if \(-f \/etc\/switchyard\/state\/live-green\)/);
        assert.match(conf, /if \(-f \/etc\/switchyard\/state\/maintenance\)/);
    });
});
