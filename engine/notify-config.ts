// notify-config: keep the stack's webhook URL (a secret) in the proxy's state
// volume, readable by root in the proxy only, so that every release step can
// report a failure without carrying the secret in its own inputs: a changed
// URL re-runs this step alone. An empty URL turns notifications off. The URL
// travels on stdin, never on a command line.
//
// env: SWITCHYARD_PROXY, NOTIFY_WEBHOOK_URL (secret; may be empty)
import { WEBHOOK_URL_FILE } from "../lib/routemarker";
import { Proxy } from "./docker";
import { Step } from "./step";

async function notifyConfig(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY");
    await step.waitRunning(env.SWITCHYARD_PROXY, 30);
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    const url = step.env.NOTIFY_WEBHOOK_URL ?? "";
    if (url) {
        if (!(await proxy.writeState(WEBHOOK_URL_FILE, url, true))) step.fail(`could not store the webhook URL in ${env.SWITCHYARD_PROXY}`);
        step.say("notifications on: failed steps and rollbacks are posted to the configured webhook");
    } else {
        if (!(await proxy.removeState(WEBHOOK_URL_FILE))) step.fail(`could not remove the webhook URL from ${env.SWITCHYARD_PROXY}`);
        step.say("notifications off (no notify.webhookUrl)");
    }
}

if (require.main === module) void Step.run("notify-config", notifyConfig);
