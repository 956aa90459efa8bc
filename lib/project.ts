// The files that make this Pulumi project, and a throwaway copy of it: the
// e2e stacks run in one, and `npm run plan` previews in one so that a preview
// never writes to the working tree (Pulumi adds an encryption salt to the
// stack file of a stack it creates).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const REPO = path.resolve(__dirname, "..");
/**
 * What a copy of the project needs to run `pulumi` and the operator commands
 * (node_modules is linked, not copied): dist holds the compiled release
 * engine, copied with its times so the copy's program finds it as fresh as here.
 */
export const PROJECT_FILES = ["Pulumi.yaml", "package.json", "tsconfig.json", "tsconfig.program.json", "program.js", "index.ts", "lib", "components", "engine", "nginx", "scripts", "ops", "setup", "dist"];

/** A temporary copy of the project at `from`, with the given stack files; returns its directory. */
export function copyProject(from: string, stackFiles: string[] = [], prefix = "switchyard-"): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    for (const f of [...PROJECT_FILES, ...stackFiles]) {
        if (fs.existsSync(path.join(from, f))) fs.cpSync(path.join(from, f), path.join(dir, path.basename(f)), { recursive: true, preserveTimestamps: true });
    }
    // The project's own dependencies (a team's project has the package inside them); this repo's otherwise.
    const modules = fs.existsSync(path.join(from, "node_modules")) ? path.join(from, "node_modules") : path.join(REPO, "node_modules");
    fs.symlinkSync(fs.realpathSync(modules), path.join(dir, "node_modules"));
    return dir;
}
