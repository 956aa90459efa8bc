// HTTPS that renews itself: a sidecar container runs lego (an ACME client,
// https://go-acme.github.io/lego) in a loop. It obtains the certificate with
// HTTP-01, answering the CA's requests through the proxy's live listener (the
// proxy serves its webroot), and renews it when lego judges it due: at two
// thirds of its lifetime (half, for certificates of 10 days or less), or when
// the CA's renewal info asks for it sooner. A renewed certificate replaces the
// proxy's file by a rename, and nginx reads the file at each handshake: no
// `pulumi up`, no reload. A failed attempt is retried every checkSeconds and
// reported to the stack's webhook (the first of a run of failures, then hourly);
// the certificate in place keeps serving meanwhile.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { containerOptions, DaemonFacts, dockerLabels, Limits, limitArgs, lifecycleArgs } from "../lib/containers";
import { DEFAULTS } from "../lib/config";
import { DeleteGuard } from "../lib/guard";
import { ReleaseSteps } from "../lib/steps";
import { ACME_TLS_FILE, WORKER_UID } from "../nginx/render";

/** Where the sidecar mounts the volume it shares with the proxy, and its own state. */
const OUT_DIR = "/acme-out";
const STATE_DIR = "/acme-state";

/**
 * The sidecar's program: POSIX sh and the lego binary (the official image has
 * busybox; the local one Debian's coreutils and wget). Its settings arrive as
 * environment variables, checked by the config schema; nothing is parsed by
 * a shell from config. Exported for the tests.
 */
export const ACME_LOOP = String.raw`set -u
out=${OUT_DIR} state=${STATE_DIR}
mkdir -p "$out/webroot" && chmod 755 "$out" "$out/webroot"
if [ -n "${"${SWITCHYARD_ACME_CA:-}"}" ]; then
  printf '%s\n' "$SWITCHYARD_ACME_CA" > /tmp/acme-ca.pem
  export LEGO_CA_CERTIFICATES=/tmp/acme-ca.pem
fi
# The deploy hook: chain and key in one file, for the nginx worker user only, swapped in by a rename.
cat > /tmp/switchyard-acme-install <<'HOOK'
set -e
umask 077
cat "$LEGO_HOOK_CERT_PATH" "$LEGO_HOOK_CERT_KEY_PATH" > ${OUT_DIR}/.server.pem.new
chown ${WORKER_UID}:${WORKER_UID} ${OUT_DIR}/.server.pem.new
chmod 400 ${OUT_DIR}/.server.pem.new
mv -f ${OUT_DIR}/.server.pem.new ${OUT_DIR}/server.pem
echo "switchyard-acme: installed the certificate for $LEGO_HOOK_CERT_DOMAINS; the proxy uses it from its next handshake"
HOOK
first=${"${SWITCHYARD_ACME_DOMAINS%% *}"}
set --
for d in $SWITCHYARD_ACME_DOMAINS; do set -- "$@" --domains "$d"; done
notify() {
  [ -n "${"${SWITCHYARD_NOTIFY_URL:-}"}" ] || return 0
  text=$(printf '%s' "$1" | tr -d '"\\\000-\037' | cut -c1-600)
  body="{\"text\":\":x: Switchyard $SWITCHYARD_STACK: $text\",\"kind\":\"failure\",\"stack\":\"$SWITCHYARD_STACK\",\"step\":\"acme-renew\",\"error\":\"$text\",\"time\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
  if command -v wget >/dev/null; then
    wget -q -T 5 -O /dev/null --header 'Content-Type: application/json' --post-data "$body" "$SWITCHYARD_NOTIFY_URL" && echo "switchyard-acme: notified the webhook" || echo "switchyard-acme: the webhook did not answer"
  else
    echo "switchyard-acme: no wget in this image; not notified"
  fi
}
fails=0 last_notice=0
while :; do
  # A certificate lego holds but the proxy's volume lacks (a new volume): install it.
  if [ ! -s "$out/server.pem" ] && [ -s "$state/certificates/$first.crt" ]; then
    LEGO_HOOK_CERT_PATH="$state/certificates/$first.crt" LEGO_HOOK_CERT_KEY_PATH="$state/certificates/$first.key" LEGO_HOOK_CERT_DOMAINS="$SWITCHYARD_ACME_DOMAINS" sh /tmp/switchyard-acme-install
  fi
  if /lego run --accept-tos --email "$SWITCHYARD_ACME_EMAIL" --server "$SWITCHYARD_ACME_SERVER" --path "$state" \
      --http --http.webroot "$out/webroot" --no-random-sleep --http-timeout 20 \
      --deploy-hook "sh /tmp/switchyard-acme-install" "$@" > /tmp/lego.log 2>&1; then
    cat /tmp/lego.log
    [ "$fails" -gt 0 ] && echo "switchyard-acme: certificate for $SWITCHYARD_ACME_DOMAINS renewed after $fails failed attempt(s)"
    fails=0
  else
    cat /tmp/lego.log
    fails=$((fails + 1))
    now=$(date +%s)
    if [ "$fails" -eq 1 ] || [ $((now - last_notice)) -ge 3600 ]; then
      why=$(grep -i 'error' /tmp/lego.log | tail -n 1)
      notify "certificate for $SWITCHYARD_ACME_DOMAINS not renewed (attempt $fails; retried every ${"${SWITCHYARD_ACME_CHECK_SECONDS}"} s; the certificate in place keeps serving): ${"${why:-lego failed}"}"
      last_notice=$now
    fi
  fi
  sleep "$SWITCHYARD_ACME_CHECK_SECONDS"
done
`;

