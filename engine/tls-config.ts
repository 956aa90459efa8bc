// tls-config: install the proxy's certificate chain and key (one PEM file, in
// two copies: TLS_FILES, even and odd) so that the HTTPS listeners use them
// from the next handshake on, with no reload (nginx names the file through a
// variable and reads it per handshake). nginx opens the file twice per
// handshake, chain then key, so no copy may change while nginx reads it: it
// reads the even copy in even seconds of the clock and the odd one in odd
// seconds, and each copy is renamed into place a quarter of a second into a
// second that reads the other (about 1.5 s in all). Then one HTTPS request
// from inside the proxy must answer, or the previous pair is put back the same
// way and the step fails, so a bad pair never stays in service.
//
// env: SWITCHYARD_PROXY, TLS_PEM (secret: certificate chain, then key; it
//      reaches the proxy on stdin only), TLS_FINGERPRINT (sha256 of the
//      certificate: a new one runs this step), TLS_FILES (the even copy, a
//      space, the odd copy), and LIVE_TLS_SOCKET (host networking) or
//      LIVE_TLS_LISTEN_PORT
import { X509Certificate, createPrivateKey } from "crypto";
import * as path from "path";
import { CONF_DIR, STATE_DIR, TLS_SUBDIR } from "../lib/routemarker";
import { execFailure, liveListener, Proxy } from "./docker";
import { Step } from "./step";

/**
 * The worker processes read the file at each handshake: it belongs to the
 * user they run as (the config's `user` line; before it had one, the image's
 * compiled-in default), readable by it alone.
 */
const WORKER_USER = 'u=$(sed -n "s/^user \\([a-z_][a-z0-9_-]*\\).*;/\\1/p" "$1" | head -n 1); [ -n "$u" ] || u=$(nginx -V 2>&1 | tr " " "\\n" | sed -n "s/^--user=//p"); echo "${u:-nobody}"';
/**
 * Installs a pair as the two copies $3 (even) and $4 (odd), in directory $1,
 * owned by $2, mode 400: from stdin, or from the file $5 when given. A first
 * install writes both at once (nothing serves them yet); a replacement keeps
 * the even copy as $1/.previous and renames each copy in 250 ms into a second
 * in which nginx reads the other one. Runs in any image: date +%s and sleep.
 */
export const INSTALL_COPIES = `set -e
umask 077
mkdir -p "$1" && chmod 711 "$1"
rm -f "$1/.new.even" "$1/.new.odd"
if [ -n "$5" ]; then cp "$5" "$1/.new.even"; else cat > "$1/.new.even"; fi
cp "$1/.new.even" "$1/.new.odd"
chmod 400 "$1/.new.even" "$1/.new.odd" && chown "$2" "$1/.new.even" "$1/.new.odd"
if [ ! -f "$3" ] || [ ! -f "$4" ]; then mv -f "$1/.new.even" "$3"; mv -f "$1/.new.odd" "$4"; echo first; exit 0; fi
[ -n "$5" ] || { rm -f "$1/.previous"; cp "$3" "$1/.previous"; chmod 400 "$1/.previous"; chown "$2" "$1/.previous"; }
while [ -e "$1/.new.even" ] || [ -e "$1/.new.odd" ]; do
  s=$(date +%s); while [ "$(date +%s)" = "$s" ]; do sleep 0.05; done
  sleep 0.25
  if [ $(( $(date +%s) % 2 )) -eq 1 ]; then idle=even; else idle=odd; fi
  if [ -e "$1/.new.$idle" ]; then [ "$idle" = even ] && mv -f "$1/.new.even" "$3" || mv -f "$1/.new.odd" "$4"; fi
done
echo replaced`;

/** The two copies from TLS_FILES, each a file under the state volume's TLS directory; or what is wrong. */
export function tlsCopies(value: string): { even: string; odd: string } | string {
    const files = value.split(" ");
    const shape = new RegExp(`^${STATE_DIR}/${TLS_SUBDIR}/[a-z.]+$`);
    if (files.length !== 2 || files[0] === files[1] || !files.every((f) => shape.test(f))) {
        return `TLS_FILES '${value}' must be two different files under ${STATE_DIR}/${TLS_SUBDIR}/, the even copy then the odd one, separated by a space`;
    }
    return { even: files[0], odd: files[1] };
}

/** Whether the PEM's first certificate and its key belong together; checked before any copy changes. */
function pairFits(pem: string): boolean {
    try {
        return new X509Certificate(pem).checkPrivateKey(createPrivateKey(pem));
    } catch {
        return false;
    }
}

async function tlsConfig(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "TLS_PEM", "TLS_FINGERPRINT", "TLS_FILES");
    const copies = tlsCopies(env.TLS_FILES);
    if (typeof copies === "string") step.fail(copies);
    if (!pairFits(env.TLS_PEM)) step.fail("TLS_PEM = [secret]: its key does not belong to its first certificate (or either is not PEM); nothing was installed");
    const https = liveListener(step.env, true);
    if (typeof https === "string") step.fail(https);
    await step.waitRunning(env.SWITCHYARD_PROXY, 60);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    const dir = path.posix.dirname(copies.even);
    const read = await proxy.exec("sh", "-c", WORKER_USER, "sh", `${CONF_DIR}/nginx.conf`);
    // An exec that failed is not "nobody": a pair owned by the wrong user is one nginx's workers cannot read (HTTPS down), and the previous pair would go back the same way.
    if (read.status !== 0) step.fail(`could not read the user nginx's workers run as in ${env.SWITCHYARD_PROXY} (${execFailure(read)}); nothing was installed`);
    const worker = read.stdout.trim() || "nobody";
    const install = (from?: string) => step.docker.run(["exec", "-i", env.SWITCHYARD_PROXY, "sh", "-c", INSTALL_COPIES, "sh", dir, worker, copies.even, copies.odd, from ?? ""], from ? "" : env.TLS_PEM);
    const installed = await install();
    if (installed.status !== 0) step.fail(`could not write the certificate into ${env.SWITCHYARD_PROXY}: ${installed.stderr.trim()}`);
    const short = env.TLS_FINGERPRINT.slice(0, 16);
    const first = installed.stdout.trim() === "first";
    step.say(`installed certificate ${short}… (readable by ${worker} only)${first ? "" : ", each copy in a second nginx read the other"}; the next handshake uses it`);
    const code = (await proxy.curl(https, ["-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"], "/healthz")).stdout.trim();
    if (code !== "200") {
        if (first) await proxy.exec("rm", "-f", copies.even, copies.odd);
        else await install(`${dir}/.previous`);
        step.fail(`HTTPS on ${https.label} answered ${code || "nothing"} with the new certificate; ${first ? "it is removed again (there was none before)" : "the previous one is back in service"}`);
    }
    await proxy.exec("rm", "-f", `${dir}/.previous`);
    step.say(`HTTPS answers with certificate ${short}…`);
}

if (require.main === module) void Step.run("tls-config", tlsConfig);
