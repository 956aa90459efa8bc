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
 * Whether a colour keeps the variables it was released with, though the
 * shared ones (env, appSecrets) changed: it runs, its image stays, and it is
 * live now or goes live by this update (it stays live, it is switched away
 * from and kept, or a rollback switches back to it). Only a colour that is
 * created, gets a new image, or stays idle (staged, standby) takes the
 * current values: so changing a shared value stages it on the idle colour,
 * a release carries it, a rollback brings back the old colour's values, and
 * the live colour is never restarted for it.
 */
export function keepsReleasedValues(plan: ReleasePlan, host: HostState, cfg: SwitchyardConfig, colour: Colour): boolean {
    const running = host.running[colour];
    if (!running || running.image !== cfg.slots[colour]?.image) return false;
    return colour === host.route || colour === plan.live;
}

/** The variables a colour gets from config: the shared ones, then its own over them. */
export function colourValues(cfg: SwitchyardConfig, colour: Colour): { env: Record<string, string>; secrets: Record<string, string> } {
    return { env: { ...cfg.env, ...cfg.slots[colour]?.env }, secrets: { ...cfg.appSecrets, ...cfg.slotSecrets?.[colour] } };
}
