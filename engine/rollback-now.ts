// rollback --now: live traffic back on the previous colour on every host at
// once, before any `pulumi up`. The previous colour must still run and answer
// (standby "keep", or a release still in its bake): each of its replicas gets
// one health probe from inside its host's proxy, checked in that second. Then
// every host's proxy makes re-point's own switch (engine/switch-rules.ts
// planSwitch: the same ledger, the rollback message to the webhook). Nothing
// else changes here: `npm run rollback -- --now` then sets liveColor and runs
// the reconciling `pulumi up`, whose re-point finds the route already moved
// and whose backup and migration skip a release that went live before.
//
// Speed is the point, and on a busy host every docker call costs 100-300 ms:
// one round of three calls per host (the app containers, their addresses on
// the frontend network, the proxy's state), then one exec per host that
// probes the replicas and, when they all answered, writes the switch. With
// several hosts the probes run first on every host and the switch only once
// all answered, so a refusal moves nothing anywhere.
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
import { imageIdOf, PREVIOUS_LIVE_IMAGE, RESTORE_LOCK, ROUTE_MARKER, STATE_DIR } from "../lib/routemarker";
import { readStackFile } from "../lib/stackfile";
import { APPLY_STATE, DockerResult, labelFilters, Proxy } from "./docker";
import { Step, StepFailure } from "./step";
import { Colour, otherColour, planSwitch, stateOpArgs, SwitchPlan } from "./switch-rules";

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

/** One app container as `docker ps` lists it: name, colour, image label. */
export interface AppContainer {
    name: string;
    colour: string;
    image: string;
    /** The image id it was created from ("" when created by name). */
    imageId: string;
}

/** `docker ps --no-trunc --format '{{.Names}}\t{{.Label "switchyard.colour"}}\t{{.Label "switchyard.image"}}\t{{.Image}}'`. */
export function parseApps(out: string): AppContainer[] {
    return out.split("\n").filter(Boolean).map((l) => {
        const [name, colour, image, createdFrom] = l.split("\t");
        return { name, colour: colour ?? "", image: image ?? "", imageId: imageIdOf(createdFrom) };
    });
}

/** `docker network inspect -f '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{"\n"}}{{end}}'`: name -> address (no prefix length). */
export function parseMembers(out: string): Map<string, string> {
    const members = new Map<string, string>();
    for (const line of out.split("\n")) {
        const [name, cidr] = line.trim().split(" ");
        if (name && cidr) members.set(name, cidr.split("/")[0]);
    }
    return members;
}

/** Reads the proxy's route, restore lock and previous-live-image in one exec: three lines, the lock's newlines flattened. */
const READ_STATE = `cd "$1" 2>/dev/null || exit 0
if [ -f "$2" ]; then echo green; else echo blue; fi
printf '%s\\n' "$(cat "$3" 2>/dev/null | tr '\\n' ' ')"
printf '%s\\n' "$(cat "$4" 2>/dev/null | head -n 1)"`;

/**
 * Probes each URL once (Host and X-Forwarded-Proto from its first arguments)
 * and prints "<code> <url>" per URL; with "apply" and every answer 2xx, it
 * then makes the state changes that follow with engine/docker.ts APPLY_STATE
 * (w FILE CONTENT | r FILE), the marker flip last. With "hold" it prints
 * "ready" and waits for one line on stdin: "apply" makes the changes, anything
 * else (or the end of stdin) exits 4 with nothing written, so several hosts
 * switch together, or none does. Exit 3: not all 2xx, nothing written. POSIX
 * sh and curl: the proxy image's contract.
 * Arguments: host proto apply|probe|hold count url... statedir ops...
 */
const PROBE_THEN_SWITCH = `host=$1 proto=$2 apply=$3 n=$4; shift 4
ok=1
while [ "$n" -gt 0 ]; do
  code=$(curl -s -m 1 -o /dev/null -w '%{http_code}' \${host:+-H} \${host:+"Host: $host"} \${proto:+-H} \${proto:+"X-Forwarded-Proto: $proto"} "$1" 2>/dev/null)
  echo "\${code:-000} $1"
  case "$code" in 2??) ;; *) ok=0 ;; esac
  shift; n=$((n - 1))
done
[ "$ok" = 1 ] || exit 3
if [ "$apply" = hold ]; then
  echo ready
  read -r go || go=
  [ "$go" = apply ] || exit 4
  apply=apply
fi
[ "$apply" = apply ] || exit 0
${APPLY_STATE}
echo switched`;

interface Target {
    name?: string;
    step: Step;
}

