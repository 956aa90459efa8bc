// Stack config for Switchyard: one zod schema, parsed before any resource is
// declared. pulumi.Config.getObject does not validate (design brief, fact 8),
// so every key in the `switchyard:` namespace goes through here, unknown keys
// included, and every problem is reported in one message.
import { z } from "zod";
import { cpusRoundTrip, providerCpus } from "./dockerform";

export const NAMESPACE = "switchyard";
export const COLOURS = ["blue", "green"] as const;
export type Colour = (typeof COLOURS)[number];
export const ENVIRONMENTS = ["local", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** Keys that must be set with `pulumi config set --secret` (notify holds the webhook URL). */
export const SECRET_KEYS = ["postgresPassword", "redisPassword", "notify"] as const;

export function otherColour(c: Colour): Colour {
    return c === "blue" ? "green" : "blue";
}

// name[:tag][@sha256:digest], with an optional registry host and path.
const IMAGE_RE = /^(?:[a-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

const image = z.string().regex(IMAGE_RE, "must be an image reference like name:tag or name@sha256:<64 hex>");
// `pulumi config set --path` stores a nested value like 0.25 as text; a
// number field takes the text of a number as that number.
function numberFromText(v: unknown): unknown {
    return typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
}
const numeric = <T extends z.ZodTypeAny>(schema: T) => z.preprocess(numberFromText, schema);

const port = numeric(z.number().int().min(1).max(65535));
const seconds = (min: number, max: number) => numeric(z.number().int().min(min).max(max));

// cpus forces a container's replacement when it changes, and the provider reads
// it back in its own form: only values that survive that read-back unchanged
// are accepted (0.05 comes back as 0.1, which would replace Postgres on every update).
const cpus = numeric(
    z
        .number()
        .min(0.1)
        .max(256)
        // Out-of-range values get the range message alone.
        .refine((v) => v < 0.1 || v > 256 || cpusRoundTrip(v), (v) => ({
            message: `Docker's provider reads ${v} back as ${providerCpus(v)}, which would replace the container on every update; use a value it keeps, such as 0.1, 0.25, 0.5, 1 or 1.5`,
        })),
);

const limits = z
    .object({
        memoryMb: numeric(z.number().int().min(16).max(1048576)),
        cpus,
    })
    .strict();

const slot = z.object({ image }).strict();

export const configSchema = z
    .object({
        environment: z.enum(ENVIRONMENTS).default("local"),
        liveColor: z.enum(COLOURS),
        slots: z.object({ blue: slot.optional(), green: slot.optional() }).strict(),
        replicas: numeric(z.number().int().min(1).max(20)).default(2),
        standby: z.enum(["retire", "keep"]).default("retire"),
        appPort: port.default(3000),
        // uid[:gid] or a user name; unset, the image's own USER decides.
        appUser: z.string().regex(/^(?:\d+(?::\d+)?|[a-z_][a-z0-9_-]{0,31}(?::[a-z_][a-z0-9_-]{0,31})?)$/, "must be uid[:gid] or a user name, such as 10001:10001").optional(),
        health: z
            .object({
                path: z.string().regex(/^\/[A-Za-z0-9._~\/?=&%-]*$/, "must be a URL path starting with /").default("/health"),
                port: port.optional(),
                intervalSeconds: seconds(1, 60).default(2),
                timeoutSeconds: seconds(5, 900).default(60),
                healthyThreshold: numeric(z.number().int().min(1).max(50)).default(3),
            })
            .strict()
            .default({}),
        verifyRequests: numeric(z.number().int().min(1).max(100)).default(5),
        drainSeconds: seconds(0, 600).default(15),
        proxy: z
            .object({
                image: image.default("nginx:1.27-bookworm"),
                livePort: port.default(8080),
                previewPort: port.default(8081),
                bindAddress: z.string().ip({ message: "must be an IP address such as 127.0.0.1 or 0.0.0.0" }).default("127.0.0.1"),
                // Raw nginx directives for the http block (rate limits, headers, maps).
                // Only nginx can validate them: the proxy-config step runs `nginx -t`
                // and keeps the previous config when they are rejected.
                extraHttpConfig: z.string().max(8000).refine((v) => !v.includes("{{"), "must not contain {{ (template placeholders)").optional(),
            })
            .strict()
            .default({}),
        postgres: z
            .object({
                image: image.default("postgres:16-bookworm"),
                database: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier").default("app"),
                user: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier").default("app"),
            })
            .strict()
            .default({}),
        redis: z.object({ image: image.default("redis:7-bookworm") }).strict().default({}),
        limits: z
            .object({
                app: limits.default({ memoryMb: 256, cpus: 0.5 }),
                proxy: limits.default({ memoryMb: 128, cpus: 0.5 }),
                postgres: limits.default({ memoryMb: 512, cpus: 1 }),
                redis: limits.default({ memoryMb: 128, cpus: 0.5 }),
            })
            .strict()
            .default({}),
        backups: z
            .object({
                enabled: z.boolean().default(true),
                keep: numeric(z.number().int().min(1).max(1000)).default(10),
                // An absolute host directory instead of the backups volume.
                hostDir: z.string().regex(/^\/[A-Za-z0-9._\/-]*$/, "must be an absolute path of letters, digits, . _ - and /").optional(),
            })
            .strict()
            .default({}),
        migrations: z
            .object({
                command: z.string().min(1).max(1000).optional(),
                contractCommand: z.string().min(1).max(1000).optional(),
                timeoutSeconds: seconds(10, 7200).default(600),
            })
            .strict()
            .default({}),
        maintenance: z.boolean().default(false),
        notify: z
            .object({
                webhookUrl: z.string().url("must be an http(s) URL").regex(/^https?:\/\//, "must be an http(s) URL").optional(),
            })
            .strict()
            .default({}),
        postgresPassword: z.string().min(16, "must be at least 16 characters").optional(),
        redisPassword: z.string().min(16, "must be at least 16 characters").optional(),
    })
    .strict()
    .superRefine((c, ctx) => {
        if (!c.slots[c.liveColor]) {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: ["slots", c.liveColor, "image"],
                message: `is required: liveColor is ${c.liveColor}, so that colour needs an image`,
            });
        }
        if (c.proxy.livePort === c.proxy.previewPort) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["proxy", "previewPort"], message: "must differ from proxy.livePort" });
        }
        if (c.migrations.contractCommand && c.standby === "keep") {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: ["migrations", "contractCommand"],
                message: 'is refused with standby "keep": the old colour keeps running old code, which a contract migration would break; use standby "retire"',
            });
        }
        if (c.environment === "production") {
            if (!c.backups.enabled) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["backups", "enabled"], message: "cannot be false in production: every switch backs up the database first" });
            }
            for (const colour of COLOURS) {
                const img = c.slots[colour]?.image;
                if (img && !isPinned(img)) {
                    ctx.addIssue({
                        code: z.ZodIssueCode.custom,
                        path: ["slots", colour, "image"],
                        message: "must be pinned in production: a tag other than latest, or an @sha256 digest",
                    });
                }
            }
            for (const svc of ["proxy", "postgres", "redis"] as const) {
                if (!isPinned(c[svc].image)) {
                    ctx.addIssue({ code: z.ZodIssueCode.custom, path: [svc, "image"], message: "must be pinned in production: a tag other than latest, or an @sha256 digest" });
                }
            }
        }
    });

