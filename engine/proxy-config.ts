// proxy config: install a new nginx.conf (read from stdin) in the proxy's
// mounted config directory: write a temp file, `nginx -t` it, rename it into
// place, reload, and check /healthz. A config nginx rejects never replaces
// the one that serves; a reload that does not come back healthy is undone.
//
// env: SWITCHYARD_PROXY, LIVE_SOCKET (host networking) or LIVE_LISTEN_PORT
import * as fs from "fs";
import { CONF_DIR, STATE_DIR, TLS_SUBDIR } from "../lib/routemarker";
import { liveListener, Proxy } from "./docker";
import { sleep, Step } from "./step";

const NEW = `${CONF_DIR}/.nginx.conf.new`;
const CONF = `${CONF_DIR}/nginx.conf`;
const PREVIOUS = `${CONF_DIR}/nginx.conf.previous`;
const TLS_DIR = `${STATE_DIR}/${TLS_SUBDIR}`;
// In-proxy shell: paths as arguments ($1 the config dir or file, ...).
/** Writes stdin to $1/.nginx.conf.new (and makes sure the state directory $2 exists). */
const WRITE_NEW = 'mkdir -p "$1" "$2" && cat > "$1/.nginx.conf.new"';
/** Keeps the serving config as $2 (when there is one), then renames $1 into its place $3. */
const INSTALL = '[ ! -f "$3" ] || cp -f "$3" "$2"; mv -f "$1" "$3"';
/** nginx runs (its pid file names a live process): a reload, not a start. */
const NGINX_RUNS = 'test -s /run/nginx.pid && kill -0 "$(cat /run/nginx.pid)"';
/** Puts $1 (the previous config) back as $2 and reloads. */
const RESTORE = 'mv -f "$1" "$2" && nginx -s reload -c "$2"';

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

async function proxyConfig(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY");
    const live = liveListener(step.env, false);
    if (typeof live === "string") step.fail(live);
    const config = fs.readFileSync(0, "utf8");
    await step.waitRunning(env.SWITCHYARD_PROXY, 60);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    const written = await step.docker.run(["exec", "-i", env.SWITCHYARD_PROXY, "sh", "-c", WRITE_NEW, "sh", CONF_DIR, STATE_DIR], config);
    if (written.status !== 0) step.fail(`could not write the new config into ${env.SWITCHYARD_PROXY}: ${written.stderr.trim()}`);
    const tested = await proxy.exec("nginx", "-t", "-q", "-c", NEW);
    if (tested.status !== 0) {
        await proxy.exec("rm", "-f", NEW);
        step.fail(`nginx rejected the new config; the previous config still serves. nginx -t said: ${`${tested.stdout}${tested.stderr}`.replace(/\n/g, " ")}`);
    }
    step.say("new config passed nginx -t");
    if ((await proxy.exec("cmp", "-s", NEW, CONF)).status === 0) {
        await proxy.exec("rm", "-f", NEW);
        step.say("config unchanged; no reload");
    } else {
        const installed = await proxy.exec("sh", "-c", INSTALL, "sh", NEW, PREVIOUS, CONF);
        if (installed.status !== 0) step.fail(`could not install the new config in ${env.SWITCHYARD_PROXY}: ${installed.stderr.trim()}`);
        if ((await proxy.exec("sh", "-c", NGINX_RUNS)).status === 0) {
            const reloaded = await proxy.exec("nginx", "-s", "reload", "-c", CONF);
            if (reloaded.status !== 0) step.fail(`nginx -s reload failed: ${reloaded.stderr.trim()}`);
            step.say("config installed; nginx reloaded (old workers drain for up to worker_shutdown_timeout)");
        } else {
            step.say("config installed; nginx starts with it");
        }
    }
    for (let i = 0; i < 75; i++) {
        if ((await proxy.curl(live, ["-fsS", "-m", "2", "-o", "/dev/null"], "/healthz")).status === 0) {
            step.say("proxy answers /healthz");
            await forgetCertificate(step, proxy, config);
            return;
        }
        await sleep(200);
    }
    if ((await proxy.exec("test", "-f", PREVIOUS)).status === 0) {
        await proxy.exec("sh", "-c", RESTORE, "sh", PREVIOUS, CONF);
        step.fail("proxy did not answer /healthz after the config change; the previous config was restored");
    }
    const logs = await step.docker.run(["logs", "--tail", "8", env.SWITCHYARD_PROXY]);
    const lines = `${logs.stdout}${logs.stderr}`.replace(/\n+$/, "").split("\n").map((l) => `  | ${l}`);
    step.fail(`proxy did not answer /healthz within 15s (a listener's address or port taken?). Its last lines:\n${lines.join("\n")}`);
}

if (require.main === module) void Step.run("proxy-config", proxyConfig);
