// Where the benchmarks put their figures: bench/results/<name>.json and
// bench/results/<name>.md, and the same on stdout.
import * as fs from "fs";
import * as path from "path";
import { REPO } from "../test/scripts/fixture";

/** Writes the figures as JSON and Markdown, prints both, and returns the two paths. */
export function writeBenchResults(name: string, figures: unknown, printed: unknown, markdown: string): string[] {
    const dir = path.join(REPO, "bench/results");
    fs.mkdirSync(dir, { recursive: true });
    const files = [path.join(dir, `${name}.json`), path.join(dir, `${name}.md`)];
    fs.writeFileSync(files[0], JSON.stringify(figures, null, 2));
    fs.writeFileSync(files[1], markdown);
    console.log("\n" + JSON.stringify(printed, null, 2) + "\n\n" + markdown);
    return files.map((f) => path.relative(REPO, f));
}
