// Stack config for Switchyard: one zod schema, parsed before any resource is
// declared. pulumi.Config.getObject does not validate (design brief, fact 8),
// so every key in the `switchyard:` namespace goes through here, unknown keys
// included, and every problem is reported in one message.
//
// The parts live beside it, one concern each: lib/defaults.ts (names and
// defaults), lib/configfields.ts (field types), lib/netrules.ts (address and
// host-name rules), lib/configchecks.ts (checks across fields) and
// lib/configerrors.ts (how a problem is said). This module re-exports them,
// so `./config` stays the one import for all of it.
import { z } from "zod";
import { stepsProblem } from "./canary";
import { extraHttpConfigProblems } from "../nginx/directives";
import { DEFAULT_ADDRESS_POOL } from "./addressing";
import { connectionProblems, hostProblems, proxyProblems } from "./configchecks";
import { addProductionProblems, runsAsRoot } from "./production";
import { decode, describeIssue, ConfigError } from "./configerrors";
import { addressPool, bool, containerUser, execForm, externalUrl, headerValue, HEADER_NAME_RE, host, HOST_NAME_RE, HOST_NAME_RULE, hostname, image, limits, numeric, password, port, processSpec, PROCESS_NAME_RE, RESERVED_PROCESS_NAMES, seconds, slot, sqlIdentifier, envMap } from "./configfields";
import { COLOURS, DEFAULTS, ENVIRONMENTS, isPinned, MAX_HOSTS, NAMESPACE, RETRIABLE_METHODS, SECRET_KEYS, SECRET_OBJECT_KEYS } from "./defaults";
import { hostDirProblem } from "./hostdir";
import { cidrProblem, hostnameProblem, isLoopback, webhookUrlProblem } from "./netrules";

export * from "./configchecks";
export { ConfigError } from "./configerrors";
export * from "./defaults";
export { SQL_IDENTIFIER_RE } from "./configfields";
export * from "./netrules";

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
        // The app's variables set once for both colours (slots.<colour>.env and
        // slotSecrets.<colour> override them per colour). A release carries them
        // to the colour it stages; a colour that runs keeps the values it was
        // released with (lib/release.ts keepsReleasedValues).
        env: envMap.optional(),
        appSecrets: envMap.optional(),
        // Workers and schedulers from each colour's image and variables, by name
        // (the first host only, with several hosts): they ride every release.
        processes: z
            .record(
                z.string().regex(PROCESS_NAME_RE, "must be a process name of a-z and 0-9, starting with a letter, at most 20 characters, such as worker").refine((n) => !(RESERVED_PROCESS_NAMES as readonly string[]).includes(n), {
                    message: `is a name of the stack's own containers (${RESERVED_PROCESS_NAMES.join(", ")}); choose another`,
                }),
                processSpec,
            )
            .superRefine((procs, ctx) => {
                if (Object.keys(procs).length > 10) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `names ${Object.keys(procs).length} process types; at most 10 are allowed` });
                for (const [name, p] of Object.entries(procs)) {
                    if (p.kind === "scheduler" && p.replicas !== undefined && p.replicas !== 1) {
                        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name, "replicas"], message: `must be 1 for a scheduler (exactly one runs at any moment); use kind "worker" for ${p.replicas}` });
                    }
                }
            })
            .default({}),
        appUser: containerUser.optional(),
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
        // Before the switch, the new colour gets these shares of new traffic
        // (percent, rising), each judged for stepSeconds with bake's thresholds;
        // a failed step sends all traffic back at once and fails the update.
        // Unset: the switch moves all traffic at once.
        canary: z
            .object({
                steps: z.array(numeric(z.number())).superRefine((steps, ctx) => {
                    const problem = stepsProblem(steps);
                    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
                }),
                stepSeconds: seconds(1, 3600).default(DEFAULTS.canaryStepSeconds),
            })
            .strict()
            .optional(),
        drainSeconds: seconds(0, 600).default(DEFAULTS.drainSeconds),
        // The proxy's figures for Prometheus (requests by colour, status class
        // and listener, upstream latency, open upstream connections, the live
        // colour and a canary's weight), from a sidecar at bindAddress:port.
        // Loopback unless the stack says otherwise, and then public must say so too.
        // Unset: no sidecar.
        metrics: z
            .object({
                port,
                bindAddress: z.string().ip({ message: "must be an IP address such as 127.0.0.1" }).default(DEFAULTS.bindAddress),
                public: bool.default(false),
                image: image.default(DEFAULTS.metricsImage),
            })
            .strict()
            .optional(),
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
                // To the millisecond: nginx takes "250ms", and a retiring colour's drain waits this long.
                upstreamKeepaliveSeconds: numeric(z.number().min(0).max(300).multipleOf(0.001, "must be whole milliseconds (at most 3 decimals)")).default(DEFAULTS.proxy.upstreamKeepaliveSeconds),
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
        redis: z
            .object({
                image: image.default(DEFAULTS.redisImage),
                // Redis needs no privileges; most Redis images start as root and
                // drop them only for a bare `redis-server` command, not ours.
                user: containerUser.refine((u) => !runsAsRoot(u), "must not be root: Redis needs no privileges (the Debian and official images have a redis user)").default(DEFAULTS.redisUser),
            })
            .strict()
            .default({}),
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
                } else if (c.env?.[name] !== undefined) {
                    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["slotSecrets", colour, name], message: `is also a plain variable of both colours (env.${name}); set it in one place` });
                }
            }
            for (const name of Object.keys(c.slots[colour]?.env ?? {})) {
                if (c.appSecrets?.[name] !== undefined) {
                    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["slots", colour, "env", name], message: `is also a secret of both colours (appSecrets.${name}); set it in one place` });
                }
            }
        }
        for (const name of Object.keys(c.appSecrets ?? {})) {
            if (c.env?.[name] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["appSecrets", name], message: `is also a plain variable (env.${name}); set it in one place` });
        }
        if (!c.proxy.publicPreview && !isLoopback(c.proxy.previewBindAddress)) {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: ["proxy", "previewBindAddress"],
                message: "is not a loopback address: the preview listener serves the idle colour (a staged or previous release); to publish it anyway set proxy.publicPreview true as well",
            });
        }
        if (c.metrics && !c.metrics.public && !isLoopback(c.metrics.bindAddress)) {
            ctx.addIssue({
                code: z.ZodIssueCode.custom,
                path: ["metrics", "bindAddress"],
                message: "is not a loopback address: the metrics show the traffic by colour and status; to publish them anyway set metrics.public true as well",
            });
        }
        if (c.metrics && [c.proxy.livePort, c.proxy.previewPort, ...(c.tls || c.acme ? [c.proxy.tlsPort, c.proxy.previewTlsPort] : [])].includes(c.metrics.port)) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ["metrics", "port"], message: "must differ from the proxy's ports (proxy.livePort, previewPort, tlsPort, previewTlsPort)" });
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
        addProductionProblems(c, ctx);
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
                appSecrets: "--secret --path appSecrets.<NAME> <value>",
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
                    `Switchyard would store it in plaintext, so it is refused: set it again without --secret, or move a secret value to appSecrets or slotSecrets`,
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
    return { problems: result.error.issues.map((issue) => describeIssue(issue, input, keyPrefix, configSchema)) };
}