export type SwitchyardConfig = z.infer<typeof configSchema>;

/** An image is pinned when it has a digest, or a tag that is not `latest`. */
export function isPinned(ref: string): boolean {
    if (ref.includes("@sha256:")) return true;
    const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
    const colon = lastSegment.indexOf(":");
    return colon >= 0 && lastSegment.slice(colon + 1) !== "latest";
}

export class ConfigError extends Error {
    constructor(readonly problems: string[], stack: string) {
        super(
            `Invalid Switchyard config for stack "${stack}" (${problems.length} problem${problems.length === 1 ? "" : "s"}); ` +
                `nothing was created or changed:\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

/**
 * Parses the raw `switchyard:*` config of a stack. `raw` maps full keys
 * ("switchyard:liveColor") to the strings Pulumi stores; `secretKeys` lists
 * the full keys Pulumi holds as secrets. Throws ConfigError listing every
 * problem; secret values are never echoed.
 */
export function parseConfig(raw: Record<string, string>, secretKeys: ReadonlySet<string>, stack: string): SwitchyardConfig {
    const input: Record<string, unknown> = {};
    const problems: string[] = [];
    for (const [fullKey, value] of Object.entries(raw)) {
        if (!fullKey.startsWith(`${NAMESPACE}:`)) continue;
        const key = fullKey.slice(NAMESPACE.length + 1);
        const isSecretKey = (SECRET_KEYS as readonly string[]).includes(key);
        if (isSecretKey && !secretKeys.has(fullKey)) {
            const how = key === "notify" ? "--secret --path notify.webhookUrl <url>" : `--secret ${key} <value>`;
            problems.push(`${fullKey}: is stored in plaintext; set it with \`pulumi config set ${how}\``);
            continue;
        }
        // A password is text as it stands (digits must not become a number); notify is an object.
        input[key] = isSecretKey && key !== "notify" ? value : decode(value);
    }
    const result = configSchema.safeParse(input);
    if (!result.success) {
        for (const issue of result.error.issues) problems.push(describeIssue(issue, input));
    }
    if (problems.length > 0) throw new ConfigError(problems, stack);
    return result.success ? result.data : (undefined as never);
}

// Pulumi stores structured values as JSON text and scalars as plain strings.
function decode(value: string): unknown {
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

function describeIssue(issue: z.ZodIssue, input: Record<string, unknown>): string {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
        const base = issue.path.length ? `${issue.path.join(".")}.` : "";
        const allowed = allowedKeysAt(issue.path);
        return issue.keys
            .map((k) => `${NAMESPACE}:${base}${k}: unknown key${allowed ? ` (allowed here: ${allowed.join(", ")})` : ""}`)
            .join("\n  - ");
    }
    const key = `${NAMESPACE}:${issue.path.join(".")}`;
    const secret = (SECRET_KEYS as readonly string[]).includes(String(issue.path[0]));
    const value = secret ? "[secret]" : show(valueAt(input, issue.path));
    return `${key} = ${value}: ${allowedText(issue)}`;
}

function allowedText(issue: z.ZodIssue): string {
    switch (issue.code) {
        case z.ZodIssueCode.invalid_enum_value:
            return `must be one of ${issue.options.join(" | ")}`;
        case z.ZodIssueCode.invalid_type:
            return issue.received === "undefined" ? `is required (${issue.expected})` : `must be a ${issue.expected}, got ${issue.received}`;
        case z.ZodIssueCode.too_small:
            return issue.type === "string" ? issue.message : `must be ${issue.inclusive ? ">=" : ">"} ${issue.minimum}`;
        case z.ZodIssueCode.too_big:
            return `must be ${issue.inclusive ? "<=" : "<"} ${issue.maximum}`;
        default:
            return issue.message;
    }
}

function allowedKeysAt(path: (string | number)[]): string[] | undefined {
    let schema: z.ZodTypeAny = configSchema;
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
