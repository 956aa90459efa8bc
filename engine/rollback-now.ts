// rollback --now: live traffic back on the previous colour on every host at
// once, before any `pulumi up`. The previous colour must still run and answer
// (standby "keep", or a release still in its bake): each of its replicas gets
// one health probe from inside its host's proxy, checked in that second. Then
// every host re-points as re-point itself does (engine/repoint.ts applySwitch:
// the same ledger, the rollback message to the webhook), all hosts together.
// Nothing else changes here: `npm run rollback -- --now` then sets liveColor
// and runs the reconciling `pulumi up`, whose re-point finds the route already
// moved and whose backup and migration skip a release that went live before.
//
// Exit 0: live traffic is on the previous colour on every host. Exit 3: it is
// not possible now (the colour does not run or does not answer somewhere; no
// host was touched), so the caller falls back to the regular rollback. Exit 1:
// a host could not be re-pointed (the others may have been): the regular
// rollback that follows moves every host.
//
// Usage: node dist/engine/rollback-now.js --stack NAME [--stack-file FILE]
//   (FILE defaults to Pulumi.NAME.yaml in the current directory; the project
//   name comes from the Pulumi.yaml beside it)
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { parseConfig, SwitchyardConfig } from "../lib/config";
import { healthHost, healthProto } from "../lib/configchecks";
import { dockerTlsName } from "../lib/dockertls";
import { stackHosts } from "../lib/hosts";
import { readStackFile } from "../lib/stackfile";
import { Proxy, slotContainers } from "./docker";
import { readProbe } from "./gate-rules";
import { applySwitch, readSwitchFacts, SwitchInput } from "./repoint";
import { Step, StepFailure } from "./step";
import { Colour, otherColour, SwitchFacts } from "./switch-rules";

/** What one host says about the colour to go back to. */
export interface HostFacts {
    /** hosts[].name, or undefined for a one-host stack. */
    name?: string;
    /** The colour its live listener routes to now ("" when its proxy does not answer). */
    route: Colour | "";
    /** Each running replica of the target colour and the status its one probe got ("" for no answer). */
    replicas: { name: string; code: string }[];
}

/**
 * Whether traffic can go back to `target` on every host now, and if not, the
 * first reason. A host already on `target` needs nothing; every other host
 * needs its proxy answering and at least one replica of `target`, each of
 * which answered 2xx just now.
 */
export function instantVerdict(target: Colour, hosts: HostFacts[]): { ok: true; move: HostFacts[] } | { ok: false; why: string } {
    const move: HostFacts[] = [];
    for (const h of hosts) {
        const on = h.name ? ` on host ${h.name}` : "";
        if (h.route === target) continue;
        if (h.route === "") return { ok: false, why: `the proxy${on} does not answer` };
        if (h.replicas.length === 0) return { ok: false, why: `${target} does not run${on} (retired, or never started)` };
        const bad = h.replicas.filter((r) => !/^2\d\d$/.test(r.code));
        if (bad.length) return { ok: false, why: `${target} does not answer${on}: ${bad.map((r) => `${r.name} ${r.code || "no response"}`).join(", ")}` };
        move.push(h);
    }
    return { ok: true, move };
}

/**
 * Where the proxy reaches a replica, without DNS: its address on a network it
 * shares with the proxy, or, for a proxy on the host's network (which shares
 * none), its address on the stack's frontend network, the one nginx routes to.
 */
export function probeAddress(replicaNets: [string, string][], proxyNets: string[]): string | undefined {
    const withIp = replicaNets.filter(([, ip]) => ip);
    const shared = withIp.find(([net]) => proxyNets.includes(net));
    if (shared) return shared[1];
    if (!proxyNets.includes("host")) return undefined;
    return (withIp.find(([net]) => net.endsWith("-frontend")) ?? withIp[0])?.[1];
}

interface Target {
    name?: string;
    step: Step;
}

/** The stack's config and every host's step (its docker CLI environment), read from the stack file. */
function readStack(stack: string, file: string): { cfg: SwitchyardConfig; project: string; targets: Target[] } {
    const { raw, secretKeys } = readStackFile(file);
    const projectFile = path.join(path.dirname(file), "Pulumi.yaml");
    const project = (YAML.parse(fs.readFileSync(projectFile, "utf8")) as { name?: unknown })?.name;
    if (typeof project !== "string" || !/^[A-Za-z0-9_.-]+$/.test(project)) throw new StepFailure(`no usable project name in ${projectFile}`);
    const cfg = parseConfig(raw, secretKeys, stack);
    const namePrefix = `${project}-${stack}`;
    const targets = stackHosts(cfg, namePrefix, raw["docker:host"]).map((h) => {
        const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: h.endpoint.host, SWITCHYARD_PROXY: `${namePrefix}-proxy`, SWITCHYARD_STACK: `${project}/${stack}` };
        // A tcp:// host's client material: the files every up writes (never read from config here).
        if (h.name && h.endpoint.host.startsWith("tcp://") && secretKeys.has("switchyard:hostsTls")) env.SWITCHYARD_DOCKER_TLS = dockerTlsName(namePrefix, h.name);
        if (h.name) env.SWITCHYARD_HOST_NAME = h.name;
        return { name: h.name, step: new Step("rollback", env) };
    });
    return { cfg, project, targets };
}

