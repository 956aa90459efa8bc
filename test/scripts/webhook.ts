// A real webhook receiver on 127.0.0.1 for the notification tests: records
// every JSON message it is sent; can be told to answer 500 to every request.
import * as http from "http";
import * as net from "net";

export interface Received {
    at: number;
    path: string;
    body: Record<string, any>;
}

export class WebhookReceiver {
    readonly messages: Received[] = [];
    failing = false;
    private server?: http.Server;
    port = 0;

    async start(): Promise<this> {
        this.server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (c) => (body += c));
            req.on("end", () => {
                if (this.failing) {
                    res.writeHead(500).end("no");
                    return;
                }
                let parsed: Record<string, any> = {};
                try {
                    parsed = JSON.parse(body);
                } catch {
                    parsed = { unparsable: body };
                }
                this.messages.push({ at: Date.now(), path: req.url ?? "", body: parsed });
                res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
            });
        });
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
        this.port = (this.server.address() as net.AddressInfo).port;
        return this;
    }

    /** A Slack-like URL whose path is the credential. */
    get url(): string {
        return `http://127.0.0.1:${this.port}/services/T000/B000/secret-token-${this.port}`;
    }

    since(t: number): Received[] {
        return this.messages.filter((m) => m.at >= t);
    }

    async stop(): Promise<void> {
        await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    }
}