export interface AcmeArgs {
    /** Prefix for Docker object names, such as "switchyard-staging". */
    namePrefix: string;
    /** Value of the switchyard.stack label. */
    stackLabel: string;
    /** An image with lego at /lego and sh. Defaults to "goacme/lego:v5.6.0". */
    image?: string;
    /** The ACME account's e-mail. */
    email: string;
    /** The names on the certificate; each must reach this host's live listener on port 80. */
    hostnames: string[];
    /** The CA's directory. Defaults to Let's Encrypt's production directory. */
    directoryUrl?: string;
    /** A PEM CA the directory's own HTTPS is checked against (a private CA). Defaults to the image's trust store. */
    caCertificate?: string;
    /** External account binding: key id and HMAC key (secret). Defaults to none. */
    eab?: { kid: string; hmacKey: pulumi.Input<string> };
    /** Seconds between checks (and retries of a failed renewal). Defaults to 3600. */
    checkSeconds?: number;
    /** The proxy's ACME volume (Nginx.acmeVolume): the certificate and the HTTP-01 answers. */
    volume: pulumi.Input<string>;
    /** A network with a route out to the CA. */
    network: pulumi.Input<string>;
    /** The proxy container; the ready step checks HTTPS from inside it. */
    proxyContainerName: string;
    /** The proxy's config step: the webroot must be served before the first order. */
    proxyReady: pulumi.Resource;
    /** How a step reaches the proxy's HTTPS listener from inside it (Nginx.probe.liveTls). */
    tlsProbe: Record<string, string>;
    /** The stack's webhook for failed renewals (secret). Defaults to none. */
    webhookUrl?: pulumi.Input<string>;
    /** Memory (MB) and CPU. Defaults to 64 MB and 0.25 CPU. */
    limits?: Limits;
    steps: ReleaseSteps;
    daemon?: DaemonFacts;
    guard?: DeleteGuard;
}

/** The ACME sidecar, its state volume, and a step that waits for the first certificate. */
export class Acme extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** Passes once the proxy answers HTTPS with the sidecar's certificate. */
    public readonly ready: command.local.Command;

    constructor(name: string, args: AcmeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("switchyard:proxy:Acme", name, {}, opts);
        if (args.hostnames.length === 0) throw new pulumi.ResourceError("hostnames: the certificate needs at least one name", this);
        const labels = [{ label: "switchyard.stack", value: args.stackLabel }];
        // The account key and every certificate lego holds: this container's alone.
        const state = new docker.Volume(`${name}-state`, { name: `${args.namePrefix}-acme-state`, labels }, { parent: this, hooks: args.guard?.binding("volume") });
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image ?? DEFAULTS.acmeImage, keepLocally: true }, { parent: this });
        const env = pulumi
            .all([pulumi.output(args.webhookUrl ?? ""), pulumi.output(args.eab?.hmacKey ?? "")])
            .apply(([webhook, hmac]) => [
                `SWITCHYARD_STACK=${args.stackLabel}`,
                `SWITCHYARD_ACME_EMAIL=${args.email}`,
                `SWITCHYARD_ACME_DOMAINS=${args.hostnames.join(" ")}`,
                `SWITCHYARD_ACME_SERVER=${args.directoryUrl ?? DEFAULTS.acmeDirectoryUrl}`,
                `SWITCHYARD_ACME_CHECK_SECONDS=${args.checkSeconds ?? DEFAULTS.acmeCheckSeconds}`,
                ...(args.caCertificate ? [`SWITCHYARD_ACME_CA=${args.caCertificate}`] : []),
                ...(webhook ? [`SWITCHYARD_NOTIFY_URL=${webhook}`] : []),
                ...(args.eab ? ["LEGO_EAB=true", `LEGO_EAB_KID=${args.eab.kid}`, `LEGO_EAB_HMAC=${hmac}`] : []),
            ]);
        this.container = new docker.Container(
            `${name}-container`,
            {
                name: `${args.namePrefix}-acme`,
                image: image.imageId,
                entrypoints: ["/bin/sh", "-c"],
                command: [ACME_LOOP],
                // Secret as a whole: the webhook URL and the EAB key are in it.
                envs: pulumi.secret(env),
                mounts: [
                    { type: "volume", source: args.volume, target: OUT_DIR },
                    { type: "volume", source: state.name, target: STATE_DIR },
                ],
                networksAdvanced: [{ name: args.network }],
                // Root in its own container, for chown of the proxy's certificate file and nothing else.
                capabilities: { drops: ["ALL"], adds: ["CHOWN"] },
                securityOpts: ["no-new-privileges:true"],
                labels: dockerLabels({ stack: args.stackLabel, role: "acme" }),
                ...lifecycleArgs(5),
                ...limitArgs(args.limits ?? { memoryMb: 64, cpus: 0.25 }, args.daemon ?? { swapLimit: true }),
            },
            // dependsOn: the proxy must answer the CA's HTTP-01 requests before the first order.
            containerOptions({ parent: this, dependsOn: [args.proxyReady] }),
        );
        this.ready = args.steps.step(
            `${name}-ready`,
            "acme-ready",
            {
                SWITCHYARD_PROXY: args.proxyContainerName,
                ACME_CONTAINER: `${args.namePrefix}-acme`,
                ACME_CONTAINER_ID: this.container.id,
                ACME_TLS_FILE,
                ACME_NAMES: args.hostnames.join(" "),
                ...args.tlsProbe,
            },
            { parent: this, dependsOn: [this.container] },
        );
        this.registerOutputs({ container: this.container.name, hostnames: args.hostnames });
    }
}