/** The stack's config and every host's step (its docker CLI environment), read from the stack file. */
function readStack(stack: string, file: string): { cfg: SwitchyardConfig; namePrefix: string; label: string; targets: Target[] } {
    const { raw, secretKeys } = readStackFile(file);
    const projectFile = path.join(path.dirname(file), "Pulumi.yaml");
    const project = (YAML.parse(fs.readFileSync(projectFile, "utf8")) as { name?: unknown })?.name;
    if (typeof project !== "string" || !/^[A-Za-z0-9_.-]+$/.test(project)) throw new StepFailure(`no usable project name in ${projectFile}`);
    const cfg = parseConfig(raw, secretKeys, stack);
    const namePrefix = `${project}-${stack}`;
    const label = `${project}/${stack}`;
    const base = { ...process.env, SWITCHYARD_PROXY: `${namePrefix}-proxy`, SWITCHYARD_STACK: label };
    // One host without docker:host: the docker CLI's own choice (DOCKER_HOST, its context), as the program's.
    if (!cfg.hosts) return { cfg, namePrefix, label, targets: [{ step: new Step("rollback", raw["docker:host"] ? { ...base, DOCKER_HOST: raw["docker:host"] } : base) }] };
    const targets = cfg.hosts.map((h) => {
        const env: NodeJS.ProcessEnv = { ...base, DOCKER_HOST: h.dockerHost, SWITCHYARD_HOST_NAME: h.name };
        delete env.DOCKER_CONTEXT;
        // A tcp:// host's client material: the files every up writes (never read from config here).
        if (h.dockerHost.startsWith("tcp://") && secretKeys.has("switchyard:hostsTls")) env.SWITCHYARD_DOCKER_TLS = dockerTlsName(namePrefix, h.name);
        return { name: h.name, step: new Step("rollback", env) };
    });
    return { cfg, namePrefix, label, targets };
}

/** A host read in one round: its facts, and the switch it would make. */
interface HostRead extends HostFacts {
    target: Target;
    proxy: Proxy;
    urls: string[];
    plan?: SwitchPlan;
    oldImage: string;
}

async function readHost(t: Target, o: { namePrefix: string; label: string; colour: Colour; retire: boolean; port: number; path: string }): Promise<HostRead> {
    const { docker } = t.step;
    const proxy = new Proxy(docker, t.step.env.SWITCHYARD_PROXY!);
    const [apps, members, state] = await Promise.all([
        docker.run(["ps", "--no-trunc", ...labelFilters(o.label), "--format", '{{.Names}}\t{{.Label "switchyard.colour"}}\t{{.Label "switchyard.image"}}\t{{.Image}}']),
        docker.run(["network", "inspect", "-f", '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{"\\n"}}{{end}}', `${o.namePrefix}-frontend`]),
        proxy.exec("sh", "-c", READ_STATE, "sh", STATE_DIR, ROUTE_MARKER, RESTORE_LOCK, PREVIOUS_LIVE_IMAGE),
    ]);
    const lines = state.stdout.split("\n");
    if (state.status !== 0 || (lines[0] !== "blue" && lines[0] !== "green")) return { name: t.name, target: t, proxy, route: "", replicas: [], urls: [], oldImage: "" };
    const route = lines[0] as Colour;
    if (lines[1]?.trim()) t.step.refuseRestoring(lines[1].trim());
    const all = parseApps(apps.stdout);
    const ours = all.filter((a) => a.colour === o.colour).sort((a, b) => a.name.localeCompare(b.name));
    const address = parseMembers(members.stdout);
    // A replica with no address on the frontend network cannot be probed: it counts as not answering.
    const urls = ours.map((a) => (address.get(a.name) ? `http://${address.get(a.name)}:${o.port}${o.path}` : ""));
    const old = all.find((a) => a.colour === otherColour(o.colour));
    const oldImage = old?.image ?? "";
    const plan = planSwitch({ target: o.colour, live: route, retire: o.retire, oldRunningImage: oldImage, oldRunningImageId: old?.imageId ?? "", targetImage: ours[0]?.image ?? "", previousLiveImage: lines[2]?.trim() ?? "" });
    return { name: t.name, target: t, proxy, route, replicas: ours.map((a) => ({ name: a.name, code: "" })), urls, plan, oldImage };
}

/** The URLs to probe; a replica with no address gets one that cannot answer (it counts as not answering). */
const probeUrls = (h: HostRead) => h.urls.map((u) => u || "http://0.0.0.0:1/");

/** The replicas' codes from the probe's lines, into the host's facts. */
function recordCodes(h: HostRead, out: string): void {
    const codes = out.split("\n").filter((l) => /^\d{3} /.test(l)).map((l) => l.slice(0, 3));
    h.replicas = h.replicas.map((rep, i) => ({ ...rep, code: !h.urls[i] || codes[i] === "000" ? "" : (codes[i] ?? "") }));
}

/** A host probed and holding its switch (PROBE_THEN_SWITCH "hold"): `ready` once every replica answered, then `go` or `abort`. */
interface Held {
    ready: Promise<"ready" | "refused" | "failed">;
    go(): void;
    abort(): void;
    done: Promise<DockerResult>;
}

