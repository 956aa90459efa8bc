// The delete guard: a before-delete resource hook on every container, volume
// and network of a stack, run in previews too.
//
// Docker's provider replaces a container delete-first (design brief, fact 1),
// and whether an update replaces one is decided by the engine — from how the
// provider reads values back, image ids, secrets — not by anything the program
// can see in its config. So the refusal sits where the engine acts: before it
// deletes. It refuses deleting a container of the colour the live listener
// routes to (unless that colour is being retired after a switch), the shared
// Postgres, Redis and proxy, data volumes and networks. `pulumi preview` and
// the preview inside `pulumi up` run it, so a refused update changes nothing.
// An operator who means it says so for one run: SWITCHYARD_ALLOW_DELETE=postgres.
import * as pulumi from "@pulumi/pulumi";
import { Colour, COLOURS, otherColour } from "./config";
import { ReleasePlan } from "./release";

export { ALLOW_ENV, GUARDED_ROLES, GuardedRole, parseAllowList } from "./allowdelete";
import { ALLOW_ENV, GuardedRole } from "./allowdelete";
/** Hooks are bound per kind of resource; "app" containers map to the "live" permission. */
export type HookRole = "app" | "postgres" | "redis" | "proxy" | "volume" | "network";

export interface DeleteRequest {
    role: HookRole;
    /** Docker name of the container, volume or network. */
    dockerName: string;
    /** Colour label of an app container. */
    colour?: Colour;
    /** True in a preview: nothing is deleted, but the plan is judged. */
    dryRun: boolean;
}

export interface GuardContext {
    stack: string;
    plan: ReleasePlan;
    allow: ReadonlySet<GuardedRole>;
    /** The colour the live listener routes to right now (undefined: no proxy). */
    route: () => Promise<Colour | undefined>;
    /**
     * hosts[].name of a host after the first, in a stack of several: its hooks
     * are its own (hook names are unique in a program). Defaults to none: the
     * names a one-host stack's state holds.
     */
    hostName?: string;
}

/** undefined when the delete may go ahead, else the refusal. Pure apart from ctx.route. */
export async function refuseDelete(req: DeleteRequest, ctx: GuardContext): Promise<string | undefined> {
    const step = req.dryRun ? "This preview" : "This update";
    const allowHint = (role: GuardedRole) => `If you mean it, run this one update with ${ALLOW_ENV}=${role}.`;
    if (req.role === "app") {
        if (ctx.allow.has("live") || !req.colour) return undefined;
        const route = await ctx.route();
        if (route !== req.colour) return undefined; // idle colour: replacing or removing it drops nothing
        const retiring = !ctx.plan.declared.includes(req.colour);
        // Retiring the old colour after a switch: its delete runs after
        // re-point, verify and retire, when the route has moved. In a preview
        // the route has not moved yet, and that is the plan.
        if (retiring && req.dryRun) return undefined;
        if (retiring) {
            return `Refused: deleting ${req.dockerName} (${req.colour}) while the live listener still routes to ${req.colour}. ` +
                `The switch did not complete; live traffic stays on ${req.colour}. Run pulumi up again.`;
        }
        const other = otherColour(req.colour);
        return `Refused: ${step.toLowerCase()} would delete ${req.dockerName}, a container of ${req.colour}, which serves live traffic now. ` +
            `Docker replaces containers delete-first, so this would drop requests. Nothing was changed. ` +
            `The engine plans it because an input of the live colour changed (image id, limits, health, replicas, a password, the Docker host); ` +
            `\`pulumi preview --diff\` shows which. Release to the idle colour instead: ` +
            `\`pulumi config set --path slots.${other}.image <image>\` and \`pulumi config set liveColor ${other}\`, ` +
            `and put the live colour's settings back as they run. ${allowHint("live")}`;
    }
    const role: GuardedRole = req.role;
    if (ctx.allow.has(role)) return undefined;
    const what: Record<Exclude<GuardedRole, "live">, string> = {
        postgres: "the shared Postgres both colours use: replacing it restarts the database and fails every request that needs it (its volume is kept)",
        redis: "the shared Redis both colours use: replacing it restarts it and fails every request that needs it (its volume is kept)",
        proxy: "the nginx proxy: replacing it closes both listeners and every open connection",
        volume: "a data volume: deleting it deletes the data in it",
        network: "a network the slots and shared services are attached to",
    };
    return `Refused: ${step.toLowerCase()} would delete ${req.dockerName}, ${what[role]}. Nothing was changed. ` +
        `\`pulumi preview --diff\` shows which input forces it (a new image or image id, cpus, ports, a password). ` +
        `${allowHint(role)} To remove the whole stack, data included: \`${ALLOW_ENV}=all pulumi destroy --run-program --stack ${ctx.stack}\` ` +
        `(with the package's CLI: \`npx switchyard destroy --stack ${ctx.stack}\`; from this repository: \`npm run destroy -- --stack ${ctx.stack}\`).`;
}

