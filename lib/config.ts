// Stack config for Switchyard: one zod schema, parsed before any resource is
// declared. pulumi.Config.getObject does not validate (design brief, fact 8),
// so every key in the `switchyard:` namespace goes through here, unknown keys
// included, and every problem is reported in one message.
import { z } from "zod";
import { extraHttpConfigProblems } from "../nginx/directives";
import { DEFAULT_ADDRESS_POOL, MAX_REPLICAS_ADDRESSED, poolProblem } from "./addressing";
import { cpusRoundTrip, providerCpus } from "./dockerform";
import { dataAddressProblem } from "./dataaddress";
import { hostDirProblem } from "./hostdir";

export const NAMESPACE = "switchyard";
export const COLOURS = ["blue", "green"] as const;
export type Colour = (typeof COLOURS)[number];
export const ENVIRONMENTS = ["local", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/**
 * Keys that must be set with `pulumi config set --secret` (notify holds the
 * webhook URL, slotSecrets the app's secret variables). Every other key is a
 * plain setting: one that Pulumi holds as a secret is refused, because its
 * value would reach state and resource inputs in plaintext.
 */
export const SECRET_KEYS = ["postgresPassword", "redisPassword", "notify", "slotSecrets", "registryPassword", "tls", "postgresUrl", "redisUrl", "hostsTls", "acmeEabHmacKey"] as const;
/** Secret keys whose value is an object (JSON), not text. */
const SECRET_OBJECT_KEYS: readonly string[] = ["notify", "slotSecrets", "tls", "hostsTls"];

/** Variables Switchyard sets in every app container; config may not set them. */
export const RESERVED_ENV = ["PORT", "DATABASE_URL", "REDIS_URL"] as const;
export const RESERVED_ENV_PREFIX = "SWITCHYARD_";
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Methods an app may mark idempotent (proxy.idempotentMethods); GET, HEAD and OPTIONS always are. */
export const RETRIABLE_METHODS = ["PUT", "DELETE", "POST", "PATCH"] as const;
export type RetriableMethod = (typeof RETRIABLE_METHODS)[number];

export function otherColour(c: Colour): Colour {
    return c === "blue" ? "green" : "blue";
}

// name[:tag][@sha256:digest], with an optional registry host and path. Every
// part starts with a letter or digit, so no reference reads as a CLI flag.
const IMAGE_RE = /^(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

const image = z.string().regex(IMAGE_RE, "must be an image reference like name:tag or name@sha256:<64 hex>");
// `pulumi config set --path` stores a nested value like 0.25 as text; a
// number field takes the text of a number as that number.
function numberFromText(v: unknown): unknown {
    return typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v;
}
const numeric = <T extends z.ZodTypeAny>(schema: T) => z.preprocess(numberFromText, schema);
// Pulumi stores a top-level true as the text "true"; a nested one may be text
// too. Both spellings mean the boolean; any other text is refused.
const bool = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean({ invalid_type_error: "must be true or false" }));

/** A lower-case SQL identifier, within Postgres's 63-byte limit. */
export const SQL_IDENTIFIER_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const sqlIdentifier = z.string().regex(SQL_IDENTIFIER_RE, "must be a lower-case SQL identifier (a-z, 0-9, _; at most 63 characters)");

// One environment variable name -> value map; values are text (numbers and
// booleans from YAML become their text). Names are checked, and the names
// Switchyard sets itself are refused.
const envValue = z.union([z.string(), z.number(), z.boolean()]).transform(String).refine((v) => !v.includes("\0"), "must not contain a NUL character");
const envMap = z.record(z.string(), envValue).superRefine((env, ctx) => {
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
const SHELL_CHARS_RE = /[|&;<>()$`\\"'*?[\]#~=%!{}\n\r\t]/;
const execForm = z.preprocess(
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
const password = z.string().min(16, "must be at least 16 characters").regex(/^[^\x00-\x1f\x7f]*$/, "must not contain control characters (newline, tab, NUL)");

/** 127.0.0.0/8, ::1 (bracketed or not) and localhost: only this host reaches it. */
export function isLoopback(host: string): boolean {
    const h = host.replace(/^\[|\]$/g, "").toLowerCase();
    return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
/**
 * The IPv4 address an IPv6 one carries, if any: IPv4-mapped (::ffff:a.b.c.d),
 * IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d), in dotted or hex
 * form. Each reaches that IPv4 address on a dual-stack host.
 */
export function embeddedIpv4(host: string): string | undefined {
    const h = host.replace(/^\[|\]$/g, "").toLowerCase();
    const m = /^(?:::ffff:|::|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/.exec(h);
    if (!m) return undefined;
    if (m[1]) return m[1];
    const [hi, lo] = [parseInt(m[2], 16), parseInt(m[3], 16)];
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}

function isLinkLocalOrMetadata(host: string): boolean {
    const v4 = embeddedIpv4(host);
    if (v4) return isLinkLocalOrMetadata(v4);
    const h = host.replace(/^\[|\]$/g, "").toLowerCase();
    return /^169\.254\./.test(h) || /^fe[89ab][0-9a-f]:/.test(h) || h === "metadata" || h === "metadata.google.internal" || h === "100.100.100.200" || h === "fd00:ec2::254";
}

/** Why a webhook URL is refused, or undefined: https anywhere, plain http only to this machine. */
export function webhookUrlProblem(value: string): string | undefined {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return "must be an https:// URL";
    }
    if (url.username || url.password) return "must not carry credentials in the URL (put a token in the path or query)";
    if (isLinkLocalOrMetadata(url.hostname)) return "must not point at a link-local or cloud metadata address";
    if (url.protocol === "https:") return undefined;
    if (url.protocol === "http:" && isLoopback(url.hostname)) return undefined;
    return "must be an https:// URL (plain http:// only to 127.0.0.1, localhost or ::1)";
}

/** A bind address as a URL host: IPv6 in brackets, the any-address as loopback. */
export function urlHost(bindAddress: string): string {
    if (bindAddress === "0.0.0.0") return "127.0.0.1";
    if (bindAddress === "::") return "[::1]";
    return bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress;
}

/** A DNS name a request's Host may carry (lower case), or an IPv4 address; `*.` in front with wildcards allowed. */
export function hostnameProblem(value: string, wildcard: boolean): string | undefined {
    const name = wildcard && value.startsWith("*.") ? value.slice(2) : value;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return name === value && name.split(".").every((p) => Number(p) <= 255) ? undefined : "is not an IPv4 address";
    if (name.length > 253 || !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(name)) {
        return `must be a lower-case host name such as app.example.com${wildcard ? " (or *.example.com)" : ""}`;
    }
    return undefined;
}

/** Whether a Host (no port) is one of `names` (exact, or `*.domain` for any one or more labels in front). */
export function hostMatches(host: string, names: string[]): boolean {
    return names.some((n) => (n.startsWith("*.") ? host.endsWith(n.slice(1)) && host.length > n.length - 1 : host === n));
}

const hostname = (wildcard: boolean) =>
    z.string().superRefine((v, ctx) => {
        const problem = hostnameProblem(v, wildcard);
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    });

/** An IPv4 or IPv6 CIDR (or a single address) for nginx's realip and geo: digits, dots, colons and one /bits. */
function cidrProblem(value: string): string | undefined {
    const [addr, bits, extra] = value.split("/");
    if (extra !== undefined) return "must be an address or CIDR such as 10.0.0.0/8";
    const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(addr) && addr.split(".").every((p) => Number(p) <= 255);
    const v6 = !v4 && /^[0-9a-f:]+$/i.test(addr) && addr.includes(":") && z.string().ip({ version: "v6" }).safeParse(addr).success;
    if (!v4 && !v6) return "must be an address or CIDR such as 10.0.0.0/8 or fd00::/8";
    if (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (v4 ? 32 : 128))) return `has a prefix length outside 0-${v4 ? 32 : 128}`;
    if (v4 && (addr === "0.0.0.0" && bits === "0")) return "must not be 0.0.0.0/0: that trusts every client's forwarded headers";
    if (v6 && bits === "0") return "must not be ::/0: that trusts every client's forwarded headers";
    return undefined;
}

/** A response header nginx may add: its name a token, its value one quoted nginx string (no ", \\, $ or control characters). */
const HEADER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const headerValue = z
    .string()
    .max(4000)
    .regex(/^[^"\\$\x00-\x1f\x7f]*$/, 'must not contain ", \\, $ or control characters (use "" to leave a default header out)');

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

const slot = z
    .object({
        image,
        // The app's own plain variables for this colour. A change is a release
        // of this colour, never a restart of the other one.
        env: envMap.optional(),
    })
    .strict();

/**
 * Every default, defined once: the config schema fills them in, and the
 * components use the same values when their args leave a field out.
 */
export const DEFAULTS = {
    replicas: 2,
    standby: "retire",
    appPort: 3000,
    healthPath: "/health",
    verifyRequests: 5,
    // Off: a release is promoted once verify passes, as before the bake existed.
    bake: { seconds: 0, maxErrorPercent: 1, minRequests: 50 },
    drainSeconds: 15,
    proxyImage: "nginx:1.27-bookworm",
    // What a framework app needs from its proxy (README, "The proxy: what your app sees").
    proxy: { maxBodyMb: 25, readTimeoutSeconds: 75, sendTimeoutSeconds: 60, streamTimeoutSeconds: 3600, upstreamKeepaliveSeconds: 2 },
    addressPool: DEFAULT_ADDRESS_POOL,
    // Let's Encrypt's production directory; certbot's image, which runs the renewals.
    acmeDirectoryUrl: "https://acme-v02.api.letsencrypt.org/directory",
    acmeImage: "certbot/certbot:v2.11.0",
    acmeCheckSeconds: 3600,
    livePort: 8080,
    previewPort: 8081,
    bindAddress: "127.0.0.1",
    tlsPort: 8443,
    previewTlsPort: 8444,
    postgresImage: "postgres:16-bookworm",
    database: "app",
    user: "app",
    // Postgres's own default max_connections, and the pool of one replica of the
    // sample app (node-postgres's default; HikariCP's too).
    postgresMaxConnections: 100,
    connectionsPerReplica: 10,
    redisImage: "redis:7-bookworm",
    limits: {
        app: { memoryMb: 256, cpus: 0.5 },
        proxy: { memoryMb: 128, cpus: 0.5 },
        postgres: { memoryMb: 512, cpus: 1 },
        redis: { memoryMb: 128, cpus: 0.5 },
    },
    dataPorts: { postgres: 5432, redis: 6379 },
    rolloutBatchSize: 1,
    backupsKeep: 10,
    migrationTimeoutSeconds: 600,
} as const;

/** Whether a URL part's percent-encoding decodes (a %zz or a lone %ff would throw at every preview). */
function decodes(part: string): boolean {
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
function externalUrl(schemes: string[], example: string) {
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
const addressPool = z.string().superRefine((v, ctx) => {
    const problem = poolProblem(v);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

export const MAX_HOSTS = 10;
/**
 * ssh://[user@]host[:port], tcp://host:port (TLS, from hostsTls) or unix:///path:
 * no spaces, quotes or shell characters.
 */
const DOCKER_HOST_RE = /^(?:ssh:\/\/(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(?::\d{1,5})?|tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}|unix:\/\/\/[A-Za-z0-9._\/-]+)$/;
const HOST_NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;
const HOST_NAME_RULE = "must be a host name of a-z, 0-9 and - (starting with a letter, at most 31 characters), such as web-1";
const host = z
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

export const configSchema = z
    .object({
        environment: z.enum(ENVIRONMENTS).default("local"),
        liveColor: z.enum(COLOURS),
        slots: z.object({ blue: slot.optional(), green: slot.optional() }).strict(),
        replicas: numeric(z.number().int().min(1).max(20)).default(DEFAULTS.replicas),
        standby: z.enum(["retire", "keep"]).default(DEFAULTS.standby),
        appPort: port.default(DEFAULTS.appPort),
        // uid[:gid] or a user name; unset, the image's own USER decides.
        // The app's secret variables per colour (a secret key of its own, so
        // the plain slots settings stay readable in a plan).
        slotSecrets: z.object({ blue: envMap.optional(), green: envMap.optional() }).strict().optional(),
        appUser: z.string().regex(/^(?:\d+(?::\d+)?|[a-z_][a-z0-9_-]{0,31}(?::[a-z_][a-z0-9_-]{0,31})?)$/, "must be uid[:gid] or a user name, such as 10001:10001").optional(),
        health: z
            .object({
                // Probed by the gate (curl inside the proxy, the path as one
                // argument) and never through a shell.
                path: z.string().max(1000).regex(/^\/[A-Za-z0-9._~\/?=&%+,:-]*$/, "must be a URL path starting with / (letters, digits and . _ ~ / ? = & % + , : -)").default(DEFAULTS.healthPath),
                port: port.optional(),
                intervalSeconds: seconds(1, 60).default(2),
                timeoutSeconds: seconds(5, 900).default(60),
                healthyThreshold: numeric(z.number().int().min(1).max(50)).default(3),
                // Docker's own health check inside each replica, in exec form
                // (the image must contain the program). Unset: no container
                // health check; the gate decides health from the proxy, so
                // images without a shell or curl work.
                command: execForm.optional(),
                // The Host the gate and verify send (an app with strict allowed hosts
                // refuses any other). Unset: the first of proxy.hostnames, else none.
                host: z
                    .string()
                    .superRefine((v, ctx) => {
                        const [name, p, extra] = v.split(":");
                        const problem = extra !== undefined || (p !== undefined && !/^\d{1,5}$/.test(p)) ? "must be host[:port]" : hostnameProblem(name, false);
                        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
                    })
                    .optional(),
                // The X-Forwarded-Proto the gate and verify send (an app that redirects
                // plain HTTP to HTTPS answers a probe without it with a redirect).
                // Unset: https when the proxy serves HTTPS (tls or acme), else http.
                forwardedProto: z.enum(["http", "https"]).optional(),
            })
            .strict()
            .default({}),
        verifyRequests: numeric(z.number().int().min(1).max(100)).default(DEFAULTS.verifyRequests),
        // After verify, the new colour's real traffic on the live listener
        // (the proxy's own access records) is judged for this long; too many
        // 5xx answers, or a p99 above maxP99Ms, switches back to the old
        // colour (still running: retire waits for the bake) and fails the update.
        bake: z
            .object({
                seconds: seconds(0, 3600).default(DEFAULTS.bake.seconds),
                maxErrorPercent: numeric(z.number().min(0).max(100)).default(DEFAULTS.bake.maxErrorPercent),
                // Unset: latency is reported, not judged.
                maxP99Ms: numeric(z.number().int().min(1).max(600000)).optional(),
                // Fewer real requests than this in the window: too little to judge, so the bake passes and says so.
                minRequests: numeric(z.number().int().min(1).max(1000000)).default(DEFAULTS.bake.minRequests),
            })
            .strict()
            .default({}),
        drainSeconds: seconds(0, 600).default(DEFAULTS.drainSeconds),
        proxy: z
            .object({
                image: image.default(DEFAULTS.proxyImage),
                livePort: port.default(DEFAULTS.livePort),
                previewPort: port.default(DEFAULTS.previewPort),
                bindAddress: z.string().ip({ message: "must be an IP address such as 127.0.0.1 or 0.0.0.0" }).default(DEFAULTS.bindAddress),
                // The preview listener serves the idle colour (a staged release,
                // or the previous one under standby keep): loopback unless the
                // stack says otherwise, and then publicPreview must say so too.
                previewBindAddress: z.string().ip({ message: "must be an IP address such as 127.0.0.1" }).default(DEFAULTS.bindAddress),
                publicPreview: bool.default(false),
                // Host ports of the HTTPS listeners (only with tls set): live on
                // bindAddress, preview on previewBindAddress.
                tlsPort: port.default(DEFAULTS.tlsPort),
                previewTlsPort: port.default(DEFAULTS.previewTlsPort),
                // Answer plain HTTP on the live listener with a redirect to HTTPS.
                redirectHttp: bool.default(false),
                // Raw nginx directives for the http block (rate limits, headers, maps):
                // TRUSTED input, as powerful as editing nginx.conf (it can add a
                // listener or serve any file the proxy reads). Only nginx can
                // validate it fully: the proxy-config step runs `nginx -t` and keeps the
                // previous config when it is rejected. What the template sets itself is
                // refused here, naming the key that sets it. Production policy flags it.
                extraHttpConfig: z
                    .string()
                    .max(8000)
                    .refine((v) => !v.includes("{{"), "must not contain {{ (template placeholders)")
                    .superRefine((v, ctx) => {
                        for (const problem of extraHttpConfigProblems(v)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
                    })
                    .optional(),
                // The largest request body (uploads), in MB; 0 = no limit.
                maxBodyMb: numeric(z.number().int().min(0).max(10240)).default(DEFAULTS.proxy.maxBodyMb),
                // How long the proxy waits for the app's answer, and to send it a request body.
                readTimeoutSeconds: seconds(1, 86400).default(DEFAULTS.proxy.readTimeoutSeconds),
                sendTimeoutSeconds: seconds(1, 86400).default(DEFAULTS.proxy.sendTimeoutSeconds),
                // Idle time a WebSocket or a server-sent event stream may stay silent.
                streamTimeoutSeconds: seconds(1, 86400).default(DEFAULTS.proxy.streamTimeoutSeconds),
                // Buffer responses, so a slow client does not hold an app worker; streams never are.
                buffering: bool.default(true),
                // Idle keep-alive to the replicas; must be shorter than the app's own keep-alive timeout. 0 = none.
                upstreamKeepaliveSeconds: seconds(0, 300).default(DEFAULTS.proxy.upstreamKeepaliveSeconds),
                // Response headers the proxy adds when the app did not send its own (merged
                // over the defaults; "" leaves a default out).
                securityHeaders: z
                    .record(z.string().regex(HEADER_NAME_RE, "must be a header name (letters, digits and -)"), headerValue)
                    .superRefine((h, ctx) => {
                        for (const name of Object.keys(h)) {
                            if (/^x-switchyard-/i.test(name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name], message: "is a header of Switchyard's own" });
                        }
                    })
                    .default({}),
                // The host names the app serves: a request for another host gets 421 from the proxy.
                hostnames: z.array(hostname(true)).max(100).default([]),
                // Load balancers in front (address or CIDR): their X-Forwarded-For/-Proto/-Host/-Port are kept and the client's address is taken from them.
                trustedProxies: z
                    .array(
                        z.string().superRefine((v, ctx) => {
                            const problem = cidrProblem(v);
                            if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
                        }),
                    )
                    .max(100)
                    .default([]),
                // Methods besides GET, HEAD and OPTIONS that this app handles idempotently: a
                // request of one that reached a replica which failed midway is sent once more
                // to another. Unlisted PUT and DELETE are sent once (HTTP calls them idempotent;
                // an app's handler may not be); unlisted POST and PATCH go to another replica
                // only when the first could not be reached at all (nothing was sent).
                idempotentMethods: z
                    .array(z.enum(RETRIABLE_METHODS))
                    .max(4)
                    .default([]),
            })
            .strict()
            .default({}),
        postgres: z
            .object({
                image: image.default(DEFAULTS.postgresImage),
                database: sqlIdentifier.default(DEFAULTS.database),
                user: sqlIdentifier.default(DEFAULTS.user),
                // Set: the container runs `postgres -c max_connections=N` (changing it
                // re-creates the container once; the volume stays). With postgresUrl it
                // is the managed server's limit, only checked against.
                maxConnections: numeric(z.number().int().min(20).max(10000)).optional(),
                // The most connections one app replica opens: its pool size.
                connectionsPerReplica: numeric(z.number().int().min(1).max(1000)).default(DEFAULTS.connectionsPerReplica),
            })
            .strict()
            .default({}),
        redis: z.object({ image: image.default(DEFAULTS.redisImage) }).strict().default({}),
        limits: z
            .object({
                app: limits.default(DEFAULTS.limits.app),
                proxy: limits.default(DEFAULTS.limits.proxy),
                postgres: limits.default(DEFAULTS.limits.postgres),
                redis: limits.default(DEFAULTS.limits.redis),
            })
            .strict()
            .default({}),
        backups: z
            .object({
                enabled: bool.default(true),
                keep: numeric(z.number().int().min(1).max(1000)).default(DEFAULTS.backupsKeep),
                // An absolute host directory instead of the backups volume.
                // Dumps are written 0600 into it, and it is made 0700.
                hostDir: z
                    .string()
                    .regex(/^\/[A-Za-z0-9._\/-]*$/, "must be an absolute path of letters, digits, . _ - and /")
                    .refine((v) => !v.split("/").some((seg) => seg === ".." || seg === "."), "must not contain . or .. segments")
                    .superRefine((v, ctx) => {
                        const problem = hostDirProblem(v);
                        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
                    })
                    .optional(),
            })
            .strict()
            .default({}),
        migrations: z
            .object({
                // Run with the new image's own entrypoint, in exec form: no shell needed.
                command: execForm.optional(),
                contractCommand: execForm.optional(),
                timeoutSeconds: seconds(10, 7200).default(DEFAULTS.migrationTimeoutSeconds),
            })
            .strict()
            .default({}),
        maintenance: bool.default(false),
        notify: z
            .object({
                webhookUrl: z
                    .string()
                    .superRefine((v, ctx) => {
                        const problem = webhookUrlProblem(v);
                        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
                    })
                    .optional(),
            })
            .strict()
            .default({}),
        // A private registry the slot images are pulled from: server and user
        // are plain (a plan and an error name them), the password is a secret
        // key of its own (registryPassword).
        registry: z
            .object({
                server: z.string().regex(/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$/, "must be a registry host[:port], such as ghcr.io or 127.0.0.1:5000"),
                username: z.string().min(1).max(256).regex(/^[^\x00-\x1f\x7f]*$/, "must not contain control characters"),
            })
            .strict()
            .optional(),
        registryPassword: z.string().min(1).max(4096).regex(/^[^\x00-\x1f\x7f]*$/, "must not contain control characters").optional(),
        // The proxy's certificate chain and private key (PEM), for the HTTPS
        // listeners; the key pair is checked before anything is declared.
        tls: z
            .object({
                certificate: z.string().min(1).max(65536),
                key: z.string().min(1).max(65536),
            })
            .strict()
            .optional(),
        postgresPassword: password.optional(),
        redisPassword: password.optional(),
        // A managed (external) Postgres or Redis: no container of it is
        // declared, and the app, the backups and the migrations use this URL.
        postgresUrl: externalUrl(["postgres:", "postgresql:"], "postgres://user:password@host:5432/database").optional(),
        redisUrl: externalUrl(["redis:", "rediss:"], "redis://:password@host:6379/0 (rediss:// for TLS)").optional(),
        // Several Docker hosts, each with its own proxy and both colour slots,
        // released in this order: the first is the canary (and runs Postgres
        // and Redis), the rest follow rollout.batchSize at a time. Unset: one
        // host, docker:host (or DOCKER_HOST, the docker context, the socket).
        hosts: z.array(host).min(1).max(MAX_HOSTS).optional(),
        // The client TLS material of each tcp:// host, by host name: the CA that
        // signed the engine's certificate, and this client's certificate and key
        // (PEM). An engine on TCP without TLS would let anyone who reaches it run
        // containers as root, so every tcp:// host needs its entry.
        hostsTls: z
            .record(
                z.string().regex(HOST_NAME_RE, HOST_NAME_RULE),
                z.object({ ca: z.string().min(1).max(65536), certificate: z.string().min(1).max(65536), key: z.string().min(1).max(65536) }).strict(),
            )
            .optional(),
        // Where Postgres and Redis run with two or more hosts, and where the
        // other hosts reach them: one host of the stack (the first unless
        // `host` names another) and its address on the network the app hosts
        // share (published there only). Required with two or more hosts.
        data: z
            .object({
                host: z.string().regex(HOST_NAME_RE, HOST_NAME_RULE).optional(),
                address: z.string().ip({ message: "must be the IP address of the data host on the network the app hosts share, such as 10.0.0.11" }),
                postgresPort: port.default(DEFAULTS.dataPorts.postgres),
                redisPort: port.default(DEFAULTS.dataPorts.redis),
                // A public data.address: only behind a firewall of the network (Docker's port rules bypass the host's).
                allowPublicAddress: bool.default(false),
            })
            .strict()
            .optional(),
        // Where the fixed addresses of a new stack's networks come from (lib/addressing.ts).
        network: z
            .object({
                pool: addressPool.default(DEFAULTS.addressPool),
            })
            .strict()
            .default({}),
        // HTTPS certificates from an ACME CA (Let's Encrypt by default), obtained
        // and renewed by a sidecar with HTTP-01 through the live listener (port 80
        // of every name must reach it). Instead of tls, not beside it.
        acme: z
            .object({
                email: z.string().max(254).regex(/^[^\s@"'\\$]+@[a-z0-9.-]+\.[a-z]{2,}$/i, "must be an e-mail address such as ops@example.com"),
                // Names on the certificate. Unset: proxy.hostnames.
                hostnames: z.array(hostname(false)).min(1).max(100).optional(),
                directoryUrl: z
                    .string()
                    .max(2000)
                    .refine((v) => /^https:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?(?:\/[A-Za-z0-9._~\/-]*)?$/.test(v), "must be an https:// URL of an ACME directory, such as https://acme-v02.api.letsencrypt.org/directory")
                    .default(DEFAULTS.acmeDirectoryUrl),
                // PEM of a CA to trust for the directory's own HTTPS (a private ACME server). Unset: the image's trust store.
                caCertificate: z.string().max(65536).refine((v) => v.includes("-----BEGIN CERTIFICATE-----"), "must be a PEM certificate (-----BEGIN CERTIFICATE-----)").optional(),
                // External account binding's key id (the HMAC key is the secret acmeEabHmacKey).
                eabKid: z.string().min(1).max(256).regex(/^[A-Za-z0-9_-]+$/, "must be the key id your CA gave (letters, digits, _ and -)").optional(),
                image: image.default(DEFAULTS.acmeImage),
                // How often the sidecar checks whether a renewal is due (and retries a failed one).
                checkSeconds: seconds(5, 86400).default(DEFAULTS.acmeCheckSeconds),
            })
            .strict()
            .optional(),
        acmeEabHmacKey: z.string().min(1).max(1024).regex(/^[A-Za-z0-9_=-]+$/, "must be the base64url HMAC key your CA gave").optional(),
        rollout: z
            .object({
                // Hosts switched at a time after the canary's verify (and bake) passed.
                batchSize: numeric(z.number().int().min(1).max(MAX_HOSTS)).default(DEFAULTS.rolloutBatchSize),
            })
            .strict()
            .default({}),
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
        if (c.registry && !c.registryPassword) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["registryPassword"], message: `is required with registry (set it with \`pulumi config set --secret registryPassword <password>\`)` });
        }
        if (c.registryPassword && !c.registry) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["registry"], message: "is required with registryPassword: set registry.server and registry.username" });
        }
        if (c.tls) {
            const ports = [c.proxy.livePort, c.proxy.previewPort];
            if (ports.includes(c.proxy.tlsPort)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["proxy", "tlsPort"], message: "must differ from proxy.livePort and proxy.previewPort" });
            if ([...ports, c.proxy.tlsPort].includes(c.proxy.previewTlsPort)) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["proxy", "previewTlsPort"], message: "must differ from proxy.livePort, proxy.previewPort and proxy.tlsPort" });
            }
        } else if (c.proxy.redirectHttp && !c.acme) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["proxy", "redirectHttp"], message: "needs tls (a certificate and key) or acme to redirect to" });
        }
        proxyProblems(c, ctx);
        for (const colour of COLOURS) {
            for (const name of Object.keys(c.slotSecrets?.[colour] ?? {})) {
                if (c.slots[colour]?.env?.[name] !== undefined) {
                    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["slotSecrets", colour, name], message: `is also a plain variable (slots.${colour}.env.${name}); set it in one place` });
                }
            }
        }
        if (!c.proxy.publicPreview && !isLoopback(c.proxy.previewBindAddress)) {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: ["proxy", "previewBindAddress"],
                message: "is not a loopback address: the preview listener serves the idle colour (a staged or previous release); to publish it anyway set proxy.publicPreview true as well",
            });
        }
        if (c.migrations.contractCommand && c.standby === "keep") {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: ["migrations", "contractCommand"],
                message: 'is refused with standby "keep": the old colour keeps running old code, which a contract migration would break; use standby "retire"',
            });
        }
        hostProblems(c, ctx);
        connectionProblems(c, ctx);
        for (const svc of ["postgres", "redis"] as const) {
            if (c[`${svc}Url`] && c[`${svc}Password`]) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, path: [`${svc}Password`], message: `is for the ${svc} container Switchyard runs; with ${svc}Url there is none (the URL carries the password)` });
            }
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
export type HostSettings = z.infer<typeof host>;

