// The delete guard's decisions, case by case. The hook that applies them runs
// inside a real `pulumi preview`/`up` in the e2e suite.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { Colour } from "../../lib/config";
import { ALLOW_ENV, DeleteGuard, GuardContext, parseAllowList, Refusals, refuseDelete } from "../../lib/guard";
import { ReleasePlan } from "../../lib/release";

const plan = (live: Colour, declared: Colour[], previousLive?: Colour): ReleasePlan => ({
    live,
    idle: live === "blue" ? "green" : "blue",
    previousLive,
    switching: previousLive !== undefined && previousLive !== live,
    declared,
    idleState: declared.length === 2 ? "standby" : "retired",
});

function ctx(p: ReleasePlan, route: Colour | undefined, allow = ""): GuardContext {
    return { stack: "staging", plan: p, allow: parseAllowList(allow), route: async () => route };
}

const app = (colour: Colour, dryRun = true) => ({ role: "app" as const, dockerName: `switchyard-staging-app-${colour}-1`, colour, dryRun });

describe("delete guard", () => {
    it("refuses replacing a container of the colour the live listener routes to, preview or update", async () => {
        for (const dryRun of [true, false]) {
            const msg = await refuseDelete(app("blue", dryRun), ctx(plan("blue", ["blue"], "blue"), "blue"));
            assert.ok(msg, "must refuse");
            assert.match(msg!, /would delete switchyard-staging-app-blue-1, a container of blue, which serves live traffic now/);
            assert.match(msg!, /Nothing was changed/);
            assert.match(msg!, /pulumi config set --path slots\.green\.image <image>/);
            assert.match(msg!, new RegExp(`${ALLOW_ENV}=live`));
        }
    });

    it("allows replacing or removing the idle colour", async () => {
        assert.strictEqual(await refuseDelete(app("green"), ctx(plan("blue", ["blue", "green"], "blue"), "blue")), undefined);
        assert.strictEqual(await refuseDelete(app("green", false), ctx(plan("blue", ["blue"], "blue"), "blue")), undefined);
        // A one-step release re-creates green (idle) before it goes live.
        assert.strictEqual(await refuseDelete(app("green", false), ctx(plan("green", ["green"], "blue"), "blue")), undefined);
    });

    it("retire: the preview plans deleting the old colour; the update deletes it only once the route moved", async () => {
        const switching = plan("green", ["green"], "blue");
        assert.strictEqual(await refuseDelete(app("blue", true), ctx(switching, "blue")), undefined, "preview: the switch has not happened yet");
        assert.strictEqual(await refuseDelete(app("blue", false), ctx(switching, "green")), undefined, "update: after re-point and verify");
        assert.match((await refuseDelete(app("blue", false), ctx(switching, "blue")))!, /while the live listener still routes to blue/);
    });

    it("allows everything on the first update (no proxy, no route)", async () => {
        assert.strictEqual(await refuseDelete(app("blue", false), ctx(plan("blue", ["blue"]), undefined)), undefined);
    });

    it("refuses deleting the shared services, the proxy, data volumes and networks unless allowed by name", async () => {
        for (const role of ["postgres", "redis", "proxy", "volume", "network"] as const) {
            const req = { role, dockerName: `switchyard-staging-${role}`, dryRun: true };
            const msg = await refuseDelete(req, ctx(plan("blue", ["blue"], "blue"), "blue"));
            assert.ok(msg, role);
            assert.match(msg!, new RegExp(`would delete switchyard-staging-${role}, `));
            assert.match(msg!, new RegExp(`${ALLOW_ENV}=${role}\\.`));
            assert.match(msg!, /SWITCHYARD_ALLOW_DELETE=all pulumi destroy --run-program --stack staging/);
            assert.match(msg!, /npm run destroy -- --stack staging/);
            assert.match(msg!, /npx switchyard destroy --stack staging/, "the command a project with the package runs");
            assert.strictEqual(await refuseDelete(req, ctx(plan("blue", ["blue"], "blue"), "blue", role)), undefined, `${role} allowed by name`);
            assert.strictEqual(await refuseDelete(req, ctx(plan("blue", ["blue"], "blue"), "blue", "all")), undefined, `${role} allowed by all`);
        }
        assert.match((await refuseDelete({ role: "postgres", dockerName: "pg", dryRun: true }, ctx(plan("blue", ["blue"]), "blue", "redis")))!, /Refused/);
    });

    it("a destroy's refusals: the first says why and what to run, each later one only names its resource", async () => {
        const r = new Refusals();
        assert.strictEqual(r.say("Refused: … the whole paragraph …", "shop-postgres"), "Refused: … the whole paragraph …");
        assert.strictEqual(r.say("Refused: … the whole paragraph …", "shop-redis"), "Refused as well: deleting shop-redis, for the reason the refusal for shop-postgres gives (with what to run).");
    });

    it("names the key, the value and what is allowed for a bad SWITCHYARD_ALLOW_DELETE", async () => {
        assert.deepStrictEqual([...parseAllowList("postgres, proxy")].sort(), ["postgres", "proxy"]);
        assert.strictEqual(parseAllowList("all").size, 6);
        assert.strictEqual(parseAllowList(undefined).size, 0);
        assert.throws(() => parseAllowList("postgress"), /SWITCHYARD_ALLOW_DELETE=postgress: "postgress" is not allowed \(allowed: live, postgres, redis, proxy, volume, network, all\)/);
    });
});

