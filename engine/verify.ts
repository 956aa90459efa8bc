// verify: the live listener must answer from SWITCHYARD_COLOR on
// VERIFY_REQUESTS consecutive requests (2xx on the health path, routed to the
// colour, and the app's own colour header agreeing when it sends one) within
// 15 s. On failure the previous colour is restored before the step fails. On
// success the colour's release (image id, plain variables) is recorded as gone live on this database
// (engine/history-rules.ts: switching back to it is a rollback).
//
// The colour to restore is the one re-point recorded as live before it flipped
// the marker (previous-live), so this step's inputs do not change after the
// switch and a later no-op update does not run it again.
//
// When it starts and the live listener does not route to SWITCHYARD_COLOR,
// the switch re-point made was undone after it (a failed verify restored the
// old colour, or a step of a killed update did): re-point's own update had
// succeeded, so Pulumi will not run it again, and `pulumi up` after a failed
// verify would otherwise fail the same way forever. Verify applies the switch
// again (re-point's switchTo, same ledger) and then checks it as always.
//
// The probes run inside the proxy in one `docker exec` (VERIFY_PROBE): on a
// busy host a `docker exec` per request can take seconds, which measured the
// Docker daemon instead of the new colour. That exec reads the route and the
// went-live record first, so a verify that finds the switch in place makes
// two execs: this one and the record's write.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, STANDBY,
//      VERIFY_REQUESTS, HEALTH_PATH, LIVE_SOCKET (host networking) or
//      LIVE_LISTEN_PORT; optional HEALTH_HOST and HEALTH_PROTO (the Host and
//      X-Forwarded-Proto of every probe); CANARY_HOSTS (optional: with a
//      canary on every host, the other hosts' canaries go when verify sends
//      this one back, engine/canary-hosts.ts)
import { ROUTE_MARKER, WENT_LIVE } from "../lib/routemarker";
import { Proxy, routeOf, whenRoutedTo } from "./docker";
import { addToHistory, colourRelease } from "./history";
import { healthRequest } from "./inputs";
import { switchAgain, switchBack, switchInput } from "./repoint";
import { Step } from "./step";
import { readVerify } from "./switch-rules";

const VERIFY_SECONDS = 15;

/**
 * Prints "<consecutive ok> <last failure>" once `want` answers in a row came
 * from the colour, or the time is up. POSIX sh and curl only: the proxy
 * image's contract. Arguments: want colour url seconds host proto socket.
 */
const VERIFY_PROBE = `
  want=$1 colour=$2 url=$3 seconds=$4 host=$5 proto=$6 socket=$7
  cr=$(printf "\\r")
  ok=0 last="no request made" start=$(date +%s)
  while [ "$ok" -lt "$want" ] && [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
    code="" route="" app=""
    while IFS= read -r line; do
      line=\${line%"$cr"}
      case "$line" in
        [Xx]-[Ss]witchyard-[Rr]oute:*) route=\${line#*: } ;;
        [Xx]-[Ss]witchyard-[Cc]olor:*) app=\${line#*: } ;;
        status=*) code=\${line#status=} ;;
      esac
    done <<PROBE
$(curl -s -m 5 -o /dev/null -D - -w "status=%{http_code}\\n" \${socket:+--unix-socket} \${socket:+"$socket"} \${host:+-H} \${host:+"Host: $host"} \${proto:+-H} \${proto:+"X-Forwarded-Proto: $proto"} "$url" 2>/dev/null)
PROBE
    case "$code" in
      2??) good=1 ;;
      *) good=0 ;;
    esac
    if [ "$good" = 1 ] && [ "$route" = "$colour" ] && { [ -z "$app" ] || [ "$app" = "$colour" ]; }; then
      ok=$((ok + 1))
    else
      ok=0
      last="status \${code:-none}, routed to \${route:-?}, app colour \${app:-?}"
      sleep 0.5
    fi
  done
  echo "$ok $last"`;

async function verify(step: Step): Promise<void> {
    const input = switchInput(step);
    const env = step.require("VERIFY_REQUESTS");
    const health = healthRequest(step);
    const socket = step.env.LIVE_SOCKET ?? "";
    const port = step.env.LIVE_LISTEN_PORT ?? "";
    if (!socket && !port) step.fail("environment variable LIVE_SOCKET or LIVE_LISTEN_PORT is required");
    if (!socket && !/^[1-9][0-9]{0,4}$/.test(port)) step.fail(`LIVE_LISTEN_PORT '${port}' must be a port number`);
    if (!/^[1-9][0-9]*$/.test(env.VERIFY_REQUESTS)) step.fail(`VERIFY_REQUESTS '${env.VERIFY_REQUESTS}' must be a whole number >= 1`);
    const want = Number(env.VERIFY_REQUESTS);
    const { colour } = input;
    const proxy = new Proxy(step.docker, input.proxy);

    await step.waitRunning(input.proxy, 30);
    // The live listener from inside the proxy: its unix socket, or its port in the container.
    const base = socket ? "http://localhost" : `http://127.0.0.1:${port}`;
    const probe = [String(want), colour, `${base}${health.path}`, String(VERIFY_SECONDS), health.host, health.proto, socket];
    // The colour's release, for the went-live record, is read while the probes
    // run: over ssh:// each docker call costs a connection, and the bake waits for this step.
    const release = colourRelease(step.docker, input.stack, colour);
    // The route and the went-live record, then the probes, in one exec: the
    // probes run only when the route marker says the live listener routes to the colour.
    const first = await proxy.readStatesThen([ROUTE_MARKER, WENT_LIVE], whenRoutedTo(colour), VERIFY_PROBE, ...probe);
    const route = routeOf(first.states);
    if (route !== colour) {
        step.say(`the live listener routes to ${route}, not ${colour}: the switch was undone after re-point made it (a failed verify, or a step of a killed update); applying it again`);
        await switchAgain(step, input, route);
    }
    const history = Promise.resolve(first.states.get(WENT_LIVE) ?? "");
    const r = first.ran ? first.then : await proxy.exec("sh", "-c", VERIFY_PROBE, "sh", ...probe);
    const { ok, last } = r.status === 0 ? readVerify(r.stdout) : { ok: 0, last: `could not probe inside the proxy ${input.proxy}` };
    if (ok >= want) {
        step.say(`verified: ${want} consecutive answers from ${colour} on the live listener`);
        // The image went live on this database: switching back to it later is a rollback, not a release.
        const { release: wentLive } = await release;
        if (wentLive && !(await addToHistory(proxy, WENT_LIVE, wentLive, history))) step.say(`could not record ${wentLive} in ${WENT_LIVE}: a later switch back to it takes a dump it could skip`);
        return;
    }
    const failed = `verify failed: the live listener did not answer from ${colour} ${want} times in a row within ${VERIFY_SECONDS}s (last: ${last})`;
    const previous = await switchBack(step, proxy, colour);
    if (previous) step.fail(`${failed}; live traffic is back on ${previous}, which keeps running`);
    step.fail(`${failed}; there is no previous colour to restore`);
}

if (require.main === module) void Step.run("verify", verify);