/** Whether the proxy serves HTTPS: with a certificate from config, or from ACME. */
export function servesHttps(c: { tls?: unknown; acme?: unknown }): boolean {
    return c.tls !== undefined || c.acme !== undefined;
}

/** The names on the ACME certificate: acme.hostnames, else proxy.hostnames. */
export function acmeHostnames(c: { acme?: { hostnames?: string[] }; proxy: { hostnames: string[] } }): string[] {
    return c.acme?.hostnames ?? c.proxy.hostnames;
}

/** The Host the gate and verify send: health.host, else the first host name that is not a wildcard. */
export function healthHost(c: { health: { host?: string }; proxy: { hostnames: string[] } }): string | undefined {
    return c.health.host ?? c.proxy.hostnames.find((h) => !h.startsWith("*."));
}

/** The X-Forwarded-Proto the gate and verify send. */
export function healthProto(c: { health: { forwardedProto?: "http" | "https" }; tls?: unknown; acme?: unknown }): "http" | "https" {
    return c.health.forwardedProto ?? (servesHttps(c) ? "https" : "http");
}

/** Host names, the gate's Host, ACME against TLS and the host names, replicas within the fixed addresses. */
function proxyProblems(
    c: {
        proxy: { hostnames: string[]; maxBodyMb: number };
        health: { host?: string };
        acme?: { hostnames?: string[]; eabKid?: string };
        acmeEabHmacKey?: string;
        tls?: unknown;
        replicas: number;
        hosts?: unknown[];
    },
    ctx: z.RefinementCtx,
) {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    const names = c.proxy.hostnames;
    if (names.length && c.health.host !== undefined && !hostMatches(c.health.host.split(":")[0], names)) {
        issue(["health", "host"], `is not one of proxy.hostnames (${names.join(", ")}): the proxy would answer the verify step 421`);
    }
    if (names.length && c.health.host === undefined && names.every((n) => n.startsWith("*."))) {
        issue(["health", "host"], `is required: proxy.hostnames has only wildcards (${names.join(", ")}), so name the host the gate and verify send`);
    }
    if (c.acme) {
        if (c.tls) issue(["acme"], "and tls are both set: the certificate comes from one of them; remove tls to use ACME, or acme to keep the certificate from config");
        if ((c.hosts?.length ?? 1) > 1) {
            issue(["acme"], "is for one host: with several behind a load balancer, the CA's HTTP-01 request reaches whichever host it picks, not the one that asked; terminate TLS at the load balancer, or give the hosts a certificate from config (tls)");
        }
        const acmeNames = c.acme.hostnames ?? names;
        if (!acmeNames.length) issue(["acme", "hostnames"], "is required: name the host names on the certificate (or set proxy.hostnames)");
        for (const [i, n] of acmeNames.entries()) {
            if (n.startsWith("*.")) issue(["acme", "hostnames", i], "is a wildcard, which HTTP-01 cannot validate; list each name");
            else if (names.length && !hostMatches(n, names)) issue(["acme", "hostnames", i], `is not one of proxy.hostnames (${names.join(", ")}): the proxy would refuse its own certificate's name`);
        }
        if ((c.acme.eabKid === undefined) !== (c.acmeEabHmacKey === undefined)) {
            issue(c.acme.eabKid === undefined ? ["acme", "eabKid"] : ["acmeEabHmacKey"], "and acmeEabHmacKey go together (external account binding needs the key id and its HMAC key)");
        }
    } else if (c.acmeEabHmacKey !== undefined) {
        issue(["acmeEabHmacKey"], "is only for acme (external account binding)");
    }
    if (c.replicas > MAX_REPLICAS_ADDRESSED) issue(["replicas"], `must be <= ${MAX_REPLICAS_ADDRESSED} (each colour has that many fixed addresses)`);
}

