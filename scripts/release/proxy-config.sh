#!/usr/bin/env bash
# proxy config: install a new nginx.conf (read from stdin) in the proxy's
# mounted config directory: write a temp file, `nginx -t` it, rename it into
# place, reload, and check /healthz. A config nginx rejects never replaces
# the one that serves; a reload that does not come back healthy is undone.
#
# env: SWITCHYARD_PROXY, LIVE_SOCKET (host networking) or LIVE_LISTEN_PORT
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY

wait_running "$SWITCHYARD_PROXY" 60
docker exec -i "$SWITCHYARD_PROXY" sh -c "mkdir -p $CONF_DIR $STATE_DIR && cat > $CONF_DIR/.nginx.conf.new"
if ! out=$(proxy_exec nginx -t -q -c "$CONF_DIR/.nginx.conf.new" 2>&1); then
  proxy_exec rm -f "$CONF_DIR/.nginx.conf.new"
  die "nginx rejected the new config; the previous config still serves. nginx -t said: $(printf '%s' "$out" | tr '\n' ' ')"
fi
say "new config passed nginx -t"
if proxy_exec cmp -s "$CONF_DIR/.nginx.conf.new" "$CONF_DIR/nginx.conf" 2>/dev/null; then
  proxy_exec rm -f "$CONF_DIR/.nginx.conf.new"
  say "config unchanged; no reload"
else
  proxy_exec sh -c "[ ! -f $CONF_DIR/nginx.conf ] || cp -f $CONF_DIR/nginx.conf $CONF_DIR/nginx.conf.previous; mv -f $CONF_DIR/.nginx.conf.new $CONF_DIR/nginx.conf"
  if proxy_exec sh -c 'test -s /run/nginx.pid && kill -0 "$(cat /run/nginx.pid)"' 2>/dev/null; then
    proxy_exec nginx -s reload -c "$CONF_DIR/nginx.conf"
    say "config installed; nginx reloaded (old workers drain for up to worker_shutdown_timeout)"
  else
    say "config installed; nginx starts with it"
  fi
fi
for _ in $(seq 1 75); do
  if live_curl -fsS -m 2 -o /dev/null /healthz 2>/dev/null; then
    say "proxy answers /healthz"
    exit 0
  fi
  sleep 0.2
done
if proxy_exec test -f "$CONF_DIR/nginx.conf.previous"; then
  proxy_exec sh -c "mv -f $CONF_DIR/nginx.conf.previous $CONF_DIR/nginx.conf && nginx -s reload -c $CONF_DIR/nginx.conf" || true
  die "proxy did not answer /healthz after the config change; the previous config was restored"
fi
die "proxy did not answer /healthz within 15s (a listener's address or port taken?). Its last lines:
$(docker logs --tail 8 "$SWITCHYARD_PROXY" 2>&1 | sed 's/^/  | /')"