/** A host's facts and what its switch would read (repoint's SwitchFacts), gathered in three rounds of parallel docker calls. */
interface HostRead extends HostFacts {
    target: Target;
    proxy: Proxy;
    input: SwitchInput;
    switchFacts?: SwitchFacts;
}

/**
 * One host's facts, in as few round trips as a busy host allows: first the
 * proxy, the colour's replicas and everything the switch reads, together;
 * then the replicas' addresses; then one probe per replica from inside the
 * proxy, together.
 */
async function hostFacts(t: Target, colour: Colour, standby: "retire" | "keep", probe: { path: string; port: number; headers: string[] }): Promise<HostRead> {
    const { docker } = t.step;
    const proxy = new Proxy(docker, t.step.env.SWITCHYARD_PROXY!);
    const input: SwitchInput = { proxy: proxy.container, stack: t.step.env.SWITCHYARD_STACK!, colour, standby };
    const [alive, names, switchFacts] = await Promise.all([
        proxy.exec("true"),
        slotContainers(docker, input.stack, colour).catch(() => []),
        readSwitchFacts(t.step, proxy, input),
    ]);
    const read = { name: t.name, target: t, proxy, input, switchFacts };
    if (alive.status !== 0) return { ...read, route: "", replicas: [] };
    const route = switchFacts.live;
    if (route === colour || names.length === 0) return { ...read, route, replicas: [] };
    const nets = await docker.run(["inspect", "-f", '{{.Name}}{{range $k, $v := .NetworkSettings.Networks}} {{$k}}={{$v.IPAddress}}{{end}}', proxy.container, ...names]);
    const rows = nets.stdout.split("\n").filter(Boolean).map((l) => l.trim().split(" "));
    const proxyNets = (rows[0] ?? []).slice(1).map((kv) => kv.split("=")[0]);
    const replicas = await Promise.all(
        names.map(async (name) => {
            const row = rows.find((r) => r[0] === `/${name}`) ?? [];
            const ip = probeAddress(row.slice(1).map((kv) => kv.split("=") as [string, string]), proxyNets);
            if (!ip) return { name, code: "" };
            const r = await proxy.exec("curl", "-s", "-m", "1", "-o", "-", "-w", "\n%{http_code}", ...probe.headers, `http://${ip}:${probe.port}${probe.path}`);
            return { name, code: readProbe(r.stdout).code.replace(/^000$/, "") };
        }),
    );
    return { ...read, route, replicas };
}

async function rollbackNow(main: Step): Promise<void> {
    const argv = process.argv.slice(2);
    let stack = "";
    let file = "";
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack") stack = argv[++i] ?? "";
        else if (argv[i] === "--stack-file") file = argv[++i] ?? "";
        else main.fail(`unknown argument ${argv[i]} (allowed: --stack NAME, --stack-file FILE)`);
    }
    if (!/^[\w.-]+$/.test(stack)) main.fail(`--stack NAME is required (got ${stack || "nothing"})`);
    file = path.resolve(file || `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) main.fail(`no stack config file ${file}`);
    let read: ReturnType<typeof readStack>;
    try {
        read = readStack(stack, file);
    } catch (e) {
        main.fail(`${(e as Error).message.split("\n").join(" ")}; nothing was moved`);
    }
    const { cfg, targets } = read;
    const target = otherColour(cfg.liveColor);
    const host = healthHost(cfg);
    const proto = healthProto(cfg);
    const probe = {
        path: cfg.health.path,
        port: cfg.health.port ?? cfg.appPort,
        headers: [...(host ? ["-H", `Host: ${host}`] : []), ...(proto === "https" ? ["-H", "X-Forwarded-Proto: https"] : [])],
    };
    main.say(`instant rollback of stack ${stack}: live traffic back to ${target} on ${targets.length === 1 ? "its host" : `all ${targets.length} hosts`}, if ${target} runs and answers`);
    const facts = await Promise.all(targets.map((t) => hostFacts(t, target, cfg.standby, probe)));
    const verdict = instantVerdict(target, facts);
    if (!verdict.ok) {
        main.say(`no instant rollback: ${verdict.why}; nothing was moved`);
        process.exitCode = 3;
        return;
    }
    const answered = facts.reduce((n, f) => n + f.replicas.length, 0);
    main.say(`${target} answers on every host (${answered} replica(s) probed just now)`);
    // Every host at once, each with the facts read above (a moment ago): re-point's own switch.
    const moving = verdict.move as HostRead[];
    const results = await Promise.allSettled(moving.map((h) => applySwitch(h.target.step, h.proxy, h.switchFacts!)));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${moving[i].name ?? "the host"}: ${(r.reason as Error).message}`] : []));
    if (failed.length) main.fail(`could not re-point ${failed.join("; ")}; the regular rollback follows and moves every host`);
    main.say(`live traffic is on ${target} on ${targets.length === 1 ? "the host" : "every host"}; the reconciling pulumi up follows`);
}

if (require.main === module) void Step.run("rollback", rollbackNow);