/** Hosts: unique names and engines; data.address with two or more, and only then; nothing the data address publishes to everyone. */
function hostProblems(
    c: {
        hosts?: HostSettings[];
        hostsTls?: Record<string, unknown>;
        data?: { host?: string; address: string; postgresPort: number; redisPort: number; allowPublicAddress: boolean };
        proxy: { livePort: number; previewPort: number };
        postgresUrl?: string;
        redisUrl?: string;
    },
    ctx: z.RefinementCtx,
) {
    const hosts = c.hosts ?? [];
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
    hosts.forEach((h, i) => {
        const tcp = h.dockerHost.startsWith("tcp://");
        if (tcp && !c.hostsTls?.[h.name]) {
            issue(["hosts", i, "dockerHost"], `is a TCP engine, which needs TLS: set its client material with pulumi config set --secret --path 'hostsTls["${h.name}"].ca' < ca.pem (and .certificate, .key)`);
        }
        const firstName = hosts.findIndex((o) => o.name === h.name);
        if (firstName < i) issue(["hosts", i, "name"], `is also hosts[${firstName}].name; every host needs a name of its own`);
        const firstEngine = hosts.findIndex((o) => o.dockerHost === h.dockerHost);
        if (firstEngine < i) issue(["hosts", i, "dockerHost"], `is also hosts[${firstEngine}].dockerHost; two hosts on one engine would overwrite each other's containers`);
        const live = h.livePort ?? c.proxy.livePort;
        if ((h.previewPort ?? c.proxy.previewPort) === live) issue(["hosts", i, "previewPort"], "must differ from this host's live port");
    });
    for (const name of Object.keys(c.hostsTls ?? {})) {
        const h = hosts.find((o) => o.name === name);
        if (!h) issue(["hostsTls", name], `names no host of hosts (${hosts.map((o) => o.name).join(", ") || "none"}): TLS material is for a tcp:// host`);
        else if (!h.dockerHost.startsWith("tcp://")) issue(["hostsTls", name], `is for a tcp:// host; ${name} is reached as ${h.dockerHost}, which carries its own authentication`);
    }
    // With both services external there is nothing on the data host to publish.
    const runsData = !(c.postgresUrl && c.redisUrl);
    if (hosts.length > 1 && runsData && !c.data) {
        issue(["data", "address"], "is required with two or more hosts: the address of the data host (the first, or data.host) where the others reach Postgres and Redis, such as 10.0.0.11 (or give both postgresUrl and redisUrl)");
    }
    if (c.data && hosts.length < 2) issue(["data"], "is only for two or more hosts: with one host, Postgres and Redis stay on its internal network and are published nowhere");
    else if (c.data && !runsData) issue(["data"], "is not needed: postgresUrl and redisUrl are both set, so no data service runs on a host of the stack to publish");
    else if (c.data?.host !== undefined && !hosts.some((h) => h.name === c.data!.host)) {
        issue(["data", "host"], `names no host of hosts (${hosts.map((h) => h.name).join(", ")}): Postgres and Redis run on one of the stack's hosts`);
    }
    if (c.data && c.data.postgresPort === c.data.redisPort) issue(["data", "redisPort"], "must differ from data.postgresPort");
    const addressProblem = c.data && dataAddressProblem(c.data.address, c.data.allowPublicAddress);
    if (addressProblem) issue(["data", "address"], addressProblem);
}