describe("delete guard: its route reads", () => {
    /** A guard of a stack that switched from blue to green and retires blue, reading the route with `route`. */
    const retiringBlue = (hostName: string, route: () => Promise<Colour>) => new DeleteGuard({ stack: "staging", plan: plan("green", ["green"], "blue"), allow: parseAllowList(""), route, hostName });
    // The hook as the engine calls it: a retired colour's replicas are deleted at once.
    const deleteArgs = (name: string) => ({ urn: `urn:${name}`, id: name, name, type: "docker:index/container:Container", oldInputs: { name, labels: [{ label: "switchyard.colour", value: "blue" }] } }) as unknown as pulumi.ResourceHookArgs;

    it("deletes that ask together share one read of the route; a later one reads again", async () => {
        let reads = 0;
        let route: Colour = "green";
        const guard = retiringBlue("guard-reads", async () => {
            reads++;
            await new Promise((r) => setTimeout(r, 20));
            return route;
        });
        const hook = guard.binding("app").beforeDelete![0] as pulumi.ResourceHook;
        await Promise.all([hook.callback(deleteArgs("app-blue-1")), hook.callback(deleteArgs("app-blue-2"))]);
        assert.strictEqual(reads, 1, "two deletes at once: one read");
        // The switch undone meanwhile: a finished read is not reused, and the delete is refused.
        route = "blue";
        await assert.rejects(async () => hook.callback(deleteArgs("app-blue-1")), /while the live listener still routes to blue/);
        assert.strictEqual(reads, 2, "a delete after the first read finished reads again");
    });

    it("the retired colour's deletes use the route read as the retire step ended; a delete of a declared colour, or after a failed read, reads again", async () => {
        let reads = 0;
        let failNext = false;
        const route = async (): Promise<Colour> => {
            reads++;
            if (failNext) {
                failNext = false;
                throw new Error("the proxy is restarting");
            }
            return "green";
        };
        const guard = retiringBlue("guard-after-retire", route);
        const hook = guard.binding("app").beforeDelete![0] as pulumi.ResourceHook;
        guard.afterRetire(pulumi.output("[retire 0.4s] retired blue"));
        await new Promise((r) => setTimeout(r, 10));
        assert.strictEqual(reads, 1, "read as retire ended");
        await hook.callback(deleteArgs("app-blue-1"));
        await hook.callback(deleteArgs("app-blue-2"));
        assert.strictEqual(reads, 1, "the retired colour's deletes read nothing more");
        // A container of green (declared: live) is another case: its delete reads the route now, and is refused.
        const green = { ...deleteArgs("app-green-1"), oldInputs: { name: "app-green-1", labels: [{ label: "switchyard.colour", value: "green" }] } } as unknown as pulumi.ResourceHookArgs;
        await assert.rejects(async () => hook.callback(green), /which serves live traffic now/);
        assert.strictEqual(reads, 2);
        // A read after retire that failed is no read: the delete reads again.
        const again = retiringBlue("guard-after-retire-2", route);
        failNext = true;
        again.afterRetire(pulumi.output("done"));
        await new Promise((r) => setTimeout(r, 10));
        await (again.binding("app").beforeDelete![0] as pulumi.ResourceHook).callback(deleteArgs("app-blue-1"));
        assert.strictEqual(reads, 4, "the failed read, then the delete's own");
    });
});
