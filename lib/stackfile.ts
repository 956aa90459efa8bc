// A stack's config file (Pulumi.<stack>.yaml), read the way Pulumi hands config
// to the program: full keys to strings, structured values as JSON text. The
// ops commands and the tests read stack files through this one place.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

export interface StackFile {
    /** "switchyard:liveColor" -> "blue"; objects as JSON text; secure values as "[secret]". */
    raw: Record<string, string>;
    /** Full keys whose values are encrypted (`secure:`), i.e. set with --secret. */
    secretKeys: Set<string>;
}

/** Where a stack's config file lives in this repo. */
export function stackFilePath(stack: string): string {
    return path.resolve(__dirname, "..", `Pulumi.${stack}.yaml`);
}

export function readStackFile(file: string): StackFile {
    const config = (YAML.parse(fs.readFileSync(file, "utf8"))?.config ?? {}) as Record<string, unknown>;
    const raw: Record<string, string> = {};
    const secretKeys = new Set<string>();
    for (const [key, value] of Object.entries(config)) {
        if (value && typeof value === "object" && "secure" in value) {
            secretKeys.add(key);
            raw[key] = "[secret]".padEnd(32, "*"); // encrypted here; only its presence is known
        } else {
            raw[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { raw, secretKeys };
}
