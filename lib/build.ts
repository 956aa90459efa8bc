// The program and its release engine run compiled: `pulumi up` runs
// dist/index.js (program.js), and a command resource starts
// `node dist/engine/<step>.js`, neither through ts-node: compiling some sixty
// files on every update cost more than the rest of a no-op `up` (issue 30).
// In this repository the sources are beside the build, so a stale build would
// deploy yesterday's program or release with yesterday's step: the program
// refuses to run until `npm run build:program` catches up. An installed
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

/** Where the compiled code starts: the program's entry, its components and renderer, every step. */
const ENTRY_DIRS = ["components", "nginx", "engine"];

/**
 * The sources the build is made of: index.ts, components/, nginx/ and
 * engine/, and every module of this repository they load at run time,
 * followed through relative imports (`import type` loads nothing, so it is
 * not followed).
 */
export function programSources(root: string): string[] {
    const seen = new Set<string>();
    const queue = [
        ...(fs.existsSync(path.join(root, "index.ts")) ? ["index.ts"] : []),
        ...ENTRY_DIRS.filter((d) => fs.existsSync(path.join(root, d))).flatMap((d) =>
            fs.readdirSync(path.join(root, d)).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")).map((f) => path.join(d, f)),
        ),
    ];
    while (queue.length) {
        const file = queue.pop()!;
        if (seen.has(file)) continue;
        seen.add(file);
        for (const m of fs.readFileSync(path.join(root, file), "utf8").matchAll(/^import (?!type )[^;]*? from "(\.\.?\/[^"]+)";/gm)) {
            const target = path.join(path.dirname(file), `${m[1]}.ts`);
            const index = path.join(path.dirname(file), m[1], "index.ts");
            if (fs.existsSync(path.join(root, target))) queue.push(target);
            else if (fs.existsSync(path.join(root, index))) queue.push(index);
        }
    }
    return [...seen].sort();
}

/** Written by ops/build-program.sh after a build that succeeded, with the time that build started. */
export const BUILD_STAMP = "dist/.program-built";

/**
 * Why the compiled program cannot be trusted (a source newer than its .js and
 * than the last build, or a .js missing), or undefined. The build is
 * incremental: a source touched with its content unchanged (git stash and
 * pop, a branch switched back) gets no new .js, and the stamp of the build
 * that read it is what says it was built.
 */
export function buildProblem(root: string): string | undefined {
    const stale: string[] = [];
    const stamp = mtime(path.join(root, BUILD_STAMP)) ?? 0;
    for (const source of programSources(root)) {
        const built = path.join(root, "dist", source.replace(/\.ts$/, ".js"));
        const b = mtime(built);
        if (b === undefined || Math.max(b, stamp) < mtime(path.join(root, source))!) stale.push(source);
    }
    if (stale.length === 0) return undefined;
    const shown = stale.length > 8 ? `${stale.slice(0, 8).join(", ")} and ${stale.length - 8} more` : stale.join(", ");
    return `switchyard: the compiled program in ${path.join(root, "dist")} is older than ${shown} (or missing): run npm run build:program. Nothing was created or changed.`;
}
