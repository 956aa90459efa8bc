// migrate: run the app's own migration command once, in a one-off container
// from the NEW image on the backend network, with DATABASE_URL from the
// environment. The command is in exec form (MIGRATION_COMMAND is a JSON list):
// its arguments go to the image's own entrypoint, no shell involved, so an
// image without sh (distroless, FROM scratch) migrates too. PHASE expand runs
// after the gate and the backup, before the re-point: old code still serves,
// so it must only add (backward-compatible). PHASE contract runs after
// retire, and is deferred (not run, not failed) while any container of the
// other colour still runs (old code would break). Output streams with a
// prefix; a non-zero exit or a timeout fails the step with the output's tail,
// and nothing is switched. An expand that finished on this database for the
// same image id and command does not run again (engine/history-rules.ts).
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, PHASE (expand |
//      contract), MIGRATION_COMMAND (JSON list), MIGRATION_IMAGE, BACKEND_NETWORK,
//      MIGRATION_TIMEOUT, DATABASE_URL (secret: docker reads it from this
//      step's environment, by name), DATA_CA and DATA_ADDRESS (the published
//      data services' certificate and address, when DATABASE_URL asks for TLS:
//      lib/datatls.ts)
import * as fs from "fs";
import { isIP } from "net";
import * as os from "os";
import * as path from "path";
import { DATA_TLS } from "../lib/datatls";
import { EXPAND_MIGRATED, RESTORE_LOCK } from "../lib/routemarker";
import { migrationFingerprint } from "../lib/fingerprint";
import { Proxy, slotContainers } from "./docker";
import { addToHistory, historyOf, imageId } from "./history";
import { expandSkip, migratedLine } from "./history-rules";
import { Step } from "./step";
import { otherColour } from "./switch-rules";

/** The migration's arguments from MIGRATION_COMMAND, or undefined when it is not a JSON list of non-empty one-line strings. */
export function migrationArgs(json: string): string[] | undefined {
    let a: unknown;
    try {
        a = JSON.parse(json);
    } catch {
        return undefined;
    }
    if (!Array.isArray(a) || a.length === 0 || a.some((x) => typeof x !== "string" || x === "" || /[\0\n]/.test(x))) return undefined;
    return a as string[];
}

async function migrate(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_STACK", "SWITCHYARD_COLOR", "PHASE", "MIGRATION_COMMAND", "MIGRATION_IMAGE", "BACKEND_NETWORK", "MIGRATION_TIMEOUT", "DATABASE_URL");
    const phase = env.PHASE;
    if (phase !== "expand" && phase !== "contract") step.fail(`PHASE '${phase}' is not a migration phase (allowed: expand, contract)`);
    const colour = env.SWITCHYARD_COLOR;
    if (colour !== "blue" && colour !== "green") step.fail(`SWITCHYARD_COLOR '${colour}' is not a colour (allowed: blue, green)`);
    if (!/^[1-9][0-9]*$/.test(env.MIGRATION_TIMEOUT)) step.fail(`MIGRATION_TIMEOUT '${env.MIGRATION_TIMEOUT}' must be a whole number of seconds >= 1`);
    const args = migrationArgs(env.MIGRATION_COMMAND);
    if (!args) step.fail(`MIGRATION_COMMAND '${env.MIGRATION_COMMAND}' is not a JSON list of arguments (such as ["node","migrate.js"])`);
    const shown = args.join(" ");
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    // The restore lock and the expand record in one exec (the record only matters to an expand).
    const states = await proxy.readStates([RESTORE_LOCK, EXPAND_MIGRATED]);
    const restoring = states.get(RESTORE_LOCK);
    if (restoring) step.refuseRestoring(restoring);

    if (phase === "contract") {
        // Old code still running is not a failure of this release (say, contractCommand
        // was just added while a staged colour runs): the contract waits for the next
        // release that retires the other colour, and never runs under old code.
        const old = otherColour(colour);
        const still = await slotContainers(step.docker, env.SWITCHYARD_STACK, old).catch((e: Error) => step.fail(e.message));
        if (still.length > 0) {
            step.say(`contract deferred: ${old} still runs ${still.length} container(s) (${still.join(" ")}), whose code the contract could break; it runs with the next release that retires ${old}`);
            return;
        }
    }

    // An expand that finished on this database for this image and command does not run again (a rollback).
    let ran: string | undefined;
    if (phase === "expand") {
        const id = await imageId(step.docker, env.MIGRATION_IMAGE);
        const fingerprint = migrationFingerprint(args, env.MIGRATION_IMAGE, Number(env.MIGRATION_TIMEOUT));
        const skip = expandSkip(id, fingerprint, historyOf(states).migrated);
        if (skip) {
            step.say(skip);
            return;
        }
        if (id) ran = migratedLine(id, fingerprint);
    }

    if (step.env.DATA_CA && !isIP(step.env.DATA_ADDRESS ?? "")) step.fail(`DATA_ADDRESS '${step.env.DATA_ADDRESS ?? ""}' must be an IP address (the data host's, with DATA_CA)`);
    const job = `${env.SWITCHYARD_PROXY.replace(/-proxy$/, "")}-migrate-${phase}`;
    await step.docker.run(["rm", "-f", job]);
    step.say(`running the ${phase} migration in a one-off container from ${env.MIGRATION_IMAGE}: ${shown}`);
    try {
        // "--" ends docker's options: nothing in the image or the command reads as one.
        const created = await step.docker.run([
            "create", "--name", job, "--network", env.BACKEND_NETWORK,
            "--label", `switchyard.stack=${env.SWITCHYARD_STACK}`, "--label", "switchyard.role=job",
            "-e", "DATABASE_URL", "-e", `SWITCHYARD_MIGRATION_PHASE=${phase}`,
            ...(step.env.DATA_CA ? ["-e", `${DATA_TLS.caEnv}=${DATA_TLS.caFile}`, "--add-host", `${DATA_TLS.hostName}:${step.env.DATA_ADDRESS}`] : []),
            "--", env.MIGRATION_IMAGE, ...args,
        ]);
        if (created.status !== 0) step.fail(`could not create the migration container from ${env.MIGRATION_IMAGE}`);
        if (step.env.DATA_CA && !(await giveDataCa(step, job, step.env.DATA_CA))) step.fail(`could not copy the data services' certificate into the migration container`);
        if ((await step.docker.run(["start", job])).status !== 0) step.fail("could not start the migration container");
        // The output as it comes, one prefixed line each; the tail is kept for the error.
        const tail: string[] = [];
        const logs = step.docker.stream(["logs", "-f", job], (line) => {
            process.stdout.write(`[migrate ${phase}] | ${line}\n`);
            tail.push(line);
            if (tail.length > 15) tail.shift();
        });
        const waited = await step.docker.run(["wait", job], undefined, Number(env.MIGRATION_TIMEOUT) * 1000);
        if (waited.timedOut) {
            await step.docker.run(["kill", job]);
            await logs;
            step.fail(`the ${phase} migration did not finish within ${env.MIGRATION_TIMEOUT}s and was stopped; live traffic stays on ${await proxy.route().catch(() => "the colour it served before")}. Last lines: ${tail.join(" ")}`);
        }
        await logs;
        const code = waited.stdout.trim();
        if (code !== "0") {
            const where =
                phase === "expand"
                    ? `nothing was switched: live traffic stays on ${await proxy.route().catch(() => "the colour it served before")}, and the idle slot ${colour} keeps running for inspection`
                    : `the release itself is done (${colour} is live); fix the contract migration and run pulumi up again`;
            step.fail(`the ${phase} migration (${shown}) exited ${code}; ${where}. Last lines of its output:\n${tail.map((l) => `  | ${l}`).join("\n")}`);
        }
        step.say(`the ${phase} migration finished (exit 0)`);
        if (ran && !(await addToHistory(proxy, EXPAND_MIGRATED, ran))) step.say(`could not record the migration in ${EXPAND_MIGRATED}: a rollback to this image runs it again`);
    } finally {
        await step.docker.run(["rm", "-f", job]);
    }
}

/**
 * The published data services' certificate at DATA_TLS.caFile in a created
 * container, as the replicas have it (their DATABASE_URL names it): docker cp
 * of a directory, which makes the directory in the container.
 */
async function giveDataCa(step: Step, container: string, pem: string): Promise<boolean> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-data-ca-"));
    try {
        const dir = path.join(tmp, path.posix.basename(path.posix.dirname(DATA_TLS.caFile)));
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, path.posix.basename(DATA_TLS.caFile)), pem, { mode: 0o644 });
        return (await step.docker.run(["cp", dir, `${container}:${path.posix.dirname(path.posix.dirname(DATA_TLS.caFile))}`])).status === 0;
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

// Its lines say which phase: "[migrate expand   1.0s] …".
if (require.main === module) void Step.run(`migrate ${process.env.PHASE || "?"}`, migrate);
