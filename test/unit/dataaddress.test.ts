// data.address: where several hosts' Postgres and Redis are published (lib/dataaddress.ts).
import * as assert from "assert";
import { dataAddressProblem } from "../../lib/dataaddress";

describe("data.address: a private address the other hosts reach", () => {
    it("accepts private addresses (RFC 1918, shared address space, IPv6 unique-local)", () => {
        for (const ip of ["10.0.0.11", "172.16.0.5", "172.31.255.254", "192.168.1.20", "100.64.0.9", "fd12:3456::11", "fc00::1"]) assert.strictEqual(dataAddressProblem(ip, false), undefined, ip);
    });

    it("refuses the any-address, loopback and link-local always, and a public address unless allowed", () => {
        for (const ip of ["0.0.0.0", "::", "127.0.0.1", "127.1.2.3", "::1", "169.254.169.254", "fe80::1"]) {
            assert.ok(dataAddressProblem(ip, false), ip);
            assert.ok(dataAddressProblem(ip, true), `${ip} even with allowPublicAddress`);
        }
        for (const ip of ["203.0.113.7", "172.32.0.1", "8.8.8.8", "2001:db8::1"]) {
            assert.match(dataAddressProblem(ip, false) ?? "", /is not a private address/, ip);
            assert.strictEqual(dataAddressProblem(ip, true), undefined, `${ip} with allowPublicAddress`);
        }
    });
});
