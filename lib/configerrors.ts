// How a config problem is said: the key, the value (never a secret's), and
// what is allowed; every problem at once, and nothing created or changed.
import { z } from "zod";
import { SECRET_KEYS } from "./defaults";

export class ConfigError extends Error {
    /** `subject` says what was checked; defaults to the stack's config. */
    constructor(readonly problems: string[], stack: string, subject = `config for stack "${stack}"`) {
        super(
            `Invalid Switchyard ${subject} (${problems.length} problem${problems.length === 1 ? "" : "s"}); ` +
                `nothing was created or changed:\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

// Pulumi stores structured values as JSON text and scalars as plain strings.
export function decode(value: string): unknown {
    const t = value.trim();
    if (/^[\[{]/.test(t) || /^-?\d+(\.\d+)?$/.test(t) || t === "true" || t === "false" || t === "null") {
        try {
            return JSON.parse(t);
        } catch {
            return value;
        }
    }
    return value;
}

/** One problem, as the error lists it; `schema` names the keys allowed where an unknown one was found. */
export function describeIssue(issue: z.ZodIssue, input: Record<string, unknown>, keyPrefix: string, schema: z.ZodTypeAny): string {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
        const base = issue.path.length ? `${issue.path.join(".")}.` : "";
        const allowed = allowedKeysAt(schema, issue.path);
        return issue.keys
            .map((k) => `${keyPrefix}${base}${k}: unknown key${allowed ? ` (allowed here: ${allowed.join(", ")})` : ""}`)
            .join("\n  - ");
    }
    const key = `${keyPrefix}${issue.path.join(".")}`;
    // Secret keys never show their value; an env name under slotSecrets may show (it is not the value).
    const secret = (SECRET_KEYS as readonly string[]).includes(String(issue.path[0]));
    const raw = valueAt(input, issue.path);
    const value = secret && raw !== undefined ? "[secret]" : show(raw);
    return `${key} = ${value}: ${allowedText(issue)}`;
}

function allowedText(issue: z.ZodIssue): string {
    switch (issue.code) {
        case z.ZodIssueCode.invalid_enum_value:
            return `must be one of ${issue.options.join(" | ")}`;
        case z.ZodIssueCode.invalid_type:
            if (issue.received === "undefined") return `is required (${issue.expected})`;
            // A schema's own wording (exec form, booleans) says more than zod's.
            return issue.message.startsWith("Expected ") ? `must be a ${issue.expected}, got ${issue.received}` : issue.message;
        case z.ZodIssueCode.too_small:
            return issue.type === "string" || issue.type === "array" ? issue.message : `must be ${issue.inclusive ? ">=" : ">"} ${issue.minimum}`;
        case z.ZodIssueCode.too_big:
            return `must be ${issue.inclusive ? "<=" : "<"} ${issue.maximum}`;
        default:
            return issue.message;
    }
}

function allowedKeysAt(top: z.ZodTypeAny, path: (string | number)[]): string[] | undefined {
    let schema: z.ZodTypeAny = top;
    const unwrap = (s: z.ZodTypeAny): z.ZodTypeAny => {
        while (s instanceof z.ZodEffects || s instanceof z.ZodDefault || s instanceof z.ZodOptional) {
            s = s instanceof z.ZodEffects ? s.innerType() : s instanceof z.ZodDefault ? s._def.innerType : s.unwrap();
        }
        return s;
    };
    schema = unwrap(schema);
    for (const p of path) {
        if (!(schema instanceof z.ZodObject)) return undefined;
        schema = unwrap(schema.shape[p as string]);
    }
    return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined;
}

function valueAt(obj: unknown, path: (string | number)[]): unknown {
    let v: unknown = obj;
    for (const p of path) v = v && typeof v === "object" ? (v as Record<string, unknown>)[p as string] : undefined;
    return v;
}

function show(v: unknown): string {
    if (v === undefined) return "(not set)";
    return JSON.stringify(v);
}
