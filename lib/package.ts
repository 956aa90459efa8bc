// Where Switchyard's own files are: this repository, or the copy npm
// installed into another project (its compiled code runs from dist/). The
// release steps and the proxy template are found from here, never from the
// working directory, so an installed package works from any project.
import * as fs from "fs";
import * as path from "path";

/** A file only Switchyard's root holds: the route-marker protocol. */
const ROOT_MARK = path.join("scripts", "release", "route-marker.env");

function findRoot(from: string): string {
    for (let dir = from; ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, ROOT_MARK))) return dir;
        if (path.dirname(dir) === dir) throw new Error(`switchyard: no ${ROOT_MARK} above ${from}; the package is incomplete`);
    }
}

/** Switchyard's root directory: scripts/release and nginx/ are under it. */
export const PACKAGE_ROOT = findRoot(__dirname);

/** A file of the package, by its path from the root. */
export function packageFile(...parts: string[]): string {
    return path.join(PACKAGE_ROOT, ...parts);
}
