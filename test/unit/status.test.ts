// npm run status's word on the live colour's health (ops/status.ts render):
// Docker's own health check runs first one interval after a container's start,
// and a release can end sooner, so "starting" is not yet an answer.
import * as assert from "assert";
import { ContainerRow, render } from "../../ops/status";

const replica = (i: number, status: string): ContainerRow => ({ name: `p-app-blue-${i}`, role: "app", colour: "blue", image: "app:1", state: "running", status });

describe("npm run status: the live colour's replicas as Docker's health check sees them", () => {
    it("healthy: counted, no alarm", () => {
        const { text, code } = render("prod", [replica(1, "Up 2 minutes (healthy)"), replica(2, "Up 2 minutes (healthy)")], "blue", {}, undefined);
        assert.match(text, /blue +live +2\/2 +app:1/);
        assert.doesNotMatch(text, /!!|\.\. blue/);
        assert.strictEqual(code, 0);
    });

    it("every running replica's check still to run: said as such, not an alarm", () => {
        const { text, code } = render("prod", [replica(1, "Up 3 seconds (health: starting)"), replica(2, "Up 3 seconds (health: starting)")], "blue", {}, undefined);
        assert.match(text, /blue +live +0\/2 \(2 starting\) +app:1/);
        assert.match(text, /\.\. blue is live; Docker has not run its replicas' health checks yet \(the first runs one interval after the start/);
        assert.doesNotMatch(text, /!!/);
        assert.strictEqual(code, 0);
    });

    it("no replica healthy and one unhealthy: the alarm, exit 1", () => {
        const { text, code } = render("prod", [replica(1, "Up 3 seconds (health: starting)"), replica(2, "Up 1 minute (unhealthy)")], "blue", {}, undefined);
        assert.match(text, /!! blue is live but no replica is healthy/);
        assert.strictEqual(code, 1);
        assert.strictEqual(render("prod", [replica(1, "Up 1 minute (unhealthy)")], "blue", {}, undefined).code, 1);
    });
});
