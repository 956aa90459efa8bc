// Fixed addresses (lib/addressing.ts), the proxy's settings from config
// (lib/proxy.ts) and the heal decisions (lib/heal.ts): pure, no provider.
import * as assert from "assert";
import {
    colourAddresses,
    decideAddressing,
    ipamOf,
    parseCidr,
    pickSubnets,
    poolProblem,
    postgresAddress,
    redisAddress,
    replicaAddress,
} from "../../lib/addressing";
import { healPlan, stopReason } from "../../lib/heal";
import { StoppedReplica } from "../../lib/host";
import { mergeHeaders, routingOf } from "../../lib/proxy";

describe("fixed addresses", () => {
    it("each colour's replicas sit in the upper half of the frontend /24, where Docker hands out nothing", () => {
        const ipam = ipamOf("172.30.7.0/24");
        assert.deepStrictEqual(ipam, { subnet: "172.30.7.0/24", ipRange: "172.30.7.0/25", gateway: "172.30.7.1" });
        const dynamic = parseCidr(ipam.ipRange);
        for (const colour of ["blue", "green"] as const) {
            for (const ip of colourAddresses("172.30.7.0/24", colour, 20)) {
                const last = Number(ip.split(".")[3]);
                assert.ok(last >= dynamic.size && last < 255, `${colour} ${ip} outside Docker's range and below broadcast`);
            }
        }
        assert.deepStrictEqual(colourAddresses("172.30.7.0/24", "blue", 2), ["172.30.7.131", "172.30.7.132"]);
        assert.deepStrictEqual(colourAddresses("172.30.7.0/24", "green", 2), ["172.30.7.161", "172.30.7.162"]);
        const all = [...colourAddresses("172.30.7.0/24", "blue", 20), ...colourAddresses("172.30.7.0/24", "green", 20)];
        assert.strictEqual(new Set(all).size, 40, "no address shared between colours");
        assert.throws(() => replicaAddress("172.30.7.0/24", "blue", 21), /outside 1-20/);
        assert.strictEqual(postgresAddress("10.1.2.0/24"), "10.1.2.200");
        assert.strictEqual(redisAddress("10.1.2.0/24"), "10.1.2.201");
    });

    it("a new stack picks two free /24s of the pool, never one that overlaps a network the engine has", () => {
        const taken = ["172.17.0.0/16", "172.30.0.0/22", "fd00::/64"];
        const [a, b] = pickSubnets("172.30.0.0/16", taken, "seed", 2);
        assert.notStrictEqual(a, b);
        for (const s of [a, b]) {
            const { base } = parseCidr(s);
            assert.ok(base >= parseCidr("172.30.4.0/24").base, `${s} overlaps 172.30.0.0/22`);
        }
        // The same seed gives the same answer: a preview and the up agree.
        assert.deepStrictEqual(pickSubnets("172.30.0.0/16", taken, "seed", 2), [a, b]);
    });

    it("a full pool is refused, naming it and the key to change", () => {
        assert.throws(() => pickSubnets("10.9.0.0/23", ["10.9.0.0/24"], "s", 2), /no free \/24 left in network\.pool 10\.9\.0\.0\/23 .*set network\.pool/);
    });

    it("pool values: a CIDR from /8 to /23 on its boundary", () => {
        assert.strictEqual(poolProblem("172.30.0.0/16"), undefined);
        assert.match(poolProblem("172.30.0.0/24")!, /from \/8 to \/23/);
        assert.match(poolProblem("172.30.1.0/16")!, /start on its boundary \(such as 172\.30\.0\.0\/16\)/);
        assert.match(poolProblem("fd00::/48")!, /IPv4 CIDR/);
    });

    it("an existing stack keeps what its networks were made with: fixed ones their subnets, a 0.2 stack's DNS until it is moved", () => {
        const fixed = { taken: ["172.30.9.0/24", "172.30.10.0/24"], frontend: { subnet: "172.30.9.0/24", fixed: true }, backend: { subnet: "172.30.10.0/24", fixed: true } };
        assert.deepStrictEqual(decideAddressing(fixed, "172.30.0.0/16", "s", false), { mode: "fixed", subnets: { frontend: "172.30.9.0/24", backend: "172.30.10.0/24" } });
        const old = { taken: ["172.18.0.0/16", "172.19.0.0/16"], frontend: { subnet: "172.18.0.0/16", fixed: false }, backend: { subnet: "172.19.0.0/16", fixed: false } };
        assert.deepStrictEqual(decideAddressing(old, "172.30.0.0/16", "s", false), { mode: "dns" });
        const moved = decideAddressing(old, "172.18.0.0/15", "s", true);
        assert.strictEqual(moved.mode, "fixed", "moving re-creates the networks: their own subnets are free again");
        assert.deepStrictEqual(decideAddressing({ taken: [] }, "172.30.0.0/16", "s", false).mode, "fixed");
    });
});

