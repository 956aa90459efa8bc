// The weighted canary's rules (lib/canary.ts) and the split nginx renders for
// it (nginx/render.ts), without Docker. The split is driven against a real
// nginx in test/scripts/canary.test.ts.
import * as assert from "assert";
import * as fs from "fs";
import { bucketNames, canaryLadder, canaryLink, cookieMaxAgeSeconds, parseCanarySteps, stepsProblem } from "../../lib/canary";
import { parseCanaryHosts } from "../../engine/canary-hosts";
import { packageFile } from "../../lib/package";
import { renderNginxConfig } from "../../nginx/render";
import { render } from "../../ops/status";

describe("canary rules (lib/canary.ts)", () => {
    it("a weight w sends buckets b0 .. b(w-1); 100 buckets in all", () => {
        assert.deepStrictEqual(bucketNames(3), ["b0", "b1", "b2"]);
        assert.strictEqual(bucketNames().length, 100);
        assert.strictEqual(new Set(bucketNames()).size, 100);
        assert.strictEqual(canaryLink("green"), "canary-green");
        assert.strictEqual(canaryLadder("green", 25), "canary-green.w25");
    });

    it("weights: whole percents 1-99, rising, 1 to 10 of them", () => {
        assert.strictEqual(stepsProblem([5, 25, 50]), undefined);
        assert.strictEqual(stepsProblem([99]), undefined);
        assert.match(stepsProblem([])!, /at least one weight/);
        assert.match(stepsProblem([10, 10])!, /must rise: 10 follows 10/);
        assert.match(stepsProblem([0])!, /weight 0 must be a whole percent from 1 to 99/);
        assert.match(stepsProblem([12.5])!, /weight 12.5 must be a whole percent/);
        assert.match(stepsProblem(Array.from({ length: 11 }, (_, i) => i + 1))!, /has 11 weights; at most 10/);
    });

    it("CANARY_STEPS is read as digits and commas only", () => {
        assert.deepStrictEqual(parseCanarySteps("10,50"), [10, 50]);
        assert.match(parseCanarySteps("10, 50") as string, /must be whole percents separated by commas/);
        assert.match(parseCanarySteps("$(id)") as string, /must be whole percents separated by commas/);
        assert.match(parseCanarySteps("50,10") as string, /must rise/);
    });

    it("the sticky cookie lives for the whole canary and five minutes more", () => {
        assert.strictEqual(cookieMaxAgeSeconds([10, 50], 30), 360);
    });

    it("npm run status shows a canary in progress, and nothing when none runs", () => {
        const { text } = render("prod", [], "blue", {}, undefined, { canary: { colour: "green", weight: 25 } });
        assert.match(text, /proxy routes live traffic to: blue .*\n  canary: green gets 25 % of new traffic \(clients keep the colour they got\); the release's canary step judges it/);
        assert.doesNotMatch(render("prod", [], "blue", {}, undefined).text, /canary/);
        const last = render("prod", [], "green", {}, undefined, { canaryFigures: ["T green after blue: 10 % -> 50 %, 30s each", "10 %: held for 30s: 412 requests", "passed: re-point sends the rest"] }).text;
        assert.match(last, /  last canary: T green after blue: 10 % -> 50 %, 30s each\n    10 %: held for 30s: 412 requests\n    passed: re-point sends the rest/);
    });

    it("npm run status with several hosts: each host's route and canary weight, and a loud line when their routes differ", () => {
        const canary = { colour: "green" as const, weight: 20 };
        const same = render("prod", [], "blue", {}, undefined, { canary, hosts: ["m1", "m2", "m3"].map((name) => ({ name, route: "blue" as const, canary })) }).text;
        assert.match(same, /routes live traffic to: blue \(read from the running nginx's route marker on m1, the first host\)/);
        assert.match(same, /  each host's proxy:\n    m1 {9}routes to blue; canary: green gets 20 % of new traffic\n    m2 {9}routes to blue; canary: green gets 20 % of new traffic\n    m3 {9}routes to blue; canary: green gets 20 % of new traffic/);
        assert.doesNotMatch(same, /!! the hosts/);
        const split = render("prod", [], "green", {}, undefined, { hosts: [{ name: "m1", route: "green" }, { name: "m2", route: "green" }, { name: "m3", route: "blue" }, { name: "m4" }] }).text;
        assert.match(split, /    m3 {9}routes to blue\n    m4 {9}proxy not running\n  !! the hosts route to different colours/);
        assert.doesNotMatch(render("prod", [], "blue", {}, undefined).text, /each host/);
    });
});

describe("the canary's split in nginx.conf (nginx/render.ts)", () => {
    const base = { appPort: 3000, drainSeconds: 15 };

    it("without canary steps, the config is byte for byte what the template gave before canaries", () => {
        const before = fs.readFileSync(packageFile("nginx", "nginx.conf.template"), "utf8").replace(/\{\{canary(Http|Live|Preview)\}\}/g, "");
        assert.strictEqual(renderNginxConfig(base), renderNginxConfig(base, before));
    });

    it("with them: 100 buckets of 1 % by the request's id, the live colour's choice after the route marker, the cookie only for a client with no pin", () => {
        const conf = renderNginxConfig({ ...base, canary: { cookieMaxAgeSeconds: 360 } });
        const split = /split_clients "\$\{request_id\}" \$switchyard_bucket \{\n([^}]*)\}/.exec(conf)![1].trim().split("\n").map((l) => l.trim());
        assert.strictEqual(split.length, 100);
        assert.deepStrictEqual([split[0], split[98], split[99]], ["1% b0;", "1% b98;", "* b99;"]);
        const live = conf.slice(conf.indexOf("set $switchyard_listener live;"), conf.indexOf("set $switchyard_listener preview;"));
        // The live colour first, then the canary's choice over it.
        assert.ok(live.indexOf("set $switchyard_colour green;") < live.indexOf("if (-f /etc/switchyard/state/canary-$switchyard_other/$switchyard_bucket)"));
        assert.match(live, /if \(\$switchyard_canary_pick ~ "\^1\\\|\(blue\|green\)\\\|1\?\$"\) \{\n\s+set \$switchyard_colour \$1;\n\s+set \$switchyard_pinned 1;/);
        assert.match(live, /if \(\$switchyard_canary_pick = "1\|\|1"\) \{\n\s+set \$switchyard_colour \$switchyard_other;/);
        assert.match(conf, /"1\|" "switchyard_canary=\$switchyard_colour; Path=\/; Max-Age=360; HttpOnly; SameSite=Lax\$switchyard_canary_secure";/);
        // The preview listener splits nothing, and defines what the cookie's map reads.
        const preview = conf.slice(conf.indexOf("set $switchyard_listener preview;"));
        assert.doesNotMatch(preview, /switchyard_bucket/);
        assert.match(preview, /set \$switchyard_canary_on "";\n\s+set \$switchyard_pinned "";/);
    });
});

describe("the other hosts of a canary on every host (engine/canary-hosts.ts)", () => {
    const host = { name: "web-2", dockerHost: "tcp://10.0.0.12:2376", tls: "switchyard-production/web-2", proxy: "switchyard-production-proxy", socket: true };

    it("a list of hosts, each with its endpoint, TLS material's name and proxy; none when absent or empty", () => {
        assert.deepStrictEqual(parseCanaryHosts(JSON.stringify([host, { ...host, name: "web-3", dockerHost: "ssh://deploy@web-3", tls: undefined, socket: false }])), [
            host,
            { name: "web-3", dockerHost: "ssh://deploy@web-3", proxy: "switchyard-production-proxy", socket: false },
        ]);
        assert.deepStrictEqual(parseCanaryHosts(undefined), []);
        assert.deepStrictEqual(parseCanaryHosts(""), []);
        assert.deepStrictEqual(parseCanaryHosts("[]"), []);
    });

    it("a bad value names the field, the value and what is allowed; nothing reaches a shell", () => {
        assert.match(parseCanaryHosts("web-2") as string, /^CANARY_HOSTS is not JSON: a list of \{ name, dockerHost, tls\?, proxy, socket \}$/);
        assert.match(parseCanaryHosts("{}") as string, /^CANARY_HOSTS must be a JSON list/);
        assert.match(parseCanaryHosts("[3]") as string, /^CANARY_HOSTS\[0\] must be an object/);
        const bad = (patch: Record<string, unknown>) => parseCanaryHosts(JSON.stringify([host, { ...host, ...patch }])) as string;
        assert.strictEqual(bad({ name: "web 2" }), "CANARY_HOSTS[1].name 'web 2' must be a host name of letters, digits, '.', '_' and '-'");
        assert.strictEqual(bad({ dockerHost: "http://web-2" }), "CANARY_HOSTS[1].dockerHost 'http://web-2' must be a unix://, tcp:// or ssh:// endpoint");
        assert.strictEqual(bad({ dockerHost: "ssh://web-2;reboot $(id)" }), "CANARY_HOSTS[1].dockerHost 'ssh://web-2;reboot $(id)' must be a unix://, tcp:// or ssh:// endpoint");
        assert.strictEqual(bad({ tls: "../../etc" }), "CANARY_HOSTS[1].tls '../../etc' must name a host's client TLS material: <name prefix>/<host name>");
        assert.strictEqual(bad({ proxy: "-proxy" }), "CANARY_HOSTS[1].proxy '-proxy' must be a container name");
        assert.strictEqual(bad({ socket: "yes" }), "CANARY_HOSTS[1].socket 'yes' must be true or false");
    });
});
