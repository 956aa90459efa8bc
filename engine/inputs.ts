// Inputs several steps share, checked once: the health request every probe
// sends (the gate's and verify's). A bad value names the variable, the value
// and what is allowed.
import { Step } from "./step";

export interface HealthRequest {
    path: string;
    /** The Host every probe sends ("" for the default). */
    host: string;
    /** The X-Forwarded-Proto every probe sends ("" for none). */
    proto: string;
}

export function healthRequest(step: Step): HealthRequest {
    const path = step.require("HEALTH_PATH").HEALTH_PATH;
    if (!/^\/[\x21-\x7e]*$/.test(path)) step.fail(`HEALTH_PATH '${path}' must be a path starting with / (no spaces)`);
    const host = step.env.HEALTH_HOST ?? "";
    // A header's value: one line of printable characters, so a probe sends exactly one Host.
    if (!/^[\x21-\x7e]*$/.test(host)) step.fail(`HEALTH_HOST '${host}' must be a host name (printable characters, no spaces)`);
    const proto = step.env.HEALTH_PROTO ?? "";
    if (proto !== "" && proto !== "https" && proto !== "http") step.fail(`HEALTH_PROTO '${proto}' must be http or https`);
    return { path, host, proto };
}
