// Loading @pulumi/pulumi loads its function serialization (runtime/closure)
// eagerly, and with it the TypeScript compiler (through its typescript-shim)
// and npm's @npmcli/arborist: about 0.5 s of every program start here, in
// every preview and every up, and in every operator command that opens the
// Automation API (issue 30: a no-op up of the program was 1.3-1.5x the floor).
// Switchyard serializes no function (no dynamic provider, no callback), so it
// never uses either. deferModules puts each in Node's module cache as a
// stand-in that loads the real module on first touch: a program that does
// serialize a function gets the real modules, only later. Only for our own
// entry points (program.js, the operator CLI), never for a team's program
// that imports the components.
import Module = require("module");
import * as path from "path";

/** What Pulumi's closure serialization loads and a program of ours never calls: as requests from @pulumi/pulumi's directory. */
export const CLOSURE_MODULES = ["./typescript-shim", "@npmcli/arborist"];

/**
 * The exports of `file`, loaded when first touched. It says it is an ES
 * module, so TypeScript's import helpers hand it on as it is instead of
 * copying its keys (which would load it at once); its `default` is then what
 * those helpers would have made of the real module.
 */
function deferred(file: string): object {
    let real: Record<PropertyKey, unknown> | undefined;
    const load = (): Record<PropertyKey, unknown> => {
        if (real === undefined) {
            delete require.cache[file];
            real = require(file) as Record<PropertyKey, unknown>;
        }
        return real;
    };
    return new Proxy(
        {},
        {
            get: (_, key) => {
                if (key === "__esModule") return true;
                const r = load();
                return key === "default" && !r.__esModule ? r : r[key];
            },
            has: (_, key) => key in load(),
            set: (_, key, value) => Reflect.set(load(), key, value),
            ownKeys: () => Reflect.ownKeys(load()),
            getOwnPropertyDescriptor: (_, key) => {
                const d = Reflect.getOwnPropertyDescriptor(load(), key);
                // A stand-in's property is never fixed (a Proxy may only report a fixed one its own target has).
                return d && { ...d, configurable: true };
            },
        },
    );
}

/**
 * Puts a deferred stand-in for each request (resolved from `fromDir`) in the
 * module cache, unless that module is loaded already or cannot be found (then
 * whoever requires it gets what they would have). Returns the files deferred.
 */
export function deferModules(requests: string[], fromDir: string): string[] {
    const done: string[] = [];
    for (const request of requests) {
        let file: string;
        try {
            file = require.resolve(request, { paths: [fromDir] });
        } catch {
            continue;
        }
        if (require.cache[file]) continue;
        const m = new Module(file);
        m.filename = file;
        m.loaded = true;
        m.exports = deferred(file);
        require.cache[file] = m;
        done.push(file);
    }
    return done;
}

/** Defers CLOSURE_MODULES for the @pulumi/pulumi this process would load. */
export function deferClosureModules(): string[] {
    let pulumiDir: string;
    try {
        pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
    } catch {
        return [];
    }
    return deferModules(CLOSURE_MODULES, pulumiDir);
}
