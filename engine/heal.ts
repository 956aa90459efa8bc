// heal: start the replicas of a colour that the program found stopped (from
// outside, crashed out of their restarts, killed for memory), then gate them
// as a release would. nginx leaves an address out while it refuses
// connections, so a replica that is still starting costs no request; one that
// fails its gate is stopped again, so it takes no traffic, and the step fails
// with its answers and log tail. With no replica to heal it does nothing.
//
// env: SWITCHYARD_PROXY, SWITCHYARD_COLOR, SWITCHYARD_TARGETS (the stopped
//      replicas; empty: nothing to heal), HEAL_REASONS (one line per replica),
//      and the gate's variables (engine/gate.ts)
import { trimmed } from "./docker";
import { gateInput, runGate } from "./gate";
import { Step, StepFailure } from "./step";

async function heal(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_COLOR");
    const targets = (step.env.SWITCHYARD_TARGETS ?? "").split(/\s+/).filter(Boolean);
    if (targets.length === 0) {
        step.say(`nothing to heal: every replica of ${env.SWITCHYARD_COLOR} runs`);
        return;
    }
    const input = gateInput(step);
    for (const reason of (step.env.HEAL_REASONS ?? "").split("\n").filter(Boolean)) step.say(`found stopped: ${reason}`);
    for (const c of targets) {
        const r = await step.docker.run(["start", c]);
        if (r.status !== 0) step.fail(`could not start ${c} (${trimmed(r.stderr)}); see docker logs ${c}`);
        step.say(`started ${c}`);
    }
    try {
        await runGate(step, input);
    } catch (e) {
        if (!(e instanceof StepFailure)) throw e;
        // The gate's report (each replica's answers and log tail) is the evidence.
        process.stderr.write(`${e.message}\n`);
        for (const c of targets) await step.docker.run(["stop", "-t", "5", c]);
        step.fail(`the healed replica(s) of ${env.SWITCHYARD_COLOR} (${targets.join(" ")}) did not pass the gate and were stopped again; the colour serves on its other replicas`);
    }
    step.say(`healed: ${targets.join(" ")} back in ${env.SWITCHYARD_COLOR}`);
}

if (require.main === module) void Step.run("heal", heal);
