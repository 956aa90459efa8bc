#!/usr/bin/env bash
# acme-ready: wait for the ACME sidecar's first certificate, then for the
# proxy's HTTPS listener to answer with it. The sidecar keeps renewing on its
# own afterwards; this step runs again only when the sidecar is re-created.
# Fails after ACME_TIMEOUT seconds with the sidecar's last log lines (a name
# that does not reach this host's port 80, a CA that refuses the order).
#
# env: SWITCHYARD_PROXY, ACME_CONTAINER, ACME_TLS_FILE, ACME_NAMES,
#      LIVE_TLS_SOCKET (host networking) or LIVE_TLS_LISTEN_PORT, ACME_TIMEOUT
#      (optional, default 180)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY ACME_CONTAINER ACME_TLS_FILE ACME_NAMES
timeout=${ACME_TIMEOUT:-180}
wait_running "$SWITCHYARD_PROXY" 60
say "waiting up to ${timeout}s for the certificate of $ACME_NAMES from the ACME sidecar"
deadline=$(( $(date +%s) + timeout ))
while :; do
  if proxy_exec test -s "$ACME_TLS_FILE" 2>/dev/null; then
    code=$(tls_curl -s -m 5 -o /dev/null -w '%{http_code}' /healthz 2>/dev/null || true)
    if [ "$code" = 200 ]; then
      expiry=$(tls_curl -sv -m 5 -o /dev/null /healthz 2>&1 | sed -n 's/^\*  *expire date: //p' || true)
      say "HTTPS answers with the ACME certificate${expiry:+ (expires $expiry)}; the sidecar renews it from here on"
      exit 0
    fi
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    die "no certificate for $ACME_NAMES within ${timeout}s. The sidecar's last lines:
$(docker logs --tail 20 "$ACME_CONTAINER" 2>&1 | sed 's/^/  | /')"
  fi
  sleep 1
done
