// The production rules the program enforces without the policy pack (lib/production.ts).
import * as assert from "assert";
import { productionProblems, ProductionView, runsAsRoot } from "../../lib/production";

const good: ProductionView = { environment: "production", appUser: "10001:10001", drainSeconds: 30, verifyRequests: 10 };
const keys = (c: ProductionView) => productionProblems(c).map((p) => p.path.join("."));
const twoHosts = { hosts: [{}, {}], data: { address: "10.0.0.11" } };

describe("production rules without the policy pack (lib/production.ts)", () => {
    it("a production config inside the bounds breaks none; the same settings outside production are not judged", () => {
        assert.deepStrictEqual(keys(good), []);
        assert.deepStrictEqual(keys({ environment: "staging", drainSeconds: 0, verifyRequests: 1 }), []);
    });

    it("the bounds are inclusive: 5 and 300 s of drain, 3 verify requests pass; 4, 301 and 2 do not", () => {
        assert.deepStrictEqual(keys({ ...good, drainSeconds: 5, verifyRequests: 3 }), []);
        assert.deepStrictEqual(keys({ ...good, drainSeconds: 300 }), []);
        assert.deepStrictEqual(keys({ ...good, drainSeconds: 4 }), ["drainSeconds"]);
        assert.deepStrictEqual(keys({ ...good, drainSeconds: 301, verifyRequests: 2 }), ["drainSeconds", "verifyRequests"]);
    });

    it("root is unset, 0, root or 0:<gid>; a name or another uid is not", () => {
        for (const u of [undefined, "0", "root", "0:10001", "root:root"]) assert.deepStrictEqual(keys({ ...good, appUser: u }), ["appUser"], String(u));
        for (const u of ["10001", "app", "10001:0"]) assert.ok(!runsAsRoot(u), u);
    });

    it("several hosts publish in clear what Switchyard runs: refused unless both services are managed; one host publishes nothing", () => {
        assert.deepStrictEqual(keys({ ...good, ...twoHosts }), ["data.address"]);
        assert.match(productionProblems({ ...good, ...twoHosts, postgresUrl: "postgres://…" })[0].message, /^is where Redis would be published/);
        assert.match(productionProblems({ ...good, ...twoHosts, redisUrl: "redis://…" })[0].message, /^is where Postgres would be published/);
        assert.deepStrictEqual(keys({ ...good, hosts: [{}, {}], postgresUrl: "postgres://…", redisUrl: "redis://…" }), []);
        assert.deepStrictEqual(keys({ ...good, hosts: [{}] }), []);
    });
});
