// The metrics sidecar against a real nginx and the sample app: nginx writes
// its access records one file a minute into the proxy's state volume, the
// sidecar (the compiled engine/metrics-exporter.ts on a Node image) reads them
// as they come and serves Prometheus's text. Scraped before, during and after
// a switch under load: the counters only grow, and the split by colour is the
// load generator's own count.
import * as assert from "assert";
import { docker, dockerAvailable, freePorts, nginxWorkers, runStep, runStepAsync, TestStack } from "./fixture";
import { get, startLoad } from "./load";
import { parsePrometheus } from "./prometheus";

describe("metrics: the proxy's figures for Prometheus (real Docker engine)", function () {
    this.timeout(300000);
    const [metricsPort] = freePorts(1);
    const stack = new TestStack("metrics", { replicas: 1, metricsPort, canary: { cookieMaxAgeSeconds: 120 } });
    const scrape = async () => {
        const a = await get(metricsPort, "/metrics");
        assert.strictEqual(a.status, 200, a.body);
        return parsePrometheus(a.body);
    };
    const requests = (m: Map<string, number>, colour: string) => m.get(`switchyard_requests_total{listener="live",colour="${colour}",status_class="2xx"}`) ?? 0;

    before(function () {
        const missing = dockerAvailable();
        if (missing) throw new Error(`these tests need a Docker engine and the local images: ${missing}`);
        stack.up(5);
        stack.passGate("blue", stack.startSlot("blue", 1));
        stack.passGate("green", stack.startSlot("green", 1));
    });
    after(() => stack.down());

    it("scraped before, during and after a switch under load: counters only grow; the split by colour matches the clients' own count within 1 %", async () => {
        const before = await scrape();
        assert.strictEqual(before.get('switchyard_live_colour{colour="blue"}'), 1);
        const workers = nginxWorkers(stack.proxy);
        const load = startLoad({ port: stack.livePort, rate: 120, durationMs: 16000, postShare: 0, readShare: 0 });
        const scrapes = [before];
        for (let i = 0; i < 3; i++) {
            await new Promise((r) => setTimeout(r, 2500));
            scrapes.push(await scrape());
        }
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "green", STANDBY: "keep" })).status, 0);
        for (let i = 0; i < 3; i++) {
            await new Promise((r) => setTimeout(r, 2500));
            scrapes.push(await scrape());
        }
        const rep = await load.done;
        // The sidecar reads every half second: give it the last records.
        await new Promise((r) => setTimeout(r, 1500));
        const last = await scrape();
        scrapes.push(last);
        assert.strictEqual(rep.failed, 0);
        assert.strictEqual(nginxWorkers(stack.proxy), workers, "the sidecar needs no reload");
        // Every counter only grows from one scrape to the next.
        for (let i = 1; i < scrapes.length; i++) {
            for (const [name, v] of scrapes[i - 1]) {
                if (!/_total|_bucket|_count|_sum/.test(name)) continue;
                assert.ok((scrapes[i].get(name) ?? 0) >= v, `${name} went from ${v} to ${scrapes[i].get(name)} between scrapes ${i - 1} and ${i}`);
            }
        }
        const seen = { blue: rep.samples.filter((x) => x.colour === "blue").length, green: rep.samples.filter((x) => x.colour === "green").length };
        for (const colour of ["blue", "green"] as const) {
            const counted = requests(last, colour) - requests(before, colour);
            assert.ok(Math.abs(counted - seen[colour]) <= Math.max(1, seen[colour] * 0.01), `${colour}: the sidecar counted ${counted}, the clients saw ${seen[colour]}`);
        }
        assert.ok(seen.blue > 500 && seen.green > 500, JSON.stringify(seen));
        assert.strictEqual(last.get('switchyard_live_colour{colour="green"}'), 1);
        assert.ok((last.get('switchyard_upstream_response_seconds_count{colour="green"}') ?? 0) >= seen.green, "each answer from green is in its latency histogram");
        assert.strictEqual(last.get('switchyard_upstream_response_seconds_bucket{colour="green",le="+Inf"}'), last.get('switchyard_upstream_response_seconds_count{colour="green"}'));
    });

    it("shows a running canary's weight, and the records of minutes nginx has left are removed", () => {
        docker("exec", stack.proxy, "sh", "-c", "cd /etc/switchyard/state && mkdir -p canary-blue.w30 && : > canary-blue.w30/on && ln -sfn canary-blue.w30 canary-blue");
        return scrape().then((m) => {
            assert.strictEqual(m.get('switchyard_canary_weight_percent{colour="blue"}'), 30);
            assert.strictEqual(m.get('switchyard_canary_weight_percent{colour="green"}'), 0);
            docker("exec", stack.proxy, "rm", "-f", "/etc/switchyard/state/canary-blue");
            // The directory is nginx's workers' (they write) and root's group (the sidecar reads and removes): nobody else's.
            assert.strictEqual(docker("exec", stack.proxy, "stat", "-c", "%U %G %a", "/etc/switchyard/state/logs"), "nobody root 770");
            const files = docker("exec", stack.proxy, "ls", "/etc/switchyard/state/logs").split("\n");
            assert.ok(files.every((f) => /^access-\d{4}-\d\d-\d\dT\d\d:\d\d\.log$/.test(f)), files.join(" "));
            assert.ok(files.length <= 2, `files of minutes left behind: ${files.join(" ")}`);
        });
    });

    it("the bake reads the sidecar's files from where it stopped: a colour failing 20 % of real requests fails at its first check, counted as the clients saw it", async () => {
        stack.passGate("blue", stack.startSlot("blue", 1, { env: ["SAMPLE_FAIL_PERCENT=20"] }));
        assert.strictEqual(runStep("repoint", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep" })).status, 0);
        const load = startLoad({ port: stack.livePort, rate: 80, durationMs: 10000, postShare: 0, readShare: 0 });
        const t0 = Date.now();
        const r = await runStepAsync(
            "bake",
            stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep", BAKE_SECONDS: "20", BAKE_MAX_ERROR_PERCENT: "5", BAKE_MAX_P99_MS: "", BAKE_MIN_REQUESTS: "30", RECORDS_DIR: "/etc/switchyard/state/logs" }),
        );
        const seconds = (Date.now() - t0) / 1000;
        const rep = await load.stop();
        assert.strictEqual(r.status, 1, r.stdout);
        const m = /FAILED: bake failed on .* after \d+s of 20s: blue (\d+) of (\d+) real requests answered 5xx .*; live traffic is back on green/.exec(r.stderr);
        assert.ok(m, r.stderr);
        const [errors, total] = [Number(m[1]), Number(m[2])];
        assert.ok(total >= 30 && errors / total > 0.1 && errors / total < 0.3, `${errors} of ${total}`);
        assert.ok(seconds < 8, `the bake took ${seconds}s`);
        const blue500 = rep.samples.filter((x) => x.colour === "blue" && x.status === 500).length;
        assert.ok(errors <= blue500 + 1, `the bake counted ${errors} 500s, the clients saw ${blue500}`);
        assert.strictEqual((await get(stack.livePort, "/version")).headers["x-switchyard-route"], "green");
    });

    it("in flight and open streams by listener and colour: each held request counts from its start to its end, through every path the proxy sends requests by (plain, once, resend, stream)", async () => {
        const live = (await scrape()).get('switchyard_live_colour{colour="green"}') === 1 ? "green" : "blue";
        const idleColour = live === "green" ? "blue" : "green";
        // The preview's colour healthy again: the bake above left blue failing 20 % of requests, which answers some at once.
        stack.passGate(idleColour, stack.startSlot(idleColour, 1));
        const gauges = (m: Map<string, number>) => ({
            inFlight: m.get(`switchyard_in_flight_requests{listener="live",colour="${live}"}`),
            ws: m.get(`switchyard_open_streams{listener="live",colour="${live}",kind="ws"}`),
            sse: m.get(`switchyard_open_streams{listener="live",colour="${live}",kind="sse"}`),
            previewInFlight: m.get(`switchyard_in_flight_requests{listener="preview",colour="${idleColour}"}`),
            previewWs: m.get(`switchyard_open_streams{listener="preview",colour="${idleColour}",kind="ws"}`),
        });
        const idle = gauges(await scrape());
        assert.deepStrictEqual(idle, { inFlight: 0, ws: 0, sse: 0, previewInFlight: 0, previewWs: 0 }, "nothing held yet");
        // Held 3 s each by the app: a GET (resent if need be), a POST (sent once), an event stream and a WebSocket
        // upgrade (the app answers it as plain HTTP: the proxy's path is the stream's all the same); on the preview
        // listener, a GET and a WebSocket upgrade to the idle colour.
        const held = [
            get(stack.livePort, "/slow?ms=3000"),
            get(stack.livePort, "/slow?ms=3000", { method: "POST", body: "x" }),
            get(stack.livePort, "/slow?ms=3000", { headers: { Accept: "text/event-stream" } }),
            get(stack.livePort, "/slow?ms=3000", { headers: { Connection: "Upgrade", Upgrade: "websocket" } }),
            get(stack.previewPort, "/slow?ms=3000"),
            get(stack.previewPort, "/slow?ms=3000", { headers: { Connection: "Upgrade", Upgrade: "websocket" } }),
        ];
        await new Promise((r) => setTimeout(r, 1500));
        const during = gauges(await scrape());
        const answers = await Promise.all(held);
        assert.deepStrictEqual(answers.map((a) => a.headers["x-switchyard-color"]), [...Array(4).fill(live), idleColour, idleColour], answers.map((a) => `${a.status} ${a.body.slice(0, 80)}`).join(" | "));
        await new Promise((r) => setTimeout(r, 1000));
        const after = gauges(await scrape());
        assert.deepStrictEqual(during, { inFlight: 2, ws: 1, sse: 1, previewInFlight: 1, previewWs: 1 }, "while the app holds them");
        assert.deepStrictEqual(after, { inFlight: 0, ws: 0, sse: 0, previewInFlight: 0, previewWs: 0 }, "once answered");
    });

    it("bad RECORDS_DIR is refused by name", () => {
        const r = runStep("bake", stack.env({ SWITCHYARD_COLOR: "blue", STANDBY: "keep", BAKE_SECONDS: "5", BAKE_MAX_ERROR_PERCENT: "5", BAKE_MIN_REQUESTS: "30", RECORDS_DIR: "logs; rm -rf /" }));
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /RECORDS_DIR 'logs; rm -rf \/' must be an absolute path in the proxy/);
    });

    it("serves /metrics only, on its own address", async () => {
        const other = await get(metricsPort, "/records");
        assert.strictEqual(other.status, 404);
        assert.strictEqual(docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", `${stack.prefix}-metrics`), "host");
    });
});
