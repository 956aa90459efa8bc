// The field types of the config schema (lib/config.ts): each checks one value
// and says, in its message, what is allowed. Values Pulumi stores as text
// (numbers, booleans) are read as what they mean.
import { z } from "zod";
import { poolProblem } from "./addressing";
import { cpusRoundTrip, providerCpus } from "./dockerform";
import { ENV_NAME_RE, PROCESS_NAME_RE, RESERVED_ENV, RESERVED_ENV_PREFIX } from "./defaults";
export { PROCESS_NAME_RE };
import { hostnameProblem, isLinkLocalOrMetadata } from "./netrules";

// name[:tag][@sha256:digest], with an optional registry host and path. Every
// part starts with a letter or digit, so no reference reads as a CLI flag.
export const IMAGE_RE = /^(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export const image = z.string().regex(IMAGE_RE, "must be an image reference like name:tag or name@sha256:<64 hex>");
// `pulumi config set --path` stores a nested value like 0.25 as text; a
// number field takes the text of a number as that number.
export function numberFromText(v: unknown): unknown {
    return typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
}
export const numeric = <T extends z.ZodTypeAny>(schema: T) => z.preprocess(numberFromText, schema);
// Pulumi stores a top-level true as the text "true"; a nested one may be text
// too. Both spellings mean the boolean; any other text is refused.
export const bool = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean({ invalid_type_error: "must be true or false" }));

/** A lower-case SQL identifier, within Postgres's 63-byte limit. */
export const SQL_IDENTIFIER_RE = /^[a-z_][a-z0-9_]{0,62}$/;
export const sqlIdentifier = z.string().regex(SQL_IDENTIFIER_RE, "must be a lower-case SQL identifier (a-z, 0-9, _; at most 63 characters)");

// One environment variable name -> value map; values are text (numbers and
// booleans from YAML become their text). Names are checked, and the names
// Switchyard sets itself are refused.
export const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String).refine((v) => !v.includes("\0"), "must not contain a NUL character");
export const envMap = z.record(z.string(), envValue).superRefine((env, ctx) => {
    for (const name of Object.keys(env)) {
        if (!ENV_NAME_RE.test(name)) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name], message: "is not an environment variable name (letters, digits and _, not starting with a digit)" });
        } else if ((RESERVED_ENV as readonly string[]).includes(name) || name.startsWith(RESERVED_ENV_PREFIX)) {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: [name],
                message: `is set by Switchyard itself (${RESERVED_ENV.join(", ")} and ${RESERVED_ENV_PREFIX}*); choose another name`,
            });
        }
    }
});

// A command in exec form: a list of arguments, run without a shell. A text
// value is accepted when it splits on spaces with nothing a shell would read
// differently; otherwise it must be given as a list.
export const SHELL_CHARS_RE = /[|&;<>()$`\\"'*?[\]#~=%!{}\n\r\t]/;
export const execForm = z.preprocess(
    (v) => (typeof v === "string" && !SHELL_CHARS_RE.test(v) ? v.trim().split(/ +/).filter(Boolean) : v),
    z
        .array(z.string().min(1, "must not be an empty argument").max(1000).refine((a) => !/[\0\n]/.test(a), "must not contain a newline or NUL"), {
            invalid_type_error: 'must be a command in exec form, a list such as ["node", "migrate.js"]; a text with shell characters is not run through a shell',
        })
        .min(1, "must have at least the program to run")
        .max(64),
);

// A user-set password: long, and no control characters (they would end a
// config line or an environment entry). Any other character is fine: URLs
// percent-encode it, and Redis gets it quoted.
export const password = z.string().min(16, "must be at least 16 characters").regex(/^[^\x00-\x1f\x7f]*$/, "must not contain control characters (newline, tab, NUL)");

export const hostname = (wildcard: boolean) =>
    z.string().superRefine((v, ctx) => {
        const problem = hostnameProblem(v, wildcard);
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    });

/** A response header nginx may add: its name a token, its value one quoted nginx string (no ", \\, $ or control characters). */
export const HEADER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
export const headerValue = z
    .string()
    .max(4000)
    .regex(/^[^"\\$\x00-\x1f\x7f]*$/, 'must not contain ", \\, $ or control characters (use "" to leave a default header out)');

export const port = numeric(z.number().int().min(1).max(65535));
export const seconds = (min: number, max: number) => numeric(z.number().int().min(min).max(max));

// cpus forces a container's replacement when it changes, and the provider reads
// it back in its own form: only values that survive that read-back unchanged
// are accepted (0.05 comes back as 0.1, which would replace Postgres on every update).
export const cpus = numeric(
    z
        .number()
        .min(0.1)
        .max(256)
        // Out-of-range values get the range message alone.
        .refine((v) => v < 0.1 || v > 256 || cpusRoundTrip(v), (v) => ({
            message: `Docker's provider reads ${v} back as ${providerCpus(v)}, which would replace the container on every update; use a value it keeps, such as 0.1, 0.25, 0.5, 1 or 1.5`,
        })),
);

