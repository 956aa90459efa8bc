// The release plan: from validated config and what the host runs now, decide
// which slots this update declares and whether it switches. Pure, so every
// rule is unit-tested without a provider.
import { createHash } from "crypto";
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
    /** What each declared colour's containers are made from. */
    fingerprints: Partial<Record<Colour, string>>;
}

export class ReleaseRefused extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ReleaseRefused";
    }
}

/**
 * Everything that shapes a slot's containers, minus secret values. Any change
 * to it replaces the containers (design brief, fact 1), so it is also the test
 * for "would this recreate the live colour in place?".
 */
export function slotFingerprint(cfg: SwitchyardConfig, colour: Colour): string {
    const spec = {
        image: cfg.slots[colour]?.image,
        replicas: cfg.replicas,
        appPort: cfg.appPort,
        health: cfg.health,
        drainSeconds: cfg.drainSeconds,
        limits: cfg.limits.app,
        postgres: { database: cfg.postgres.database, user: cfg.postgres.user },
    };
    return createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 16);
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

    const fingerprints: Partial<Record<Colour, string>> = {};
    for (const c of declared) fingerprints[c] = slotFingerprint(cfg, c);

    // Fact 1: a changed container spec is delete-then-create. For the colour
    // serving traffic now that is downtime, so it is refused outright.
    if (previousLive !== undefined && declared.includes(previousLive)) {
        const running = host.running[previousLive];
        if (running && running.fingerprint !== fingerprints[previousLive]) {
            const target = otherColour(previousLive);
            throw new ReleaseRefused(
                `Refused: this update would recreate the containers of ${previousLive}, which is live now ` +
                    `(running ${running.image}, spec ${running.fingerprint}; this config gives ` +
                    `${cfg.slots[previousLive]?.image}, spec ${fingerprints[previousLive]}). Recreating a live slot drops requests. ` +
                    `Release to the idle colour instead: \`pulumi config set --path slots.${target}.image <image>\`, ` +
                    `then \`pulumi config set liveColor ${target}\`; restore slots.${previousLive} to its running settings first. ` +
                    `Nothing was created or changed.`,
            );
        }
    }

    return { live, idle, previousLive, switching, declared, idleState, fingerprints };
}

export function describePlan(p: ReleasePlan): string {
    const idle = `${p.idle} ${p.idleState}`;
    if (p.previousLive === undefined) return `first release: ${p.live} goes live; ${idle}`;
    if (p.switching) return `switch ${p.previousLive} -> ${p.live}; ${idle}`;
    return `${p.live} stays live; ${idle}`;
}

