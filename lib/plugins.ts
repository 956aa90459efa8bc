// Which Pulumi CLI and provider plugins this machine has: a real preview or
// update needs the CLI and the docker, command and random plugins at the
// versions package-lock.json pins. The e2e suite, the benchmarks and
// `npm run plan` ask here before they try.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "..");

/** The Pulumi CLI: the one `npm run setup` put in $PULUMI_HOME/bin, else the first on PATH. */
export function pulumiBin(): string | undefined {
    const home = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
    const candidates = [path.join(home, "bin", "pulumi"), ...(process.env.PATH ?? "").split(":").map((d) => path.join(d, "pulumi"))];
    return candidates.find((c) => fs.existsSync(c));
}

/** The provider plugins the program needs, at the versions package-lock.json pins. */
export function requiredPlugins(): { name: string; version: string }[] {
    const lock = JSON.parse(fs.readFileSync(path.join(REPO, "package-lock.json"), "utf8"));
    return ["docker", "command", "random"].map((name) => ({ name, version: lock.packages[`node_modules/@pulumi/${name}`].version }));
}

/** What keeps a real preview from running here, one item per missing part; empty when it can run. */
export function missingForPreview(): string[] {
    const bin = pulumiBin();
    if (!bin) return ["pulumi CLI (npm run setup)"];
    const r = spawnSync(bin, ["plugin", "ls", "--json"], { encoding: "utf8", env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" } });
    const have: { name: string; kind: string; version: string }[] = r.status === 0 ? JSON.parse(r.stdout || "[]") ?? [] : [];
    return requiredPlugins()
        .filter((p) => !have.some((h) => h.kind === "resource" && h.name === p.name && h.version === p.version))
        .map((p) => `${p.name} ${p.version}`);
}