function holdHost(h: HostRead, headers: { host: string; proto: string }): Held {
    const urls = probeUrls(h);
    let ready!: (v: "ready") => void;
    const readyLine = new Promise<"ready">((r) => (ready = r));
    const seen: string[] = [];
    const s = h.target.step.docker.session(
        ["exec", "-i", h.proxy.container, "sh", "-c", PROBE_THEN_SWITCH, "sh", headers.host, headers.proto, "hold", String(urls.length), ...urls, STATE_DIR, ...stateOpArgs(h.plan!.ops)],
        (line) => (seen.push(line), line === "ready" && ready("ready")),
    );
    const ended = s.done.then((r) => (r.status === 3 ? "refused" : "failed") as "refused" | "failed");
    return {
        ready: Promise.race([readyLine, ended]).then((v) => {
            recordCodes(h, seen.join("\n"));
            return v;
        }),
        go: () => (s.send("apply\n"), s.close()),
        abort: () => s.close(),
        done: s.done.then((r) => (recordCodes(h, r.stdout), r)),
    };
}

/** Probes a host's replicas from inside its proxy and, with `apply`, makes its switch when every one answered; fills in their codes. */
async function probeHost(h: HostRead, headers: { host: string; proto: string }, apply: boolean): Promise<"switched" | "answered" | "refused"> {
    const urls = probeUrls(h);
    const ops = apply ? [STATE_DIR, ...stateOpArgs(h.plan!.ops)] : [];
    const r = await h.proxy.exec("sh", "-c", PROBE_THEN_SWITCH, "sh", headers.host, headers.proto, apply ? "apply" : "probe", String(urls.length), ...urls, ...ops);
    recordCodes(h, r.stdout);
    if (r.status === 0 && /^switched$/m.test(r.stdout)) return "switched";
    if (r.status === 0) return "answered";
    if (r.status === 3) return "refused";
    h.target.step.fail(`could not probe or re-point inside the proxy ${h.proxy.container}${h.name ? ` on host ${h.name}` : ""}: ${r.stderr.trim() || `exit ${r.status}`}`);
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
    const colour = otherColour(cfg.liveColor);
    const proto = healthProto(cfg);
    const headers = { host: healthHost(cfg) ?? "", proto: proto === "https" ? "https" : "" };
    main.say(`instant rollback of stack ${stack}: live traffic back to ${colour} on ${targets.length === 1 ? "its host" : `all ${targets.length} hosts`}, if ${colour} runs and answers`);
    const hosts = await Promise.all(
        targets.map((t) => readHost(t, { namePrefix: read.namePrefix, label: read.label, colour, retire: cfg.standby === "retire", port: cfg.health.port ?? cfg.appPort, path: cfg.health.path })),
    );
    // Nothing to probe where the proxy is down or the colour runs nowhere: the verdict says so before any exec.
    const first = instantVerdict(colour, hosts.map((h) => ({ ...h, replicas: h.replicas.map((r) => ({ ...r, code: "200" })) })));
    if (!first.ok) return refuse(main, first.why);
    const moving = hosts.filter((h) => first.move.some((m) => m.name === h.name));
    const answered = () => main.say(`${colour} answers on every host (${moving.reduce((n, h) => n + h.replicas.length, 0)} replica(s) probed just now)`);
    if (moving.length === 1) {
        // One host: probe and switch in one exec.
        const outcome = await probeHost(moving[0], headers, true);
        const verdict = instantVerdict(colour, hosts);
        if (!verdict.ok || outcome === "refused") return refuse(main, verdict.ok ? `${colour} does not answer` : verdict.why);
        answered();
    } else {
        // Several: every host probes and holds; when all answered, one line to
        // each switches them together (no second exec per host), else none.
        const held = moving.map((h) => holdHost(h, headers));
        const answers = await Promise.all(held.map((x) => x.ready));
        const verdict = instantVerdict(colour, hosts);
        if (!verdict.ok || answers.some((a) => a !== "ready")) {
            held.forEach((x) => x.abort());
            const ends = await Promise.all(held.map((x) => x.done));
            const broken = ends.findIndex((r, i) => answers[i] === "failed" && r.status !== 3);
            if (broken >= 0) {
                const h = moving[broken];
                main.fail(`could not probe inside the proxy ${h.proxy.container}${h.name ? ` on host ${h.name}` : ""}: ${ends[broken].stderr.trim() || `exit ${ends[broken].status}`}; nothing was moved`);
            }
            return refuse(main, verdict.ok ? `${colour} does not answer` : verdict.why);
        }
        answered();
        held.forEach((x) => x.go());
        const results = await Promise.all(held.map((x) => x.done));
        const failed = results.flatMap((r, i) => (r.status !== 0 || !/^switched$/m.test(r.stdout) ? [moving[i].name ?? "the host"] : []));
        if (failed.length) main.fail(`could not re-point ${failed.join(", ")}; the regular rollback follows and moves every host`);
    }
    for (const h of moving) {
        for (const line of h.plan!.lines) h.target.step.say(line);
    }
    main.say(`live traffic is on ${colour} on ${targets.length === 1 ? "the host" : "every host"}; the reconciling pulumi up follows`);
    // The webhook hears of it after traffic moved, as re-point's rollback message.
    await Promise.all(moving.map((h) => (h.plan!.rollback ? h.target.step.notify("rollback", h.plan!.rollback, h.oldImage) : undefined)));
}

function refuse(main: Step, why: string): void {
    main.say(`no instant rollback: ${why}; nothing was moved`);
    process.exitCode = 3;
}

if (require.main === module) void Step.run("rollback", rollbackNow);