describe("the proxy's settings", () => {
    it("a configured header replaces a default of the same name whatever its case; \"\" keeps it out", () => {
        const merged = mergeHeaders({ "X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff" }, { "x-frame-options": "DENY", "X-Content-Type-Options": "" });
        assert.deepStrictEqual(merged, { "x-frame-options": "DENY", "X-Content-Type-Options": "" });
    });

    it("routing: upstreams of both colours' fixed addresses, or DNS for a stack still on it", () => {
        const proxy = { upstreamKeepaliveSeconds: 2 } as never;
        const r = routingOf({ mode: "fixed", subnets: { frontend: "10.0.5.0/24", backend: "10.0.6.0/24" } }, { replicas: 3, proxy });
        assert.ok(r.mode === "upstreams");
        assert.deepStrictEqual(r.addresses.blue, ["10.0.5.131", "10.0.5.132", "10.0.5.133"]);
        assert.deepStrictEqual(r.addresses.green, ["10.0.5.161", "10.0.5.162", "10.0.5.163"]);
        assert.deepStrictEqual(routingOf({ mode: "dns" }, { replicas: 3, proxy }), { mode: "dns" });
    });
});

describe("heal", () => {
    const stopped = (name: string, over: Partial<StoppedReplica> = {}): StoppedReplica => ({
        name,
        colour: "blue",
        image: "app:1",
        state: "exited",
        exitCode: 137,
        oomKilled: false,
        finishedAt: "2026-12-02T10:00:00Z",
        ...over,
    });

    it("names why a replica stopped", () => {
        assert.match(stopReason(stopped("a")), /SIGKILL, exit 137: stopped from outside/);
        assert.match(stopReason(stopped("a", { oomKilled: true })), /OOM.*raise limits\.app\.memoryMb/);
        assert.match(stopReason(stopped("a", { exitCode: 143 })), /SIGTERM/);
        assert.match(stopReason(stopped("a", { exitCode: 3 })), /crashed \(exit 3\)/);
        assert.match(stopReason(stopped("a", { state: "created" })), /never started/);
    });

    it("heals the colour's stopped replicas of the image it runs; a new stop is a new token", () => {
        const list = [
            stopped("x-app-blue-10"),
            stopped("x-app-blue-2"),
            stopped("x-app-green-1", { colour: "green" }),
            stopped("x-app-blue-3", { image: "app:2" }),
            stopped("x-app-blue-4", { state: "restarting" }),
        ];
        const plan = healPlan("blue", "app:1", list);
        assert.deepStrictEqual(plan.replicas.map((r) => r.name), ["x-app-blue-2", "x-app-blue-10"]);
        assert.strictEqual(plan.token, "x-app-blue-2@2026-12-02T10:00:00Z x-app-blue-10@2026-12-02T10:00:00Z");
        const again = healPlan("blue", "app:1", [stopped("x-app-blue-2", { finishedAt: "2026-12-02T11:00:00Z" })]);
        assert.notStrictEqual(again.token, healPlan("blue", "app:1", [stopped("x-app-blue-2")]).token);
        assert.deepStrictEqual(healPlan("blue", "app:1", []), { replicas: [], token: "" });
    });
});
