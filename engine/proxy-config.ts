// proxy config: install a new nginx.conf (read from stdin) in the proxy's
// mounted config directory: write a temp file, `nginx -t` it, rename it into
// place, reload, and check /healthz. A config nginx rejects never replaces
// the one that serves; a reload that does not come back healthy is undone.
//
// env: SWITCHYARD_PROXY, LIVE_SOCKET (host networking) or LIVE_LISTEN_PORT
import * as fs from "fs";
import { CLOSING_MARKER, CONF_DIR, STATE_DIR, TLS_FILES, TLS_SINGLE_FILE, TLS_SUBDIR } from "../lib/routemarker";
import { Listener, liveListener, PROCESS_TITLES, Proxy } from "./docker";
import { nginxWorkers, reloadStage } from "./drain-rules";
import { sleep, Step } from "./step";

const NEW = `${CONF_DIR}/.nginx.conf.new`;
const CONF = `${CONF_DIR}/nginx.conf`;
const PREVIOUS = `${CONF_DIR}/nginx.conf.previous`;
const TLS_DIR = `${STATE_DIR}/${TLS_SUBDIR}`;
const CLOSING = `${STATE_DIR}/${CLOSING_MARKER}`;
/**
 * How long clients are asked to close their keep-alive connections before a
 * reload. A client that sends at least one request in it closes that
 * connection after the answer; one idle longer may still be reset at the
 * reload (browsers, Go and curl resend a request on a reused connection that
 * closed). A client with a pool of connections reaches each of them only as
 * often as its requests go round the pool: Node's agent, 32 sockets at 35
 * keep-alive requests a second, needs about a second for that, and a 1 s
 * window once left three idle ones to be reset (the three-host e2e in CI).
 * Two seconds: twice that. Measured with npm run bench:switch (docs/benchmarks.md).
 */
export const CLOSE_WINDOW_MS = 2000;
/** The longest the marker waits for the master to retire the old workers, and then for them to finish. */
const SWAP_LIMIT_MS = 10000;
const FINISH_LIMIT_MS = 1000;
// In-proxy shell: paths as arguments ($1 the config dir or file, ...).
/**
 * Writes stdin to $1/.nginx.conf.new, makes sure the state directory $2 exists
 * and removes a closing marker $3 a killed run left (every answer would close
 * its connection until the next reload).
 */
const WRITE_NEW = 'mkdir -p "$1" "$2" && rm -f "$3" && cat > "$1/.nginx.conf.new"';
/** Keeps the serving config as $2 (when there is one), then renames $1 into its place $3. */
const INSTALL = '[ ! -f "$3" ] || cp -f "$3" "$2"; mv -f "$1" "$3"';
/** nginx runs (its pid file names a live process): a reload, not a start. */
const NGINX_RUNS = 'test -s /run/nginx.pid && kill -0 "$(cat /run/nginx.pid)"';
/** Puts $1 (the previous config) back as $2 and reloads. */
const RESTORE = 'mv -f "$1" "$2" && nginx -s reload -c "$2"';

/** Copies $1 to each of $2 and $3 that does not exist yet: mode 400, $1's owner (chmod first: root here may not chmod another user's file). */
const SEED_COPIES = 'set -e; for c in "$2" "$3"; do [ -e "$c" ] || { cp "$1" "$c"; chmod 400 "$c"; chown "$(stat -c %u "$1")" "$c"; }; done';

/**
 * A proxy that served its certificate from one file (before the two copies of
 * TLS_FILES) keeps serving it across the reload to a config that names the
 * copies: each missing copy starts as that file. The tls-config step then
 * replaces both, and the one file goes once the new config serves.
 */
async function seedCopies(step: Step, proxy: Proxy, config: string): Promise<boolean> {
    if (!config.includes(TLS_FILES.even) || (await proxy.exec("test", "-f", TLS_SINGLE_FILE)).status !== 0) return false;
    const seeded = await proxy.exec("sh", "-c", SEED_COPIES, "sh", TLS_SINGLE_FILE, TLS_FILES.even, TLS_FILES.odd);
    if (seeded.status !== 0) step.fail(`could not copy the certificate in service (${TLS_SINGLE_FILE}) to ${TLS_FILES.even} and ${TLS_FILES.odd}: ${seeded.stderr.trim()}`);
    return true;
}

/**
 * A config that serves no certificate from config (HTTPS turned off, or
 * certificates from ACME now) leaves no private key behind in the proxy's
 * state: once it serves, the tls-config step's directory goes.
 */
async function forgetCertificate(step: Step, proxy: Proxy, config: string): Promise<void> {
    if (config.includes(`${TLS_DIR}/`) || (await proxy.exec("test", "-e", TLS_DIR)).status !== 0) return;
    const removed = await proxy.exec("rm", "-rf", TLS_DIR);
    if (removed.status !== 0) step.fail(`could not remove the certificate and key no listener uses any more (${TLS_DIR}): ${removed.stderr.trim()}`);
    step.say(`no listener serves the certificate from config any more: removed it and its key (${TLS_DIR})`);
}

/**
 * Reloads nginx so that its old workers find no keep-alive connection idle to
 * cut: for CLOSE_WINDOW_MS before the reload, and until the new config
 * answers, every answer asks its client to close the connection (the closing
 * marker, read per request by the serving config; a config from before the
 * marker ignores it). In-flight requests the old workers finish meanwhile
 * close too, rather than leave a connection their worker is about to close.
 */
