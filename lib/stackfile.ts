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

/** Where a stack's config file lives: Pulumi.<stack>.yaml of the project at `dir` (default: this repo). */
export function stackFilePath(stack: string, dir = path.resolve(__dirname, "..")): string {
    return path.join(dir, `Pulumi.${stack}.yaml`);
}

export function readStackFile(file: string): StackFile {
    const config = (YAML.parse(fs.readFileSync(file, "utf8"))?.config ?? {}) as Record<string, unknown>;
    const raw: Record<string, string> = {};
    const secretKeys = new Set<string>();
    for (const [key, value] of Object.entries(config)) {
        if (isSecure(value)) {
            secretKeys.add(key);
            raw[key] = "[secret]".padEnd(32, "*"); // encrypted here; only its presence is known
        } else if (hasSecure(value)) {
            // `config set --secret --path notify.webhookUrl`: the key is secret,
            // its encrypted leaves unknown here; they stand in as a valid URL.
            secretKeys.add(key);
            raw[key] = JSON.stringify(value, (_k, v) => (isSecure(v) ? SECRET_LEAF : v));
        } else {
            raw[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { raw, secretKeys };
}

/** What an encrypted leaf of a structured value reads as (only its presence is known). */
export const SECRET_LEAF = "https://secret.invalid/";

const isSecure = (v: unknown): boolean => Boolean(v && typeof v === "object" && !Array.isArray(v) && "secure" in (v as object));
const hasSecure = (v: unknown): boolean => isSecure(v) || (Boolean(v) && typeof v === "object" && Object.values(v as object).some(hasSecure));