/** Connections the backup step and the migrations open besides the app's. */
const OPS_CONNECTIONS = 5;

/**
 * Postgres's connection budget. During a release both colours run on every host,
 * and each replica may hold its whole pool: over max_connections, Postgres answers
 * "sorry, too many clients already" to live requests (a three-host CI run saw it).
 * A managed server's limit is only known when postgres.maxConnections names it.
 */
function connectionProblems(
    c: { hosts?: HostSettings[]; replicas: number; postgres: { maxConnections?: number; connectionsPerReplica: number }; postgresUrl?: string },
    ctx: z.RefinementCtx,
) {
    if (c.postgresUrl && c.postgres.maxConnections === undefined) return;
    const max = c.postgres.maxConnections ?? DEFAULTS.postgresMaxConnections;
    const hosts = Math.max(1, c.hosts?.length ?? 0);
    const perReplica = c.postgres.connectionsPerReplica;
    const need = hosts * 2 * c.replicas * perReplica + OPS_CONNECTIONS;
    if (need <= max) return;
    const given = c.postgres.maxConnections === undefined ? `is not set (Postgres's default ${max})` : `is ${max}`;
    ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["postgres", "maxConnections"],
        message:
            `${given}, fewer than a release needs: both colours run on every host, ${hosts} host${hosts === 1 ? "" : "s"} × 2 colours × ${c.replicas} replicas × ` +
            `${perReplica} connections (postgres.connectionsPerReplica) + ${OPS_CONNECTIONS} for the backup and the migrations = ${need}; ` +
            `set postgres.maxConnections to at least ${need} (and limits.postgres.memoryMb for it), or postgres.connectionsPerReplica to your app's pool size`,
    });
}

