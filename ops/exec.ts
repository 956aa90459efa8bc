// npm run exec -- --stack NAME [--stack-file PATH] [--host H] [--colour C] -- COMMAND [ARGS…]
//
// COMMAND in a new container of the live colour (or --colour's) with the
// image, variables, secrets, user and networks of one of its running
// replicas: a console, a data fix, a rake or manage.py task. Exec form (no
// shell unless you run one), interactive with a TTY when stdin is one, its
// exit code passed through, the container removed when it ends and never
// routed to. No variable's value is on a command line (ops/oneoff.ts).
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DATA_TLS } from "../lib/datatls";
import { labelFilters } from "../engine/docker";
import { Colour, COLOURS } from "../lib/config";
import { readRoute } from "../lib/host";
import { stackNames } from "../lib/naming";
import { everyHost, followStack, parseStackArgs, runCli } from "./cli";
import { oneOffPlan, ReplicaInspect } from "./oneoff";

const T0 = Date.now();
const say = (msg: string) => process.stderr.write(`[exec ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);

function docker(args: string[], env: NodeJS.ProcessEnv): string {
    const r = spawnSync("docker", args, { env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`docker ${args[0]} failed: ${(r.stderr || "").trim().split("\n").pop()}`);
    return r.stdout.trim();
}

/** The published data services' certificate, from the replica to the one-off (its URLs name the file): a directory copied through a temporary one. */
function copyDataCa(replica: string, oneOff: string, env: NodeJS.ProcessEnv): void {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-data-ca-"));
    try {
        const dir = path.posix.dirname(DATA_TLS.caFile);
        docker(["cp", `${replica}:${dir}`, tmp], env);
        docker(["cp", path.join(tmp, path.posix.basename(dir)), `${oneOff}:${path.posix.dirname(dir)}`], env);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

export function main(argv = process.argv.slice(2)): void {
    const dash = argv.indexOf("--");
    const command = dash < 0 ? [] : argv.slice(dash + 1);
    const args = parseStackArgs(dash < 0 ? argv : argv.slice(0, dash), { values: ["host", "colour"] });
    const { file, project } = followStack(args.stack, args.stackFile);
    const names = stackNames(project, args.stack);
    const hosts = everyHost(args.stack, file, names.namePrefix);
    const wanted = args.values.host;
    const host = wanted === undefined ? hosts[0] : hosts.find((h) => h.name === wanted);
    if (!host) throw new Error(`--host ${wanted}: the stack has no such host (hosts: ${hosts.map((h) => h.name ?? "(one host)").join(", ")})`);
    const on = host.name ? ` on host ${host.name}` : "";

    let colour = args.values.colour as Colour | undefined;
    if (colour !== undefined && !COLOURS.includes(colour)) throw new Error(`--colour ${colour} is not a colour (allowed: ${COLOURS.join(", ")})`);
    colour ??= readRoute(names.proxyContainer, host.env);
    if (!colour) throw new Error(`the proxy ${names.proxyContainer}${on} does not run: no live colour to run in (give --colour)`);
    const replicas = docker(["ps", ...labelFilters(names.stackLabel, { colour }), "--format", "{{.Names}}"], host.env)
        .split("\n")
        .filter(Boolean)
        .sort();
    if (replicas.length === 0) throw new Error(`${colour} runs no replica${on}: nothing to take the release from`);
    const inspect = (JSON.parse(docker(["inspect", replicas[0]], host.env)) as ReplicaInspect[])[0];
    const name = `${names.namePrefix}-exec-${colour}-${randomBytes(3).toString("hex")}`;
    const plan = oneOffPlan(inspect, { name, stack: names.stackLabel, colour, tty: process.stdin.isTTY === true, command });
    // The variables reach docker by name: the values live in its environment only.
    const env = { ...host.env, ...plan.env };
    say(`running ${JSON.stringify(command)} in ${colour}'s release${on} (image ${inspect.Image.slice(0, 19)} of ${replicas[0]}) as ${name}`);
    docker(plan.create, env);
    try {
        for (const net of plan.connect) docker(["network", "connect", net, name], host.env);
        if ((inspect.Config.Env ?? []).some((e) => e.startsWith(`${DATA_TLS.caEnv}=`))) copyDataCa(replicas[0], name, host.env);
    } catch (err) {
        spawnSync("docker", ["rm", "-f", name], { env: host.env });
        throw err;
    }
    const r = spawnSync("docker", ["start", "-a", "-i", name], { env: host.env, stdio: "inherit" });
    const code = r.status ?? 1;
    say(`${name} exited ${code}`);
    process.exit(code);
}

if (require.main === module) runCli("exec", main);
