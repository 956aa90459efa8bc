// tls-config: install the proxy's certificate chain and key (one PEM file,
// TLS_FILE in the state volume) so that the HTTPS listeners use them from the
// next handshake on, with no reload (nginx names the file through a variable
// and reads it per handshake). Written under a temporary name and renamed: a
// handshake sees the old pair or the new one, never half of each. Then one
// HTTPS request from inside the proxy must answer, or the previous file is put
// back and the step fails, so a bad pair never stays in service.
//
// env: SWITCHYARD_PROXY, TLS_PEM (secret: certificate chain, then key; it
//      reaches the proxy on stdin only), TLS_FINGERPRINT (sha256 of the
//      certificate: a new one runs this step), TLS_FILE, and LIVE_TLS_SOCKET
//      (host networking) or LIVE_TLS_LISTEN_PORT
import * as path from "path";
import { CONF_DIR, STATE_DIR, TLS_SUBDIR } from "../lib/routemarker";
import { liveListener, Proxy } from "./docker";
import { Step } from "./step";

/**
 * The worker processes read the file at each handshake: it belongs to the
 * user they run as (the config's `user` line; before it had one, the image's
 * compiled-in default), readable by it alone.
 */
const WORKER_USER = 'u=$(sed -n "s/^user \\([a-z_][a-z0-9_-]*\\).*;/\\1/p" "$1" | head -n 1); [ -n "$u" ] || u=$(nginx -V 2>&1 | tr " " "\\n" | sed -n "s/^--user=//p"); echo "${u:-nobody}"';
/** Installs stdin as $2 (in directory $1, owned by $3, mode 400), keeping the file it replaces as $2.previous. */
const INSTALL_PEM = `set -e
umask 077
mkdir -p "$1" && chmod 711 "$1"
rm -f "$2.new"
cat > "$2.new"
chmod 400 "$2.new" && chown "$3" "$2.new"
rm -f "$2.previous"
[ ! -f "$2" ] || { cp "$2" "$2.previous" && chmod 400 "$2.previous" && chown "$3" "$2.previous"; }
mv -f "$2.new" "$2"`;
/** Puts $1.previous back in service (or removes $1 when there was none). */
const RESTORE_PEM = 'if [ -f "$1.previous" ]; then mv -f "$1.previous" "$1"; else rm -f "$1"; fi';

async function tlsConfig(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "TLS_PEM", "TLS_FINGERPRINT", "TLS_FILE");
    if (!new RegExp(`^${STATE_DIR}/${TLS_SUBDIR}/[a-z.]+$`).test(env.TLS_FILE)) step.fail(`TLS_FILE '${env.TLS_FILE}' must be a file under ${STATE_DIR}/${TLS_SUBDIR}/`);
    const https = liveListener(step.env, true);
    if (typeof https === "string") step.fail(https);
    await step.waitRunning(env.SWITCHYARD_PROXY, 60);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    const worker = (await proxy.exec("sh", "-c", WORKER_USER, "sh", `${CONF_DIR}/nginx.conf`)).stdout.trim() || "nobody";
    const installed = await step.docker.run(["exec", "-i", env.SWITCHYARD_PROXY, "sh", "-c", INSTALL_PEM, "sh", path.posix.dirname(env.TLS_FILE), env.TLS_FILE, worker], env.TLS_PEM);
    if (installed.status !== 0) step.fail(`could not write the certificate into ${env.SWITCHYARD_PROXY}`);
    const short = env.TLS_FINGERPRINT.slice(0, 16);
    step.say(`installed certificate ${short}… (readable by ${worker} only); the next handshake uses it`);
    const code = (await proxy.curl(https, ["-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"], "/healthz")).stdout.trim();
    if (code !== "200") {
        await proxy.exec("sh", "-c", RESTORE_PEM, "sh", env.TLS_FILE);
        step.fail(`HTTPS on ${https.label} answered ${code || "nothing"} with the new certificate; the previous one is back in service`);
    }
    await proxy.exec("rm", "-f", `${env.TLS_FILE}.previous`);
    step.say(`HTTPS answers with certificate ${short}…`);
}

if (require.main === module) void Step.run("tls-config", tlsConfig);