/**
 * A destroy (or any update that removes several guarded resources) is
 * refused once per resource, and Pulumi prints each: the first refusal of a
 * run says why and what to run; every later one only names its resource.
 */
export class Refusals {
    private first?: string;

    say(refusal: string, dockerName: string): string {
        if (this.first === undefined) {
            this.first = dockerName;
            return refusal;
        }
        return `Refused as well: deleting ${dockerName}, for the reason the refusal for ${this.first} gives (with what to run).`;
    }
}

type Labelled = { labels?: { label: string; value: string }[]; name?: string };

/** Registers one before-delete hook per kind of resource; components bind them. */
export class DeleteGuard {
    private readonly hooks = new Map<HookRole, pulumi.ResourceHook>();
    private readonly refusals = new Refusals();

    /** The route read in flight, which every delete that asks meanwhile shares. */
    private routeRead?: Promise<Colour | undefined>;
    /** The route read once the retire step had finished: the retired colour's deletes use it (afterRetire). */
    private retiredRead?: Promise<Colour | undefined>;

    constructor(private readonly ctx: GuardContext) {
        // Every hook is registered on every run, bound or not: a resource that
        // left the program is deleted with the hooks its state names.
        for (const role of ["app", "postgres", "redis", "proxy", "volume", "network"] as const) {
            this.hooks.set(
                role,
                new pulumi.ResourceHook(`switchyard-guard-${ctx.hostName ? `${ctx.hostName}-` : ""}${role}`, (args) => this.check(role, args), { onDryRun: true }),
            );
        }
    }

    /** The hook binding for a resource of this kind. */
    binding(role: HookRole): pulumi.ResourceHookBinding {
        return { beforeDelete: [this.hooks.get(role)!] };
    }

    /**
     * The route, read once for the deletes that ask together: the engine
     * deletes a retired colour's replicas at once, and each read is a round
     * trip to the proxy. A read still in flight when a delete asks is as fresh
     * as a new one; a finished one is never reused.
     */
    private route(): Promise<Colour | undefined> {
        this.routeRead ??= this.ctx.route().finally(() => (this.routeRead = undefined));
        return this.routeRead;
    }

    /**
     * Reads the route as soon as the retire step has run (`done`, its stdout):
     * the retired colour's containers are deleted after it, and each of those
     * deletes would otherwise wait for a read of its own (an exec in the
     * proxy, 60-90 ms) at the very end of the update. The read is as good as
     * one made at the delete: retire stopped that colour after it found the
     * route elsewhere, and nothing moves the route back to a stopped colour
     * (rollback --now refuses one; re-point and verify move it to the target;
     * another update waits for the stack's lock). A read that failed is no
     * read: the delete reads again.
     */
    afterRetire(done: pulumi.Output<string>): void {
        done.apply((out) => {
            // A step that ran prints its lines; no output is a step that did not run here (a preview).
            if (out && !pulumi.runtime.isDryRun()) this.retiredRead = this.ctx.route().catch(() => undefined);
        });
    }

    private async check(role: HookRole, args: pulumi.ResourceHookArgs): Promise<void> {
        const old = { ...(args.oldOutputs ?? {}), ...(args.oldInputs ?? {}) } as Labelled;
        const colour = old.labels?.find((l) => l.label === "switchyard.colour")?.value;
        const known = (COLOURS as readonly string[]).includes(colour ?? "") ? (colour as Colour) : undefined;
        // A colour that left the program is the retired one; only its deletes may use the read made after retire.
        const retiring = role === "app" && known !== undefined && !this.ctx.plan.declared.includes(known);
        const refusal = await refuseDelete(
            {
                role,
                dockerName: old.name ?? args.name,
                colour: known,
                dryRun: pulumi.runtime.isDryRun(),
            },
            { ...this.ctx, route: async () => (retiring ? await this.retiredRead : undefined) ?? this.route() },
        );
        if (!refusal) return;
        const said = this.refusals.say(refusal, old.name ?? args.name);
        throw new Error(this.ctx.hostName ? `On host ${this.ctx.hostName}: ${said}` : said);
    }
}