export const limits = z
    .object({
        memoryMb: numeric(z.number().int().min(16).max(1048576)),
        cpus,
    })
    .strict();

export const slot = z
    .object({
        image,
        // The app's own plain variables for this colour. A change is a release
        // of this colour, never a restart of the other one.
        env: envMap.optional(),
    })
    .strict();

/**
 * A process type beside the web process (the `processes` key): same image and
 * variables as its colour, its own command. A worker runs any number of
 * replicas and may overlap the other colour's during a switch; a scheduler is
 * a singleton the release hands over (never two at once).
 */
/** Names of the stack's own containers (`<prefix>-<name>`, `<prefix>-app-<colour>-<n>`): a process may not take them. */
export const RESERVED_PROCESS_NAMES = ["app", "web", "proxy", "postgres", "redis", "acme", "backup", "backups", "migrate", "job", "exec"] as const;
export const processSpec = z
    .object({
        // worker: any number of replicas; scheduler: exactly one runs at any moment.
        kind: z.enum(["worker", "scheduler"]),
        // Exec form: the image's entrypoint runs it, no shell reads it.
        command: execForm,
        // A scheduler is one container by definition; unset: 1.
        replicas: numeric(z.number().int().min(1).max(20)).optional(),
        // SIGTERM, then this long to finish the job in hand before a kill.
        stopGraceSeconds: seconds(1, 3600).default(30),
        // Docker's health check inside each container, in exec form; the gate waits for healthy. Unset: running and not restarting is the gate.
        healthCommand: execForm.optional(),
        // Unset: limits.app.
        limits: limits.optional(),
    })
    .strict();

/** Whether a URL part's percent-encoding decodes (a %zz or a lone %ff would throw at every preview). */
export function decodes(part: string): boolean {
    try {
        decodeURIComponent(part);
        return true;
    } catch {
        return false;
    }
}

/**
 * A service URL: the scheme, a host, and for Postgres a user and a database.
 * It is a secret, so no message repeats it, not even in part.
 */
export function externalUrl(schemes: string[], example: string) {
    return z.string().superRefine((v, ctx) => {
        let url: URL;
        try {
            url = new URL(v);
        } catch {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a URL such as ${example}` });
            return;
        }
        const problem = !schemes.includes(url.protocol)
            ? `must start with ${schemes.map((p) => `${p}//`).join(" or ")}, such as ${example}`
            : !url.hostname
              ? `must name a host, such as ${example}`
              : url.protocol.startsWith("postgres") && (!url.username || url.pathname.length < 2)
                ? `must name a user and a database, such as ${example}`
                : isLinkLocalOrMetadata(url.hostname)
                  ? "must not point at a link-local or cloud metadata address"
                  : /[\s'"`$\\]/.test(v)
                    ? "must not contain spaces, quotes, $ or backslashes (percent-encode them)"
                    : !decodes(url.username) || !decodes(url.password) || !decodes(url.pathname)
                      ? "has a % that is not a percent-encoded UTF-8 character (write a literal % as %25)"
                      : undefined;
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    });
}

/** An IPv4 CIDR new networks take their /24s from (lib/addressing.ts). */
export const addressPool = z.string().superRefine((v, ctx) => {
    const problem = poolProblem(v);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

/**
 * ssh://[user@]host[:port], tcp://host:port (TLS, from hostsTls) or unix:///path:
 * no spaces, quotes or shell characters.
 */
export const DOCKER_HOST_RE = /^(?:ssh:\/\/(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(?::\d{1,5})?|tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}|unix:\/\/\/[A-Za-z0-9._\/-]+)$/;
export const HOST_NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;
export const HOST_NAME_RULE = "must be a host name of a-z, 0-9 and - (starting with a letter, at most 31 characters), such as web-1";
export const host = z
    .object({
        // Names the host in resource names, the plan and every error: it stays, like a stack name.
        name: z.string().regex(HOST_NAME_RE, HOST_NAME_RULE),
        dockerHost: z.string().regex(DOCKER_HOST_RE, "must be a Docker host URL: ssh://[user@]host[:port], tcp://host:port (with its client TLS material in hostsTls) or unix:///path"),
        // This host's listener ports, when they differ from proxy.* (a host behind another load-balancer port).
        livePort: port.optional(),
        previewPort: port.optional(),
        tlsPort: port.optional(),
        previewTlsPort: port.optional(),
        // Where this host's networks take their /24s, when it differs from network.pool (another private range).
        networkPool: addressPool.optional(),
    })
    .strict();

/** A container's user: uid[:gid] or a name; a bare uid (a number in YAML or from `pulumi config set`) as its text. */
export const containerUser = z.preprocess(
    (v) => (typeof v === "number" ? String(v) : v),
    z.string().regex(/^(?:\d+(?::\d+)?|[a-z_][a-z0-9_-]{0,31}(?::[a-z_][a-z0-9_-]{0,31})?)$/, "must be uid[:gid] or a user name, such as 10001:10001"),
);
