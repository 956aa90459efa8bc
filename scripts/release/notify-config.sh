#!/usr/bin/env bash
# notify-config: keep the stack's webhook URL (a secret) in the proxy's state
# volume, readable by root in the proxy only, so that every release step can
# report a failure without carrying the secret in its own inputs: a changed
# URL re-runs this step alone. An empty URL turns notifications off.
#
# env: SWITCHYARD_PROXY, NOTIFY_WEBHOOK_URL (secret; may be empty)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY
wait_running "$SWITCHYARD_PROXY" 30
if [ -n "${NOTIFY_WEBHOOK_URL:-}" ]; then
  # The URL travels on stdin, never on a command line.
  printf '%s' "$NOTIFY_WEBHOOK_URL" | docker exec -i "$SWITCHYARD_PROXY" sh -c \
    'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1.tmp" && mv -f "$1.tmp" "$1"' sh "$STATE_DIR/$WEBHOOK_URL_FILE" \
    || die "could not store the webhook URL in $SWITCHYARD_PROXY"
  say "notifications on: failed steps and rollbacks are posted to the configured webhook"
else
  proxy_exec rm -f "$STATE_DIR/$WEBHOOK_URL_FILE" || die "could not remove the webhook URL from $SWITCHYARD_PROXY"
  say "notifications off (no notify.webhookUrl)"
fi
