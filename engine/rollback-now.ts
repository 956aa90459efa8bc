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
// Speed is the point. Each host is one connection to its engine
// (engine/dockerapi.ts: no docker CLI, whose every call over ssh:// is a new
// session): two API calls (the app containers, their addresses on the
// frontend network), then one exec in the proxy that reads its state, probes
// the replicas and holds. When every host answered, one line to each exec
// switches them together; a refusal moves nothing anywhere.
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
import { imageIdOf, PREVIOUS_LIVE_IMAGE, RESTORE_LOCK, ROUTE_MARKER, STATE_DIR, WEBHOOK_URL_FILE } from "../lib/routemarker";
import { readStackFile } from "../lib/stackfile";
import { APPLY_STATE, slotLabels, stepDockerEnv } from "./docker";
import { ListedContainer, listPath } from "./docker-reads";
import { ApiExec, EngineConnection, resolveEndpoint } from "./dockerapi";
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
    /** Why the host could not be read (its engine or proxy out of reach). */
    problem?: string;
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
        if (h.route === "") return { ok: false, why: `the proxy${on} does not answer${h.problem ? ` (${h.problem})` : ""}` };
        if (h.replicas.length === 0) return { ok: false, why: `${target} does not run${on} (retired, or never started)` };
        const bad = h.replicas.filter((r) => !/^2\d\d$/.test(r.code));
        if (bad.length) return { ok: false, why: `${target} does not answer${on}: ${bad.map((r) => `${r.name} ${r.code || "no response"}`).join(", ")}` };
        move.push(h);
    }
    return { ok: true, move };
}

/** One app container as the engine lists it: name, colour, image label, image id. */
export interface AppContainer {
    name: string;
    colour: string;
    image: string;
    /** The image id it was created from ("" when created by name). */
    imageId: string;
}

