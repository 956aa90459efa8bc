// Two stacks whose Docker names coincide ("a-b"/"c" and "a"/"b-c") must not
// share containers, networks or data volumes: the second is refused, naming
// the first, before anything is declared.
import * as assert from "assert";
import { collisionMessage, foreignObjects, NamedObject, parseNamed } from "../../lib/collisions";
import { EMPTY_HOST, runProgram } from "./mocks";

const base = { liveColor: "blue", slots: { blue: { image: "app:1.0.0" } }, replicas: 2 };

describe("name collisions between stacks", function () {
    this.timeout(30000);

    it("an object named as one of this stack's parts with another stack's label is foreign; unlabelled, this stack's or merely prefixed ones are not", () => {
        const objects: NamedObject[] = [
            { kind: "container", name: "a-b-c-proxy", owner: "a-b/c" },
            { kind: "volume", name: "a-b-c-pgdata", owner: "a-b/c" },
            { kind: "container", name: "a-b-c-app-green-3", owner: "a-b/c" },
            { kind: "network", name: "a-b-c-frontend", owner: "a/b-c" },
            // A stack "b-c-2" of project "a": its names start with "a-b-c-" too, but are no part of ours.
            { kind: "container", name: "a-b-c-2-proxy", owner: "a/b-c-2" },
            // Made before the label, or by hand: nothing says whose it is.
            { kind: "volume", name: "a-b-c-redisdata", owner: "" },
        ];
        const foreign = foreignObjects(objects, "a-b-c", "a/b-c");
        assert.deepStrictEqual(foreign.map((o) => o.name), ["a-b-c-proxy", "a-b-c-pgdata", "a-b-c-app-green-3"]);
        assert.deepStrictEqual(foreignObjects(objects, "a-b-c", "a-b/c").map((o) => o.name), ["a-b-c-frontend"]);
    });

    it("reads docker's name<TAB>label lines, a missing label as none", () => {
        assert.deepStrictEqual(parseNamed("network", "x-frontend\t<no value>\ny-frontend\tp/s\n"), [
            { kind: "network", name: "x-frontend", owner: "" },
            { kind: "network", name: "y-frontend", owner: "p/s" },
        ]);
    });

    it("the message names the objects, their stack, why it matters and the way out", () => {
        const found = Array.from({ length: 7 }, (_, i): NamedObject => ({ kind: "container", name: `a-b-c-app-blue-${i + 1}`, owner: "a-b/c" }));
        const text = collisionMessage(found, "a-b-c", "a/b-c", "host web-1");
        assert.match(text, /^stack a\/b-c names its Docker objects a-b-c-…, and on host web-1 those names belong to stack a-b\/c: container a-b-c-app-blue-1 \(stack a-b\/c\), /);
        assert.match(text, /, and 2 more\. /);
        assert.match(text, /pulumi stack rename/);
        assert.match(text, /Nothing was created or changed\.$/);
    });

    it("the program refuses a host where another stack owns its names, and declares nothing", async () => {
        const host = { ...EMPTY_HOST, foreign: [{ kind: "volume" as const, name: "switchyard-staging-pgdata", owner: "switchyard-staging/x" }] };
        const err = await runProgram({ config: base, host }).then(
            () => assert.fail("deployed over another stack's objects"),
            (e) => e,
        );
        assert.match(String(err.message), /switchyard: stack switchyard\/staging names its Docker objects switchyard-staging-…, and on the Docker host one of those names belongs to stack switchyard-staging\/x: volume switchyard-staging-pgdata/);
        assert.deepStrictEqual((err.registered ?? []).filter((n: string) => n !== "switchyard"), [], "nothing declared");
        // Without the foreign object the same config goes ahead.
        await runProgram({ config: base, host: { ...EMPTY_HOST, foreign: [] } });
    });
});
