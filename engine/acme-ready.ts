// acme-ready: wait for the ACME sidecar's first certificate, then for the
// proxy's HTTPS listener to answer with it. The sidecar keeps renewing on its
// own afterwards; this step runs again only when the sidecar is re-created.
// Fails after ACME_TIMEOUT seconds with the sidecar's last log lines (a name
// that does not reach this host's port 80, a CA that refuses the order).
//
// env: SWITCHYARD_PROXY, ACME_CONTAINER, ACME_TLS_FILE, ACME_NAMES,
//      LIVE_TLS_SOCKET (host networking) or LIVE_TLS_LISTEN_PORT, ACME_TIMEOUT
//      (optional, default 180)
import { liveListener, Proxy } from "./docker";
import { sleep, Step } from "./step";

async function acmeReady(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "ACME_CONTAINER", "ACME_TLS_FILE", "ACME_NAMES");
    const timeout = step.env.ACME_TIMEOUT || "180";
    if (!/^[1-9][0-9]*$/.test(timeout)) step.fail(`ACME_TIMEOUT '${timeout}' must be a whole number of seconds >= 1`);
    const https = liveListener(step.env, true);
    if (typeof https === "string") step.fail(https);
    await step.waitRunning(env.SWITCHYARD_PROXY, 60);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    step.say(`waiting up to ${timeout}s for the certificate of ${env.ACME_NAMES} from the ACME sidecar`);
    const deadline = Date.now() + Number(timeout) * 1000;
    for (;;) {
        if ((await proxy.exec("test", "-s", env.ACME_TLS_FILE)).status === 0) {
            const r = await proxy.curl(https, ["-sv", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"], "/healthz");
            if (r.stdout.trim() === "200") {
                const expiry = /^\*\s+expire date: (.*)$/m.exec(r.stderr)?.[1];
                step.say(`HTTPS answers with the ACME certificate${expiry ? ` (expires ${expiry})` : ""}; the sidecar renews it from here on`);
                return;
            }
        }
        if (Date.now() >= deadline) {
            const logs = await step.docker.run(["logs", "--tail", "20", env.ACME_CONTAINER]);
            const lines = `${logs.stdout}${logs.stderr}`.replace(/\n+$/, "").split("\n").map((l) => `  | ${l}`);
            step.fail(`no certificate for ${env.ACME_NAMES} within ${timeout}s. The sidecar's last lines:\n${lines.join("\n")}`);
        }
        await sleep(1000);
    }
}

if (require.main === module) void Step.run("acme-ready", acmeReady);
