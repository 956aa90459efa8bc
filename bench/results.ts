// Where the benchmarks put their figures: bench/results/<name>.json and
// bench/results/<name>.md, and the same on stdout.
import * as fs from "fs";
import * as path from "path";
import { dockerAvailable, freePorts, REPO, TestStack } from "../test/scripts/fixture";

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

/** A benchmark's progress lines: one per step, with the seconds since this was called (its start). */
export function progress(): (msg: string) => void {
    const t0 = Date.now();
    return (msg) => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
}

/** The middle value (0 for none). */
export function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : 0;
}

/**
 * A test stack with the metrics sidecar (it makes the records' directory, and
 * reads and removes the files) and one blue replica live, as the proxy
 * benchmarks start from. The caller takes it down.
 */
export function liveBlueStack(id: string): TestStack {
    const missing = dockerAvailable();
    if (missing) throw new Error(`this benchmark needs a Docker engine and the local images: ${missing}`);
    const [metricsPort] = freePorts(1);
    const stack = new TestStack(id, { replicas: 1, metricsPort });
    try {
        stack.up(5);
        stack.passGate("blue", stack.startSlot("blue", 1));
    } catch (e) {
        stack.down();
        throw e;
    }
    return stack;
}
