// maintenance: turn maintenance mode on or off. The live listener reads a
// marker in the proxy's state volume on every request, like the route, so
// this is one atomic file operation: no reload, in-flight requests finish.
// While it is on, the live listener answers 503 with Retry-After (HTML, or
// JSON to Accept: application/json); /healthz and the preview listener are
// unaffected. Safe to run twice.
//
// env: SWITCHYARD_PROXY, MAINTENANCE (on | off)
import { MAINTENANCE_MARKER } from "../lib/routemarker";
import { Proxy } from "./docker";
import { Step } from "./step";

async function maintenance(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "MAINTENANCE");
    if (env.MAINTENANCE !== "on" && env.MAINTENANCE !== "off") step.fail(`MAINTENANCE '${env.MAINTENANCE}' is not allowed (allowed: on, off)`);
    await step.waitRunning(env.SWITCHYARD_PROXY, 30);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    if (env.MAINTENANCE === "on") {
        if (!(await proxy.writeState(MAINTENANCE_MARKER, ""))) step.fail(`could not turn maintenance on in ${env.SWITCHYARD_PROXY}`);
        step.say("maintenance on: the live listener answers 503 with Retry-After; preview keeps serving the idle colour");
    } else {
        if (!(await proxy.removeState(MAINTENANCE_MARKER))) step.fail(`could not turn maintenance off in ${env.SWITCHYARD_PROXY}`);
        step.say(`maintenance off: the live listener serves ${await proxy.route().catch(() => "its colour")} again`);
    }
}

if (require.main === module) void Step.run("maintenance", maintenance);