/** An image is pinned when it has a digest, or a tag that is not `latest`. */
export function isPinned(ref: string): boolean {
    if (ref.includes("@sha256:")) return true;
    const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
    const colon = lastSegment.indexOf(":");
    return colon >= 0 && lastSegment.slice(colon + 1) !== "latest";
}

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
            const how: Record<string, string> = {
                notify: "--secret --path notify.webhookUrl <url>",
                slotSecrets: "--secret --path slotSecrets.<colour>.<NAME> <value>",
                registryPassword: "--secret registryPassword <password>",
                tls: "--secret --path tls.key < key.pem (and tls.certificate)",
                hostsTls: `--secret --path 'hostsTls["<host>"].key' < key.pem (and .ca, .certificate)`,
                acmeEabHmacKey: "--secret acmeEabHmacKey < hmac-key.txt",
            };
            problems.push(`${fullKey}: is stored in plaintext; set it with \`pulumi config set ${how[key] ?? `--secret ${key} <value>`}\``);
            continue;
        }
        if (!isSecretKey && secretKeys.has(fullKey)) {
            // Its value is used as a plain setting: it would reach state and
            // resource inputs in plaintext. Never echoed.
            problems.push(
                `${fullKey} = [secret]: is a plain setting, not a secret (secret keys: ${SECRET_KEYS.join(", ")}); ` +
                    `Switchyard would store it in plaintext, so it is refused: set it again without --secret, or move a secret value to slotSecrets`,
            );
            continue;
        }
        // A password is text as it stands (digits must not become a number); the object keys are JSON.
        input[key] = isSecretKey && !SECRET_OBJECT_KEYS.includes(key) ? value : decode(value);
    }
    const checked = checkSettings(input, `${NAMESPACE}:`);
    problems.push(...checked.problems);
    if (problems.length > 0) throw new ConfigError(problems, stack);
    return checked.settings!;
}

/** The settings as written: config, or a component's args (defaults not yet applied). */
export type SwitchyardSettings = z.input<typeof configSchema>;

/**
 * Checks settings given as an object, the same schema as the stack config:
 * the parsed settings, or every problem, each key named `${keyPrefix}key`.
 */
export function checkSettings(input: Record<string, unknown>, keyPrefix: string): { settings?: SwitchyardConfig; problems: string[] } {
    const result = configSchema.safeParse(input);
    if (result.success) return { settings: result.data, problems: [] };
    return { problems: result.error.issues.map((issue) => describeIssue(issue, input, keyPrefix)) };
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

function describeIssue(issue: z.ZodIssue, input: Record<string, unknown>, keyPrefix: string): string {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
        const base = issue.path.length ? `${issue.path.join(".")}.` : "";
        const allowed = allowedKeysAt(issue.path);
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
