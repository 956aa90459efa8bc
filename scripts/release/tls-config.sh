#!/usr/bin/env bash
# tls-config: install the proxy's certificate chain and key (one PEM file,
# TLS_FILE in the state volume) so that the HTTPS listeners use them from the
# next handshake on, with no reload (nginx names the file through a variable
# and reads it per handshake). Written under a temporary name and renamed: a
# handshake sees the old pair or the new one, never half of each. Then one
# HTTPS request from inside the proxy must answer, or the previous file is put
# back and the step fails, so a bad pair never stays in service.
#
# env: SWITCHYARD_PROXY, TLS_PEM (secret: certificate chain, then key; it
#      reaches the proxy on stdin only), TLS_FINGERPRINT (sha256 of the
#      certificate: a new one runs this step), TLS_FILE, and LIVE_TLS_SOCKET
#      (host networking) or LIVE_TLS_LISTEN_PORT
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY TLS_PEM TLS_FINGERPRINT TLS_FILE
[[ "$TLS_FILE" =~ ^/etc/switchyard/state/tls/[a-z.]+$ ]] || die "TLS_FILE '$TLS_FILE' must be a file under /etc/switchyard/state/tls/"
[[ -n "${LIVE_TLS_SOCKET:-}" || "${LIVE_TLS_LISTEN_PORT:-}" =~ ^[0-9]+$ ]] || die "LIVE_TLS_LISTEN_PORT '${LIVE_TLS_LISTEN_PORT:-}' must be a port number (or LIVE_TLS_SOCKET set)"
wait_running "$SWITCHYARD_PROXY" 60
dir=${TLS_FILE%/*}

# The worker processes read the file at each handshake: it belongs to the
# user they run as (the config's `user` line; before it had one, the image's
# compiled-in default), readable by it alone.
worker=$(proxy_exec sh -c 'sed -n "s/^user \([a-z_][a-z0-9_-]*\).*;/\1/p" /etc/switchyard/nginx/nginx.conf | head -n 1' || true)
[ -n "$worker" ] || worker=$(proxy_exec sh -c 'nginx -V 2>&1 | tr " " "\n" | sed -n "s/^--user=//p"' || true)
worker=${worker:-nobody}
printf '%s' "$TLS_PEM" | docker exec -i "$SWITCHYARD_PROXY" sh -c '
  set -e
  umask 077
  mkdir -p "$1" && chmod 711 "$1"
  rm -f "$2.new"
  cat > "$2.new"
  chmod 400 "$2.new" && chown "$3" "$2.new"
  rm -f "$2.previous"
  [ ! -f "$2" ] || { cp "$2" "$2.previous" && chmod 400 "$2.previous" && chown "$3" "$2.previous"; }
  mv -f "$2.new" "$2"' sh "$dir" "$TLS_FILE" "$worker" \
  || die "could not write the certificate into $SWITCHYARD_PROXY"
say "installed certificate ${TLS_FINGERPRINT:0:16}… (readable by $worker only); the next handshake uses it"

code=$(tls_curl -s -m 5 -o /dev/null -w '%{http_code}' /healthz 2>/dev/null || true)
if [ "$code" != 200 ]; then
  proxy_exec sh -c 'if [ -f "$1.previous" ]; then mv -f "$1.previous" "$1"; else rm -f "$1"; fi' sh "$TLS_FILE" || true
  die "HTTPS on ${LIVE_TLS_SOCKET:-:$LIVE_TLS_LISTEN_PORT} answered ${code:-nothing} with the new certificate; the previous one is back in service"
fi
proxy_exec rm -f "$TLS_FILE.previous" || true
say "HTTPS answers with certificate ${TLS_FINGERPRINT:0:16}…"
