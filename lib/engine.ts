// The release engine (engine/*.ts) runs compiled: a command resource starts
// `node dist/engine/<step>.js`, not ts-node. In this repository the sources
// are beside it, so a stale build would release with yesterday's step: the
// program refuses to run until `npm run build:engine` catches up. An installed
// package has only dist/ (no sources), and nothing to compare.
import * as fs from "fs";
import * as path from "path";

function mtime(file: string): number | undefined {
    try {
        return fs.statSync(file).mtimeMs;
    } catch {
        return undefined;
    }
}

/**
 * The engine's sources: engine/*.ts and every module of this repository they
 * load at run time, followed through relative imports (`import type` loads
 * nothing, so it is not followed).
 */
export function engineSources(root: string): string[] {
    const dir = path.join(root, "engine");
    if (!fs.existsSync(dir)) return [];
    const seen = new Set<string>();
    const queue = fs.readdirSync(dir).filter((f) => f.endsWith(".ts")).map((f) => path.join("engine", f));
    while (queue.length) {
        const file = queue.pop()!;
        if (seen.has(file)) continue;
        seen.add(file);
        for (const m of fs.readFileSync(path.join(root, file), "utf8").matchAll(/^import (?!type )[^;]*? from "(\.\.?\/[^"]+)";/gm)) {
            const target = path.join(path.dirname(file), `${m[1]}.ts`);
            if (fs.existsSync(path.join(root, target))) queue.push(target);
        }
    }
    return [...seen].sort();
}

/** Why the compiled engine cannot be trusted (a source newer than its .js, or none), or undefined. */
export function engineBuildProblem(root: string): string | undefined {
    const stale: string[] = [];
    for (const source of engineSources(root)) {
        const built = path.join(root, "dist", source.replace(/\.ts$/, ".js"));
        const b = mtime(built);
        if (b === undefined || b < mtime(path.join(root, source))!) stale.push(source);
    }
    if (stale.length === 0) return undefined;
    return `switchyard: the release engine in ${path.join(root, "dist")} is older than ${stale.join(", ")} (or missing): run npm run build:engine. Nothing was created or changed.`;
}
