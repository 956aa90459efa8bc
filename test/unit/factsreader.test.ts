// The read the program asks for at its very start (lib/factsreader.ts
// likelyRequests), under Pulumi's mocks: one host on a local socket is read
// early, anything else waits for the checked config. The reader thread itself
// runs against the real engine (test/scripts/program-specs.test.ts).
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { factsRequest, likelyRequests } from "../../lib/factsreader";

async function withConfig(stack: string, config: Record<string, string>, env: NodeJS.ProcessEnv, check: () => void): Promise<void> {
    const saved = { ...process.env };
    pulumi.runtime.setAllConfig(config);
    await pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: () => ({}) }, "switchyard", stack, false);
    for (const k of Object.keys(process.env)) if (k.startsWith("DOCKER_")) delete process.env[k];
    Object.assign(process.env, env);
    try {
        check();
    } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
        pulumi.runtime.setAllConfig({});
    }
}

describe("the host read started with the program (lib/factsreader.ts likelyRequests)", () => {
    it("one host on a local socket: that host, under the stack's names, with the environment the program resolves", () =>
        withConfig("prod", { "switchyard:liveColor": "blue" }, { DOCKER_HOST: "unix:///run/user/docker.sock", DOCKER_CONTEXT: "other" }, () => {
            const asked = likelyRequests();
            assert.deepStrictEqual(asked, [factsRequest("switchyard/prod", "switchyard-prod-proxy", { DOCKER_HOST: "unix:///run/user/docker.sock" })]);
            assert.deepStrictEqual(asked![0].docker, { DOCKER_HOST: "unix:///run/user/docker.sock" }, "DOCKER_CONTEXT is left out, as the program's docker environment leaves it");
        }));

    it("docker:host wins over the environment, as it does for the program", () =>
        withConfig("prod", { "docker:host": "unix:///srv/docker.sock" }, { DOCKER_HOST: "unix:///var/run/docker.sock" }, () => {
            assert.deepStrictEqual(likelyRequests()?.[0].docker, { DOCKER_HOST: "unix:///srv/docker.sock" });
        }));

    it("nothing is read early from a host reached over the network, or from a stack of several hosts", async () => {
        for (const host of ["ssh://deploy@web-1", "tcp://10.0.0.5:2376"]) {
            await withConfig("prod", { "docker:host": host }, {}, () => assert.strictEqual(likelyRequests(), undefined, host));
        }
        await withConfig("prod", { "switchyard:hosts": JSON.stringify([{ name: "web-1", dockerHost: "unix:///var/run/docker.sock" }]) }, { DOCKER_HOST: "unix:///var/run/docker.sock" }, () =>
            assert.strictEqual(likelyRequests(), undefined),
        );
    });
});
