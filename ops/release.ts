// switchyard release --stack NAME --image IMAGE   stage IMAGE on the idle colour and switch, one update
// switchyard rollback --stack NAME                switch back to the other colour (re-created if retired)
// switchyard rollback --now --stack NAME          live traffic back on the other colour on every host
//                                                 at once when it still runs and answers, then the same
//                                                 reconciling update (engine/rollback-now.ts)
//
// One line per step with elapsed seconds. On failure the exit is non-zero and
// the stack config is left matching what runs: if the proxy still routes to
// the old colour (a failed gate or verify), liveColor and the image are put
// back; if traffic already moved (say, retire failed), the new config stays.
import { spawnSync } from "child_process";
import * as fs from "fs";
import { otherColour } from "../lib/config";
import { readRoute } from "../lib/host";
import { packageFile } from "../lib/package";
import { parseStackArgs, progress, followStack, stackFilePath } from "./cli";
import type * as Workspace from "./workspace";

export async function main(argv: string[], command: "release" | "rollback"): Promise<void> {
    const args = parseStackArgs(argv, { values: command === "release" ? ["image"] : [], flags: ["now", ...(command === "release" ? ["rollback"] : [])] });
    // `release --rollback` is `rollback` (the form ops/release.sh took before the CLI).
    const mode = args.flags.has("rollback") ? "rollback" : command;
    const { say, fail } = progress(mode);
    const image = args.values.image;
    if (mode === "release" && !image) return fail("--image IMAGE is required (the image to release to the idle colour)");
    if (args.flags.has("now") && mode !== "rollback") fail("--now is for rollback: a release to a new image is gated, backed up and migrated first");
    const file = args.stackFile ?? stackFilePath(args.stack);
    if (args.flags.has("now")) {
        // First, before any pulumi call: the traffic moves within the second (compiled, plain node).
        // Where engine.sh finds every step: dist/engine under the package's root.
        const script = packageFile("dist", "engine", "rollback-now.js");
        if (!fs.existsSync(script)) fail(`the release engine is not built (${script}): run npm run build:program`);
        const r = spawnSync(process.execPath, [script, "--stack", args.stack, "--stack-file", file], { stdio: "inherit" });
        if (r.status === 3) say("the regular rollback follows (gate, switch, verify, retire)");
        else if (r.status !== 0) say("the instant rollback failed (above); the regular rollback follows and moves every host");
    }

    // The Automation API loads only now: --now moved the traffic before it.
    const { configValue, lastLine, openStack, streamed } = require("./workspace") as typeof Workspace;
    const stack = await openStack(args.stack).catch((err: Error) => fail(err.message));
    const live = await configValue(stack, "switchyard:liveColor");
    if (live === undefined) return fail(`stack ${args.stack} has no switchyard:liveColor (is Pulumi.${args.stack}.yaml there?)`);
    if (live !== "blue" && live !== "green") return fail(`switchyard:liveColor of stack ${args.stack} is '${live}' (allowed: blue, green)`);
    const target = otherColour(live);
    const imageKey = `switchyard:slots.${target}.image`;
    const oldImage = await configValue(stack, imageKey, true);
    const set = (key: string, value: string, isPath = false) => stack.setConfig(key, { value }, isPath).catch((err) => fail(`could not set ${key}: ${lastLine(err)}`));
    if (mode === "release") {
        say(`stack ${args.stack}: releasing ${image} to ${target} (live now: ${live})`);
        await set(imageKey, image!, true);
    } else {
        if (!oldImage) return fail(`cannot roll back to ${target}: slots.${target}.image is not set`);
        say(`stack ${args.stack}: rolling back to ${target} (${oldImage}; live now: ${live})`);
    }
    await set("switchyard:liveColor", target);
    say(`config set: liveColor=${target}, slots.${target}.image=${image ?? oldImage}; running pulumi up (gate, switch, verify, retire)`);

    try {
        await stack.up(streamed);
        say(`done: ${target} is live on stack ${args.stack}`);
        return;
    } catch {
        // pulumi up failed (its output is above): make the config say what runs.
    }
    const { names } = followStack(args.stack, file);
    const route = readRoute(names.proxyContainer);
    if (route === target) fail(`pulumi up failed after live traffic moved to ${target}; the config stays liveColor=${target}. Fix the error above and run pulumi up again`);
    await set("switchyard:liveColor", live);
    if (mode === "release") {
        if (oldImage) await set(imageKey, oldImage, true);
        else await stack.removeConfig(imageKey, true);
    }
    fail(`pulumi up failed (above); live traffic is on ${route ?? `${live} (no proxy runs)`}. Config restored: liveColor=${live}, slots.${target}.image=${oldImage ?? "unset"}`);
}