/** GET /containers/json's answer as app containers: the name without its slash, colour and image from the labels. */
export function appsOf(list: Partial<Pick<ListedContainer, "Names" | "Labels" | "Image">>[]): AppContainer[] {
    return list.map((c) => ({
        name: (c.Names?.[0] ?? "").replace(/^\//, ""),
        colour: c.Labels?.["switchyard.colour"] ?? "",
        image: c.Labels?.["switchyard.image"] ?? "",
        imageId: imageIdOf(c.Image ?? ""),
    }));
}

/** GET /networks/NAME's answer: container name -> IPv4 address (no prefix length). */
export function membersOf(network: { Containers?: Record<string, { Name?: string; IPv4Address?: string }> } | undefined): Map<string, string> {
    const members = new Map<string, string>();
    for (const c of Object.values(network?.Containers ?? {})) {
        if (c.Name && c.IPv4Address) members.set(c.Name, c.IPv4Address.split("/")[0]);
    }
    return members;
}

/**
 * Inside the proxy, in one exec: prints the route ("route blue|green"), the
 * restore lock ("lock ...", newlines flattened), previous-live-image
 * ("previous ..."), then "code NNN URL" per URL, each probed once and all
 * at the same time by one curl (Host and X-Forwarded-Proto from its
 * arguments), then the webhook URL ("webhook ...": a secret, kept in memory
 * for the rollback message and never printed), then "ready", and waits. The line
 * "apply" on stdin, followed by the state changes (engine/docker.ts
 * APPLY_STATE's, one word or value per line: `w`, FILE, CONTENT or `r`,
 * FILE; "." ends them), makes them, the marker flip last, and prints
 * "switched". Anything else, or the end of stdin, exits 4 with nothing
 * written: so several hosts switch together, or none does. The values come
 * on stdin as data, never as shell text. POSIX sh and curl: the proxy image's contract.
 * Arguments: statedir marker lock previous hook host proto url...
 */
const PROBE_AND_HOLD = `sd=$1 marker=$2 lock=$3 prev=$4 hook=$5 host=$6 proto=$7; shift 7
cd "$sd" 2>/dev/null || exit 0
if [ -f "$marker" ]; then echo "route green"; else echo "route blue"; fi
printf 'lock %s\\n' "$(cat "$lock" 2>/dev/null | tr '\\n' ' ')"
printf 'previous %s\\n' "$(head -n 1 "$prev" 2>/dev/null)"
if [ $# -gt 0 ]; then
  n=$#
  for url do set -- "$@" -o /dev/null "$url"; done
  shift "$n"
  curl -s -Z -m 1 -w 'code %{http_code} %{url_effective}\n' \${host:+-H} \${host:+"Host: $host"} \${proto:+-H} \${proto:+"X-Forwarded-Proto: $proto"} "$@" 2>/dev/null
fi
printf 'webhook %s\\n' "$(head -n 1 "$hook" 2>/dev/null)"
echo ready
IFS= read -r go || go=
[ "$go" = apply ] || exit 4
set -- "$sd"
while IFS= read -r kind && [ "$kind" != . ]; do
  IFS= read -r file || exit 2
  if [ "$kind" = w ]; then IFS= read -r content || exit 2; set -- "$@" w "$file" "$content"; else set -- "$@" "$kind" "$file"; fi
done
${APPLY_STATE}
echo switched`;

/** The probe's answers by host:port (curl prints them as they come, in any order); "000", no answer, as "". */
export function probeCodes(lines: string[]): Map<string, string> {
    const codes = new Map<string, string>();
    for (const l of lines) {
        const m = /^code (\d{3}) (\S+)$/.exec(l);
        if (!m) continue;
        try {
            codes.set(new URL(m[2]).host, m[1] === "000" ? "" : m[1]);
        } catch {
            // Not a URL: not one of ours.
        }
    }
    return codes;
}

/** The state changes as PROBE_AND_HOLD reads them: one per line, "." last. A value with a newline cannot be sent. */
export function opLines(opArgs: string[]): string {
    const bad = opArgs.find((a) => /[\r\n]/.test(a));
    if (bad !== undefined) throw new StepFailure(`a state value has a line break (${JSON.stringify(bad)}); nothing was moved`);
    return `apply\n${[...opArgs, "."].join("\n")}\n`;
}

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
    // The colour going live, as every step's environment names it (the rollback message says it).
    const base = { ...process.env, SWITCHYARD_PROXY: `${namePrefix}-proxy`, SWITCHYARD_STACK: label, SWITCHYARD_COLOR: otherColour(cfg.liveColor) };
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

/** A host read, probed and holding its switch, over its one connection. */
interface HostRead extends HostFacts {
    target: Target;
    oldImage: string;
    /** The restore lock's holder ("" when none). */
    lock: string;
    /** The stack's webhook URL ("" when none): a secret, for the rollback message only. */
    webhookUrl: string;
    /** The image the colour going live runs (its label). */
    targetImage: string;
    plan?: SwitchPlan;
    /** Where the host could not be read, why. */
    problem?: string;
    exec?: ApiExec;
    conn?: EngineConnection;
    /** Resolves with the line when the exec prints `line`, or with "" when it ends first. */
    until(line: string): Promise<string>;
}

interface ReadOptions {
    namePrefix: string;
    label: string;
    colour: Colour;
    retire: boolean;
    port: number;
    path: string;
    headers: { host: string; proto: string };
}

/**
 * One host in one connection: its app containers and frontend addresses
 * (two API calls), then one exec in its proxy that reads the route, the
 * restore lock and previous-live-image, probes each replica of the colour
 * once and holds.
 */
async function readHost(t: Target, o: ReadOptions): Promise<HostRead> {
    // The exec's lines as they come; until(line) waits for one of them, or for the exec's end.
    const lines: string[] = [];
    const waiting: { line: string; resolve: (l: string) => void }[] = [];
    let ended = false;
    const until = (line: string) => (lines.includes(line) || ended ? Promise.resolve(lines.includes(line) ? line : "") : new Promise<string>((resolve) => waiting.push({ line, resolve })));
    const onLine = (l: string) => {
        lines.push(l);
        for (const w of waiting.filter((x) => x.line === l)) w.resolve(l);
    };
    const h: HostRead = { name: t.name, target: t, route: "", replicas: [], oldImage: "", lock: "", webhookUrl: "", targetImage: "", until };
    const { env, problem } = stepDockerEnv(t.step.env);
    const endpoint = problem ?? resolveEndpoint(env);
    if (typeof endpoint === "string") return { ...h, problem: endpoint };
    const conn = EngineConnection.open(endpoint, env.DOCKER_HOST || "the local engine");
    h.conn = conn;
    try {
        const list = await conn.call<ListedContainer[]>("GET", listPath(slotLabels(o.label)));
        if (list.status !== 200) throw new Error(`listing containers: HTTP ${list.status} ${list.text.trim()}`);
        const frontend = await conn.call<Parameters<typeof membersOf>[0]>("GET", `/networks/${encodeURIComponent(`${o.namePrefix}-frontend`)}`);
        const all = appsOf(list.json ?? []);
        const ours = all.filter((a) => a.colour === o.colour).sort((a, b) => a.name.localeCompare(b.name));
        const address = frontend.status === 200 ? membersOf(frontend.json) : new Map<string, string>();
        // A replica with no address on the frontend network cannot be probed: a URL that cannot answer.
        const urls = ours.map((a) => (address.get(a.name) ? `http://${address.get(a.name)}:${o.port}${o.path}` : "http://0.0.0.0:1/"));
        const old = all.find((a) => a.colour === otherColour(o.colour));
        h.oldImage = old?.image ?? "";
        h.exec = await conn.exec(t.step.env.SWITCHYARD_PROXY!, ["sh", "-c", PROBE_AND_HOLD, "sh", STATE_DIR, ROUTE_MARKER, RESTORE_LOCK, PREVIOUS_LIVE_IMAGE, WEBHOOK_URL_FILE, o.headers.host, o.headers.proto, ...urls], onLine);
        void h.exec.done.then(() => {
            ended = true;
            for (const w of waiting) w.resolve("");
        });
        if ((await until("ready")) !== "ready") return { ...h, problem: "the proxy's state could not be read" };
        const value = (key: string) => (lines.find((l) => l.startsWith(`${key} `)) ?? `${key} `).slice(key.length + 1).trim();
        h.route = value("route") === "green" ? "green" : "blue";
        h.lock = value("lock");
        h.webhookUrl = value("webhook");
        h.targetImage = ours[0]?.image ?? "";
        const codes = probeCodes(lines);
        h.replicas = ours.map((a, i) => ({ name: a.name, code: address.get(a.name) ? (codes.get(new URL(urls[i]).host) ?? "") : "" }));
        h.plan = planSwitch({ target: o.colour, live: h.route, retire: o.retire, oldRunningImage: h.oldImage, oldRunningImageId: old?.imageId ?? "", targetImage: h.targetImage, previousLiveImage: value("previous") });
        return h;
    } catch (e) {
        conn.close();
        return { ...h, problem: (e as Error).message };
    }
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
    // Every host at once: read, probe and hold; then all switch, or none.
    const opts: ReadOptions = { namePrefix: read.namePrefix, label: read.label, colour, retire: cfg.standby === "retire", port: cfg.health.port ?? cfg.appPort, path: cfg.health.path, headers };
    const hosts = await Promise.all(targets.map((t) => readHost(t, opts)));
    const closeAll = () => hosts.forEach((h) => h.conn?.close());
    const locked = hosts.find((h) => h.lock);
    if (locked) {
        closeAll();
        locked.target.step.refuseRestoring(locked.lock);
    }
    const verdict = instantVerdict(colour, hosts);
    if (!verdict.ok) {
        closeAll();
        return refuse(main, verdict.why);
    }
    const moving = hosts.filter((h) => verdict.move.some((m) => m.name === h.name));
    hosts.filter((h) => !moving.includes(h)).forEach((h) => h.conn?.close());
    main.say(`${colour} answers on every host (${moving.reduce((n, h) => n + h.replicas.length, 0)} replica(s) probed just now)`);
    try {
        for (const h of moving) h.exec!.send(opLines(stateOpArgs(h.plan!.ops)));
    } catch (e) {
        closeAll();
        throw e;
    }
    const switched = await Promise.all(moving.map((h) => h.until("switched")));
    closeAll();
    const failed = moving.filter((_, i) => switched[i] !== "switched").map((h) => h.name ?? "the host");
    if (failed.length) main.fail(`could not re-point ${failed.join(", ")}; the regular rollback follows and moves every host`);
    for (const h of moving) {
        for (const line of h.plan!.lines) h.target.step.say(line);
    }
    main.say(`live traffic is on ${colour} on ${targets.length === 1 ? "the host" : "every host"}; the reconciling pulumi up follows`);
    // The webhook hears of it after traffic moved, as re-point's rollback message.
    // With the URL and the images it read already: no docker call (an ssh session each) before the message.
    await Promise.all(moving.map((h) => (h.plan!.rollback ? h.target.step.notify("rollback", h.plan!.rollback, h.oldImage, { url: h.webhookUrl, toImage: h.targetImage }) : undefined)));
}

function refuse(main: Step, why: string): void {
    main.say(`no instant rollback: ${why}; nothing was moved`);
    process.exitCode = 3;
}

if (require.main === module) void Step.run("rollback", rollbackNow);