async function reloadThenCheck(step: Step, proxy: Proxy, answers: () => Promise<void>): Promise<void> {
    if (!(await proxy.writeState(CLOSING_MARKER, ""))) step.fail(`could not set the closing marker in ${proxy.container}`);
    try {
        step.say(`clients asked to close their keep-alive connections; reloading in ${CLOSE_WINDOW_MS} ms`);
        await sleep(CLOSE_WINDOW_MS);
        const workers = async () => {
            const r = await proxy.exec("sh", "-c", PROCESS_TITLES);
            return r.status === 0 ? nginxWorkers(r.stdout) : undefined;
        };
        const before = (await workers())?.serving ?? [];
        const reloaded = await proxy.exec("nginx", "-s", "reload", "-c", CONF);
        if (reloaded.status !== 0) step.fail(`nginx -s reload failed: ${reloaded.stderr.trim()}`);
        step.say("config installed; nginx reloaded (old workers drain for up to worker_shutdown_timeout)");
        await oldWorkersRetired(step, before, workers);
        await answers();
    } finally {
        await proxy.removeState(CLOSING_MARKER);
    }
}

/**
 * Holds the closing marker until the master has told the old workers to quit
 * (each closes its idle keep-alive connections then) and they have finished
 * their requests, or FINISH_LIMIT_MS after that (a stream keeps its worker
 * up to worker_shutdown_timeout; a request no longer reaches it). `nginx -s
 * reload` returns as soon as the master has the signal: removed then, the
 * marker let old workers answer "keep-alive" on connections they closed a
 * moment later, and the clients that reused them were reset (the reload test
 * under load, 1-6 of 7500 requests).
 */
async function oldWorkersRetired(step: Step, before: string[], workers: () => Promise<{ serving: string[]; shutting: string[] } | undefined>): Promise<void> {
    const t0 = Date.now();
    let quitAt: number | undefined;
    for (;;) {
        const now = await workers();
        const stage = now ? reloadStage(before, now) : "waiting";
        if (stage !== "waiting") quitAt ??= Date.now();
        if (stage === "done" || (quitAt !== undefined && Date.now() - quitAt >= FINISH_LIMIT_MS)) {
            step.say(`old workers told to quit${stage === "done" ? " and gone" : ", still finishing a stream"} after ${Date.now() - t0} ms`);
            return;
        }
        if (Date.now() - t0 >= SWAP_LIMIT_MS) {
            step.say(`the old workers still serve ${SWAP_LIMIT_MS / 1000}s after the reload${now ? "" : " (the proxy's processes could not be read)"}; going on`);
            return;
        }
        await sleep(50);
    }
}

/** Until the live listener answers /healthz (15 s); else the previous config goes back, or the proxy's last lines are shown. */
async function answersHealthz(step: Step, proxy: Proxy, live: Listener): Promise<void> {
    for (let i = 0; i < 75; i++) {
        if ((await proxy.curl(live, ["-fsS", "-m", "2", "-o", "/dev/null"], "/healthz")).status === 0) {
            step.say("proxy answers /healthz");
            return;
        }
        await sleep(200);
    }
    if ((await proxy.exec("test", "-f", PREVIOUS)).status === 0) {
        await proxy.exec("sh", "-c", RESTORE, "sh", PREVIOUS, CONF);
        step.fail("proxy did not answer /healthz after the config change; the previous config was restored");
    }
    const logs = await step.docker.run(["logs", "--tail", "8", proxy.container]);
    const lines = `${logs.stdout}${logs.stderr}`.replace(/\n+$/, "").split("\n").map((l) => `  | ${l}`);
    step.fail(`proxy did not answer /healthz within 15s (a listener's address or port taken?). Its last lines:\n${lines.join("\n")}`);
}

async function proxyConfig(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY");
    const live = liveListener(step.env, false);
    if (typeof live === "string") step.fail(live);
    const config = fs.readFileSync(0, "utf8");
    await step.waitRunning(env.SWITCHYARD_PROXY, 60);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    const written = await step.docker.run(["exec", "-i", env.SWITCHYARD_PROXY, "sh", "-c", WRITE_NEW, "sh", CONF_DIR, STATE_DIR, CLOSING], config);
    if (written.status !== 0) step.fail(`could not write the new config into ${env.SWITCHYARD_PROXY}: ${written.stderr.trim()}`);
    const tested = await proxy.exec("nginx", "-t", "-q", "-c", NEW);
    if (tested.status !== 0) {
        await proxy.exec("rm", "-f", NEW);
        step.fail(`nginx rejected the new config; the previous config still serves. nginx -t said: ${`${tested.stdout}${tested.stderr}`.replace(/\n/g, " ")}`);
    }
    step.say("new config passed nginx -t");
    const seeded = await seedCopies(step, proxy, config);
    const healthy = () => answersHealthz(step, proxy, live);
    if ((await proxy.exec("cmp", "-s", NEW, CONF)).status === 0) {
        await proxy.exec("rm", "-f", NEW);
        step.say("config unchanged; no reload");
        await healthy();
    } else {
        const installed = await proxy.exec("sh", "-c", INSTALL, "sh", NEW, PREVIOUS, CONF);
        if (installed.status !== 0) step.fail(`could not install the new config in ${env.SWITCHYARD_PROXY}: ${installed.stderr.trim()}`);
        if ((await proxy.exec("sh", "-c", NGINX_RUNS)).status === 0) {
            await reloadThenCheck(step, proxy, healthy);
        } else {
            step.say("config installed; nginx starts with it");
            await healthy();
        }
    }
    // The config that names the copies serves: the one file they were seeded from goes.
    if (seeded) await proxy.exec("rm", "-f", TLS_SINGLE_FILE);
    await forgetCertificate(step, proxy, config);
}

if (require.main === module) void Step.run("proxy-config", proxyConfig);
