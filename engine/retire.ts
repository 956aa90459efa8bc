// retire: after a switch, wait until nothing is in flight to the old colour
// (no established connection to its app port, and no nginx worker still
// shutting down after a reload: engine/drain-rules.ts), bounded by
// DRAIN_SECONDS; then stop it. Pulumi removes the stopped containers at the
// end of the update, because the old slot has left the program. An empty
// RETIRE_COLOR retires nothing: under standby "keep" the old colour stays up
// for an instant rollback.
//
// What is in flight is read in the proxy, not in the app: an app image need
// not have cat, or a shell. A read that failed is not "nothing in flight"
// (drain-rules.ts drainNext), and a route that could not be read is not blue.
// A look is one exec (the TCP table and the process titles); the first one
// shares its exec with the route's read.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, RETIRE_COLOR (may be empty),
//      DRAIN_SECONDS, APP_PORT, STOP_GRACE_SECONDS
import { randomBytes } from "crypto";
import { ROUTE_MARKER } from "../lib/routemarker";
import { DockerResult, execFailure, PROCESS_TITLES, Proxy, routeOf, slotContainers, trimmed } from "./docker";
import { DrainLook, drainNext, drainPollMs, establishedTo, nginxWorkers, procTcpAddress } from "./drain-rules";
import { sleep, Step } from "./step";

/** What is in flight in the proxy: its TCP table, a line with the boundary, then every process's title. Arguments: boundary. */
const LOOK = `b=$1; cat /proc/net/tcp; printf '\\n%s\\n' "$b"; ${PROCESS_TITLES}`;

/** LOOK's output as its two parts; undefined when the exec failed or its answer was cut short. */
function readLook(r: DockerResult, boundary: string): { tcp: string; titles: string } | undefined {
    const at = r.status === 0 ? r.stdout.indexOf(`\n${boundary}\n`) : -1;
    return at < 0 ? undefined : { tcp: r.stdout.slice(0, at), titles: r.stdout.slice(at + boundary.length + 2) };
}

const newBoundary = (): string => randomBytes(8).toString("hex");

async function retire(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_STACK", "DRAIN_SECONDS", "APP_PORT", "STOP_GRACE_SECONDS");
    for (const name of ["DRAIN_SECONDS", "STOP_GRACE_SECONDS"] as const) if (!/^[0-9]+$/.test(env[name])) step.fail(`${name} '${env[name]}' must be a whole number of seconds`);
    if (!/^[1-9][0-9]{0,4}$/.test(env.APP_PORT) || Number(env.APP_PORT) > 65535) step.fail(`APP_PORT '${env.APP_PORT}' must be a port number`);
    const colour = step.env.RETIRE_COLOR ?? "";
    const drainSeconds = Number(env.DRAIN_SECONDS);
    if (colour === "") {
        step.say("nothing to retire (standby keep, or no colour was switched away from)");
        return;
    }
    if (colour !== "blue" && colour !== "green") step.fail(`RETIRE_COLOR '${colour}' is not a colour (allowed: blue, green, or empty)`);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    // Side by side: the live route with the first look in one exec (a read only: it is used
    // after the route is checked), and the colour's containers. Each is a round trip, and
    // the retire is on every release's path.
    const firstBoundary = newBoundary();
    const [first, old] = await Promise.all([proxy.readStatesThen([ROUTE_MARKER], "", LOOK, firstBoundary).catch((e: Error) => e), slotContainers(step.docker, env.SWITCHYARD_STACK, colour).catch((e: Error) => e)]);
    if (first instanceof Error) step.fail(`refusing to retire ${colour}: which colour is live is unknown (${first.message})`);
    const route = routeOf(first.states);
    if (route === colour) step.fail(`refusing to retire ${colour}: the live listener still routes to it`);
    if (old instanceof Error) step.fail(old.message);
    if (old.length === 0) {
        step.say(`nothing to retire: no running ${colour} containers`);
        return;
    }
    // Every replica's addresses in one call: one line per container.
    const r = await step.docker.inspect(old).catch((e: Error) => e);
    const ips = r instanceof Error ? [] : r.found.flatMap((c) => Object.values(c.NetworkSettings.Networks ?? {}).map((n) => n.IPAddress));
    const targets = ips.filter(Boolean).map((ip) => procTcpAddress(ip, Number(env.APP_PORT)));
    // No address read, no connection counted: that drain would end at once, whatever is in flight.
    if (r instanceof Error || (r.missing.length > 0 && targets.length === 0)) step.fail(`could not read the addresses of ${colour}'s replicas (${r instanceof Error ? r.message : `no such container: ${r.missing.join(", ")}`}); nothing was stopped`);
    // One look; a read that failed gives no look at all (engine/drain-rules.ts drainNext). The first one was made with the route's read.
    let unread = "";
    let pending: { r: DockerResult; b: string } | undefined = { r: first.then, b: firstBoundary };
    const look = async (): Promise<DrainLook> => {
        const b = pending?.b ?? newBoundary();
        const r = pending?.r ?? (await proxy.exec("sh", "-c", LOOK, "sh", b));
        pending = undefined;
        const read = readLook(r, b);
        if (!read) {
            const why = r.status === 0 ? "its answer was cut short" : execFailure(r);
            if (!unread) step.say(`could not read what is in flight in the proxy ${env.SWITCHYARD_PROXY} (${why}); looking again`);
            unread = why;
            return undefined;
        }
        unread = "";
        return { conns: establishedTo(read.tcp, targets), shutting: nginxWorkers(read.titles).shutting.length };
    };

    step.say(`draining ${colour} (${old.length} container(s)): waiting up to ${drainSeconds}s for in-flight requests`);
    // No pause first: a request routed to the old colour just before the
    // switch counts from its first SYN (establishedTo), and one that never
    // reached it (its body still arriving when the colour stopped) goes to
    // the live colour through @unsent (nginx/nginx.conf.template).
    const drainStart = Date.now();
    const deadline = drainStart + drainSeconds * 1000;
    for (;;) {
        const seen = await look();
        const next = drainNext(seen, Date.now() >= deadline);
        if (next === "drained") {
            step.say(`drained: no request in flight to ${colour}`);
            break;
        }
        if (next === "time-up") {
            step.say(
                seen
                    ? `drain time (${drainSeconds}s) is up with ${seen.conns} connection(s) and ${seen.shutting} old worker(s) left; stopping anyway`
                    : `drain time (${drainSeconds}s) is up and what is in flight could not be read (${unread}); stopping anyway`,
            );
            break;
        }
        await sleep(drainPollMs(Date.now() - drainStart));
    }
    // Drained: every replica stops at once (each may take its grace time).
    const stopped = await Promise.all(old.map((c) => step.docker.run(["stop", "-t", env.STOP_GRACE_SECONDS, c])));
    old.forEach((c, i) => {
        if (stopped[i].status !== 0) step.fail(`could not stop ${c}: ${trimmed(stopped[i].stderr)}`);
        step.say(`stopped ${c}`);
    });
    step.say(`retired ${colour}; Pulumi removes its containers at the end of this update`);
}

if (require.main === module) void Step.run("retire", retire);
