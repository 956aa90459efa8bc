// notify.js, the release steps' webhook poster, run as the steps run it
// (node, NOTIFY_URL in the environment) against real receivers on 127.0.0.1.
import * as assert from "assert";
import { spawn } from "child_process";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { WebhookReceiver } from "./webhook";

const NOTIFY = path.resolve(__dirname, "..", "..", "scripts", "release", "notify.js");

function notify(url: string, summary: string): Promise<string> {
    // Asynchronous: the receivers answer from this process's event loop.
    return new Promise((resolve) => {
        const child = spawn(process.execPath, [NOTIFY, "failure", "local", "migrate", "green", "app:1", "app:2", summary], { env: { ...process.env, NOTIFY_URL: url } });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d));
        child.on("close", () => resolve(out));
    });
}

describe("notify.js: what a failure report carries, and where it goes", function () {
    this.timeout(30000);
    const receiver = new WebhookReceiver();
    let redirector: http.Server;
    let redirectPort = 0;

    before(async () => {
        await receiver.start();
        redirector = http.createServer((req, res) => res.writeHead(307, { Location: `http://127.0.0.1:${receiver.port}/stolen` }).end());
        await new Promise<void>((resolve) => redirector.listen(0, "127.0.0.1", resolve));
        redirectPort = (redirector.address() as net.AddressInfo).port;
    });
    after(async () => {
        await receiver.stop();
        redirector?.close();
    });

    it("credentials in the output it reports (a DSN, a password= key) are masked; the rest stays", async () => {
        receiver.messages.length = 0;
        const out = await notify(`http://127.0.0.1:${receiver.port}/hook`, "Error: connect ECONNREFUSED postgres://app:s3cr3t-pw@db.internal:5432/app\nhost=db user=app password=hunter22 dbname=app\nREDIS redis://:r3dis-pw@cache:6379/0 failed");
        assert.match(out, /notified the webhook/);
        assert.strictEqual(receiver.messages.length, 1);
        const sent = JSON.stringify(receiver.messages[0].body);
        for (const secret of ["s3cr3t-pw", "hunter22", "r3dis-pw"]) assert.ok(!sent.includes(secret), `${secret} was sent: ${sent}`);
        assert.match(receiver.messages[0].body.error, /postgres:\/\/app:\[redacted\]@db\.internal:5432\/app/);
        assert.match(receiver.messages[0].body.error, /password=\[redacted\] dbname=app/);
        assert.match(receiver.messages[0].body.error, /redis:\/\/:\[redacted\]@cache:6379\/0 failed/);
    });

    it("a webhook that redirects is not followed: the notification fails, logged, and the release is not affected", async () => {
        receiver.messages.length = 0;
        const out = await notify(`http://127.0.0.1:${redirectPort}/hook`, "gate failed");
        assert.match(out, /notification attempt 2 of 2 failed: .*; the release is not affected/);
        assert.deepStrictEqual(receiver.messages, [], "nothing reached where the redirect pointed");
    });

    it("the ACME sidecar's notifier (renew.py) does not follow a redirect either", async () => {
        receiver.messages.length = 0;
        const out = await new Promise<string>((resolve) => {
            const code = `import renew; renew.notify({"SWITCHYARD_NOTIFY_URL": "http://127.0.0.1:${redirectPort}/hook", "SWITCHYARD_STACK": "local"}, "renewal failed")`;
            const child = spawn("python3", ["-c", code], { env: { ...process.env, PYTHONPATH: path.resolve(__dirname, "..", "..", "scripts", "acme") } });
            let text = "";
            child.stdout.on("data", (d: Buffer) => (text += d));
            child.stderr.on("data", (d: Buffer) => (text += d));
            child.on("close", () => resolve(text));
        });
        assert.match(out, /the webhook did not take the notification: HTTPError/);
        assert.deepStrictEqual(receiver.messages, [], "nothing reached where the redirect pointed");
    });
});
