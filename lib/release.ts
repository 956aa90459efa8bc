// The release plan: from validated config and what the host runs now, decide
// which slots this update declares and whether it switches. Pure, so every
// rule is unit-tested without a provider.
//
// What the plan does not decide is whether a container would be re-created:
// that depends on how the provider reads values back, on image ids and on
// secrets the plan cannot see. The engine decides it, and the delete guard
// (lib/guard.ts) refuses it for the live colour and the shared services.
import { Colour, otherColour, SwitchyardConfig } from "./config";
import { HostState } from "./host";
import { sameDigests, valueDigests } from "./valuedigests";

export type IdleState = "staged" | "standby" | "retired" | "empty";

export interface ReleasePlan {
    live: Colour;
    idle: Colour;
    /** Colour nginx routes to before this update (undefined on the first update). */
    previousLive?: Colour;
    /** True when this update moves live traffic to another colour. */
    switching: boolean;
    /** Colours whose slot this update declares (the live one always). */
    declared: Colour[];
    idleState: IdleState;
}

export function planRelease(cfg: SwitchyardConfig, host: HostState): ReleasePlan {
    const live = cfg.liveColor;
    const idle = otherColour(live);
    const previousLive = host.route;
    const switching = previousLive !== undefined && previousLive !== live;

    const idleImage = cfg.slots[idle]?.image;
    let idleState: IdleState;
    if (!idleImage) idleState = "empty";
    else if (cfg.standby === "keep") idleState = "standby";
    // Switching away from a colour under standby "retire": it leaves the
    // program, so Pulumi deletes it after the switch steps (fact 4).
    else if (switching && previousLive === idle) idleState = "retired";
    // Retired with this very image: a no-op update must not bring it back.
    else if (host.retired[idle] === idleImage) idleState = "retired";
    else idleState = "staged";

    const declared: Colour[] = [live];
    if (idleState === "staged" || idleState === "standby") declared.push(idle);

    return { live, idle, previousLive, switching, declared, idleState };
}

/**
 * The image id a declared colour's containers are created from, when it is
 * not whatever its tag points to now. A colour that runs keeps the image it
 * runs: a tag moved in the registry (or read back by `pulumi up --refresh`)
 * must not re-create a colour without a release. A retired colour brought
 * back with the image it was retired with gets what it ran then (the retire
 * ledger's id): a rollback goes back to the code that ran, not to what the
 * tag names today. Undefined: the image the tag resolves to (a new release).
 */
export function pinnedImageId(host: HostState, colour: Colour, image: string): string | undefined {
    const running = host.running[colour];
    if (running) return running.image === image ? running.imageId : undefined;
    return host.retired[colour] === image ? host.retiredImageId?.[colour] : undefined;
}

export function describePlan(p: ReleasePlan): string {
    const idle = `${p.idle} ${p.idleState}`;
    if (p.previousLive === undefined) return `first release: ${p.live} goes live; ${idle}`;
    if (p.switching) return `switch ${p.previousLive} -> ${p.live}; ${idle}`;
    return `${p.live} stays live; ${idle}`;
}


/** The process types per declared colour, as plan and preview name them: "processes per colour (blue, green): clock scheduler ×1, worker worker ×2". */
export function describeProcesses(processes: Record<string, { kind: string; replicas?: number }>, declared: Colour[]): string {
    const types = Object.keys(processes)
        .sort()
        .map((name) => `${name} ${processes[name].kind} ×${processes[name].replicas ?? 1}`);
    return `processes per colour (${declared.join(", ")}): ${types.join(", ")}; the live colour's run, the other's are stopped`;
}

/**
 * Whether a colour keeps the variables it runs, whatever the shared ones
 * (env, appSecrets) say now. Only a colour that runs its configured image
 * can: one created or re-imaged takes the current values (a release carries
 * them). A colour that is live now or goes live by this update keeps its own
 * (it stays live, it is switched away from and kept, or a rollback switches
 * back to it), so the live colour is never restarted for a shared change.
 * The idle colour (standby) keeps what it ran, the instant rollback's
 * target, while config holds nothing new (nothingToStage); once it does, it
 * is staged with the current values, and the next switch releases them.
 */
export function keepsReleasedValues(plan: ReleasePlan, host: HostState, cfg: SwitchyardConfig, colour: Colour): boolean {
    const running = host.running[colour];
    if (!running || running.image !== cfg.slots[colour]?.image) return false;
    return colour === host.route || colour === plan.live || nothingToStage(host, cfg, colour);
}

/**
 * Whether config holds no value the running colours lack: the live colour
 * runs exactly the values config gives it (no shared value and none of its
 * own changed since its release), and the idle colour runs each of its own
 * overrides as config has them. Unknown digests (an older probe, a colour
 * not running) count as a change: staging is the safe side.
 */
export function nothingToStage(host: HostState, cfg: SwitchyardConfig, idle: Colour): boolean {
    const idleRuns = host.running[idle]?.values;
    if (!idleRuns || !liveRunsConfig(host, cfg, idle)) return false;
    const own = valueDigests({ ...cfg.slots[idle]?.env, ...cfg.slotSecrets?.[idle] });
    return Object.entries(own).every(([name, digest]) => idleRuns[name] === digest);
}

/** Whether the live colour (the route, other than `colour`) runs exactly the values config gives it now. */
function liveRunsConfig(host: HostState, cfg: SwitchyardConfig, colour: Colour): boolean {
    const live = host.route;
    const liveRuns = live && live !== colour ? host.running[live]?.values : undefined;
    if (!live || !liveRuns) return false;
    const values = colourValues(cfg, live);
    return sameDigests(liveRuns, valueDigests({ ...values.env, ...values.secrets }));
}

/**
 * Where a declared colour's variables come from this update:
 * - "kept": what its containers run (keepsReleasedValues);
 * - "remembered": what it ran when it was retired (components/releasedvalues.ts),
 *   for a retired colour brought back with the image it was retired with
 *   (pinnedImageId) while config holds nothing the live colour lacks: a
 *   rollback under standby retire, like one under keep, brings back the
 *   values the colour was released with;
 * - "config": the current values: a colour created, re-imaged or staged, or
 *   brought back while config holds a change (then the switch releases it).
 */
export function valuesSource(plan: ReleasePlan, host: HostState, cfg: SwitchyardConfig, colour: Colour): "kept" | "remembered" | "config" {
    if (keepsReleasedValues(plan, host, cfg, colour)) return "kept";
    const image = cfg.slots[colour]?.image;
    if (!host.running[colour] && image && pinnedImageId(host, colour, image) !== undefined && liveRunsConfig(host, cfg, colour)) return "remembered";
    return "config";
}

/** The variables a colour gets from config: the shared ones, then its own over them. */
export function colourValues(cfg: SwitchyardConfig, colour: Colour): { env: Record<string, string>; secrets: Record<string, string> } {
    return { env: { ...cfg.env, ...cfg.slots[colour]?.env }, secrets: { ...cfg.appSecrets, ...cfg.slotSecrets?.[colour] } };
}
