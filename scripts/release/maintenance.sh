#!/usr/bin/env bash
# maintenance: turn maintenance mode on or off. The live listener reads a
# marker in the proxy's state volume on every request, like the route, so
# this is one atomic file operation: no reload, in-flight requests finish.
# While it is on, the live listener answers 503 with Retry-After (HTML, or
# JSON to Accept: application/json); /healthz and the preview listener are
# unaffected. Safe to run twice.
#
# env: SWITCHYARD_PROXY, MAINTENANCE (on | off)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY MAINTENANCE
wait_running "$SWITCHYARD_PROXY" 30
case "$MAINTENANCE" in
  on)
    proxy_exec sh -c "mkdir -p $STATE_DIR && : > $STATE_DIR/.$MAINTENANCE_MARKER.tmp && mv -f $STATE_DIR/.$MAINTENANCE_MARKER.tmp $STATE_DIR/$MAINTENANCE_MARKER" \
      || die "could not turn maintenance on in $SWITCHYARD_PROXY"
    say "maintenance on: the live listener answers 503 with Retry-After; preview keeps serving the idle colour" ;;
  off)
    proxy_exec rm -f "$STATE_DIR/$MAINTENANCE_MARKER" || die "could not turn maintenance off in $SWITCHYARD_PROXY"
    say "maintenance off: the live listener serves $(current_route) again" ;;
  *) die "MAINTENANCE '$MAINTENANCE' is not allowed (allowed: on, off)" ;;
esac
