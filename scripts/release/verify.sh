#!/usr/bin/env bash
# verify: the live listener must answer from SWITCHYARD_COLOR on
# VERIFY_REQUESTS consecutive requests (2xx on the health path, routed to the
# colour, and the app's own colour header agreeing when it sends one). On
# failure the previous colour is restored before the step fails.
#
# The colour to restore is the one re-point recorded as live before it flipped
# the marker (state/previous-live), so this step's inputs do not change after
# the switch and a later no-op update does not run it again.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_COLOR, VERIFY_REQUESTS, HEALTH_PATH,
#      LIVE_LISTEN_PORT
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_COLOR VERIFY_REQUESTS HEALTH_PATH LIVE_LISTEN_PORT

wait_running "$SWITCHYARD_PROXY" 30
ok=0 last="no request made"
deadline=$(( $(date +%s) + 15 ))
while [ "$ok" -lt "$VERIFY_REQUESTS" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  headers=$(proxy_exec curl -s -m 5 -D - -o /dev/null "http://127.0.0.1:${LIVE_LISTEN_PORT}${HEALTH_PATH}" 2>/dev/null | tr -d '\r' || true)
  code=$(printf '%s\n' "$headers" | awk 'NR==1 { print $2 }')
  route=$(printf '%s\n' "$headers" | awk -F': ' 'tolower($1)=="x-switchyard-route" { print $2 }')
  app=$(printf '%s\n' "$headers" | awk -F': ' 'tolower($1)=="x-switchyard-color" { print $2 }')
  if [[ "$code" =~ ^2 ]] && [ "$route" = "$SWITCHYARD_COLOR" ] && { [ -z "$app" ] || [ "$app" = "$SWITCHYARD_COLOR" ]; }; then
    ok=$((ok + 1))
  else
    ok=0
    last="status ${code:-none}, routed to ${route:-?}, app colour ${app:-?}"
    sleep 0.5
  fi
done
if [ "$ok" -ge "$VERIFY_REQUESTS" ]; then
  say "verified: ${VERIFY_REQUESTS} consecutive answers from ${SWITCHYARD_COLOR} on the live listener"
  exit 0
fi
previous=$(proxy_exec cat "$STATE_DIR/previous-live" 2>/dev/null || true)
if [ -n "$previous" ] && [ "$previous" != "$SWITCHYARD_COLOR" ]; then
  set_route "$previous"
  proxy_exec rm -f "$STATE_DIR/retired-$previous"
  say "restored the live listener to $previous"
  die "verify failed: the live listener did not answer from ${SWITCHYARD_COLOR} ${VERIFY_REQUESTS} times in a row (last: ${last}); live traffic is back on ${previous}, which keeps running"
fi
die "verify failed: the live listener did not answer from ${SWITCHYARD_COLOR} ${VERIFY_REQUESTS} times in a row (last: ${last}); there is no previous colour to restore"
