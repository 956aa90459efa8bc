// The canary on every host. With several hosts, the first host's canary step
// sets each weight on every host's proxy, and judges the new colour by the
// real requests of all of them together: a share of the stack's traffic, not
// of one host's. The program names the other hosts in CANARY_HOSTS (plain
// data: their Docker endpoint, the name of their TLS material, their proxy).
//
// Once the canary passed, each other host keeps the last weight until its own
// re-point moves the rest. The first host's verify and bake get CANARY_HOSTS
// too: when either sends the first host back to the old colour, the other
// hosts' canaries go with it, so no host keeps sending a share to a colour
// the stack refused.
import { canaryLink } from "../lib/canary";
import { Docker, dockerEngine, Proxy, stepDockerEnv, trimmed } from "./docker";
import { Step } from "./step";

/** Another host's proxy, as the program names it in CANARY_HOSTS. */
export interface CanaryHost {
    /** hosts[].name */
    name: string;
    /** Its Docker endpoint: unix://, tcp:// or ssh://. */
    dockerHost: string;
    /** The directory name of its client TLS material (lib/dockertls.ts), for a tcp:// host with hostsTls. */
    tls?: string;
    /** Its proxy container. */
    proxy: string;
    /** Whether the proxy uses host networking: its own probes then come from its unix socket. */
    socket: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** lib/dockertls.ts dockerTlsName: "<name prefix>/<host name>", neither part starting with a dot. */
const TLS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENDPOINT = /^(unix|tcp|ssh):\/\/[^\s'"`$\\]+$/;

/** CANARY_HOSTS (a JSON list; empty or absent: none), checked field by field; or what is wrong with it. */
export function parseCanaryHosts(value: string | undefined): CanaryHost[] | string {
    if (!value) return [];
    let raw: unknown;
    try {
        raw = JSON.parse(value);
    } catch {
        return "CANARY_HOSTS is not JSON: a list of { name, dockerHost, tls?, proxy, socket }";
    }
    if (!Array.isArray(raw)) return "CANARY_HOSTS must be a JSON list of { name, dockerHost, tls?, proxy, socket }";
    const hosts: CanaryHost[] = [];
    for (const [i, h] of raw.entries()) {
        const at = `CANARY_HOSTS[${i}]`;
        if (typeof h !== "object" || h === null) return `${at} must be an object { name, dockerHost, tls?, proxy, socket }`;
        const { name, dockerHost, tls, proxy, socket } = h as Record<string, unknown>;
        if (typeof name !== "string" || !NAME.test(name)) return `${at}.name '${String(name)}' must be a host name of letters, digits, '.', '_' and '-'`;
        if (typeof dockerHost !== "string" || !ENDPOINT.test(dockerHost)) return `${at}.dockerHost '${String(dockerHost)}' must be a unix://, tcp:// or ssh:// endpoint`;
        if (tls !== undefined && (typeof tls !== "string" || !TLS_NAME.test(tls))) return `${at}.tls '${String(tls)}' must name a host's client TLS material: <name prefix>/<host name>`;
        if (typeof proxy !== "string" || !NAME.test(proxy)) return `${at}.proxy '${String(proxy)}' must be a container name`;
        if (typeof socket !== "boolean") return `${at}.socket '${String(socket)}' must be true or false`;
        hosts.push({ name, dockerHost, ...(tls === undefined ? {} : { tls }), proxy, socket });
    }
    return hosts;
}

/** Another host's proxy, reached with that host's own Docker endpoint and TLS material. */
export interface CanarySite {
    name: string;
    docker: Docker;
    proxy: Proxy;
    ownAddress: string;
}

/** CANARY_HOSTS as proxies to act on; the step fails on a bad value or missing TLS material. */
export function canarySites(step: Step): CanarySite[] {
    const hosts = parseCanaryHosts(step.env.CANARY_HOSTS);
    if (typeof hosts === "string") step.fail(hosts);
    return hosts.map((h) => {
        const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: h.dockerHost };
        // The step's own host's context and material are not this host's.
        delete env.DOCKER_CONTEXT;
        delete env.SWITCHYARD_DOCKER_TLS;
        if (h.tls) env.SWITCHYARD_DOCKER_TLS = h.tls;
        const { env: dockerEnv, problem } = stepDockerEnv(env);
        if (problem) step.fail(`host ${h.name}: ${problem}`);
        const docker = dockerEngine(dockerEnv);
        return { name: h.name, docker, proxy: new Proxy(docker, h.proxy), ownAddress: h.socket ? "unix:" : "127.0.0.1" };
    });
}

/**
 * Removes `colour`'s canary on every other host (CANARY_HOSTS), all at once.
 * A host that does not answer fails the step, naming it; or, with `onFailure:
 * "say"` (a switch back, whose own failure follows and must stay the message),
 * is named in a line of its own.
 */
export async function removeCanaryElsewhere(step: Step, colour: "blue" | "green", opts: { sites?: CanarySite[]; onFailure?: "fail" | "say" } = {}): Promise<void> {
    const sites = opts.sites ?? canarySites(step);
    if (!sites.length) return;
    const results = await Promise.all(sites.map((site) => site.proxy.applyState(["r", canaryLink(colour)])));
    const failed = results.map((r, i) => ({ r, site: sites[i] })).filter(({ r }) => r.status !== 0);
    if (failed.length) {
        const message = `could not remove the canary of ${colour} on ${failed.map(({ site, r }) => `${site.name} (${trimmed(r.stderr)})`).join(", ")}`;
        if (opts.onFailure !== "say") step.fail(message);
        step.say(`${message}: those hosts still send ${colour} its last share until their re-point or the next up`);
        return;
    }
    step.say(`the canary of ${colour} is gone on ${sites.map((s) => s.name).join(", ")} too`);
}
