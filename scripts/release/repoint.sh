#!/usr/bin/env bash
# re-point: move the live listener to SWITCHYARD_COLOR by flipping the route
# marker (atomic; nginx reads it per request, so no reload and no dropped
# keep-alive connections). Under standby "retire" it also records the old
# colour's image in the retire ledger, so the next update knows that colour
# was retired on purpose. Safe to run twice.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, STANDBY
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_STACK SWITCHYARD_COLOR STANDBY

wait_running "$SWITCHYARD_PROXY" 30
previous=$(current_route)
old=$([ "$SWITCHYARD_COLOR" = blue ] && echo green || echo blue)
if [ "$STANDBY" = retire ]; then
  old_image=$(docker ps --filter "label=switchyard.stack=$SWITCHYARD_STACK" --filter "label=switchyard.role=app" \
    --filter "label=switchyard.colour=$old" --format '{{.Label "switchyard.image"}}' | head -n 1)
  if [ -n "$old_image" ] && [ "$previous" = "$old" ]; then
    printf '%s' "$old_image" | docker exec -i "$SWITCHYARD_PROXY" sh -c \
      "mkdir -p $STATE_DIR && cat > $STATE_DIR/.retired-$old.tmp && mv -f $STATE_DIR/.retired-$old.tmp $STATE_DIR/retired-$old"
    say "ledger: $old will be retired (image $old_image)"
  fi
fi
# verify restores this colour if the target does not answer.
proxy_exec sh -c "printf '%s' '$previous' > $STATE_DIR/.previous-live.tmp && mv -f $STATE_DIR/.previous-live.tmp $STATE_DIR/previous-live"
# The target is live now; it is no longer a retired colour.
proxy_exec rm -f "$STATE_DIR/retired-$SWITCHYARD_COLOR"
if [ "$previous" = "$SWITCHYARD_COLOR" ]; then
  say "live listener already routes to $SWITCHYARD_COLOR"
else
  set_route "$SWITCHYARD_COLOR"
  say "live listener re-pointed: $previous -> $(current_route) (no reload)"
fi
