#!/usr/bin/env bash
# re-point: move the live listener to SWITCHYARD_COLOR by flipping the route
# marker (atomic; nginx reads it per request, so no reload and no dropped
# keep-alive connections). Under standby "retire" it first records the old
# colour's image in the retire ledger, so the next update knows that colour
# was retired on purpose; it also records the colour it switched from, which
# verify restores on failure. One `docker exec`, so the switch is quick.
# Safe to run twice.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, STANDBY
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_STACK SWITCHYARD_COLOR STANDBY
case "$SWITCHYARD_COLOR" in blue) old=green ;; green) old=blue ;; *) die "SWITCHYARD_COLOR '$SWITCHYARD_COLOR' is not a colour (allowed: blue, green)" ;; esac

wait_running "$SWITCHYARD_PROXY" 30
old_running_image=$(image_of "$old")
target_image=$(image_of "$SWITCHYARD_COLOR")
old_image=""
[ "$STANDBY" = retire ] && old_image=$old_running_image
# Inside the proxy: ledger and previous colour first, the marker flip last.
# previous-live-image is the image live before the last switch: going back to
# it is a rollback, which the stack's webhook hears about (and which clears
# it, so undoing a rollback is not reported as another one).
result=$(docker exec "$SWITCHYARD_PROXY" sh -c '
  set -e
  mkdir -p "$1" && cd "$1"
  target=$2 old=$3 old_image=$4 target_image=$5 old_running_image=$6 marker=$7 retired=$8 prev_live=$9 prev_image=${10}
  if [ -f "$marker" ]; then prev=green; else prev=blue; fi
  printf "%s" "$prev" > ".$prev_live.tmp" && mv -f ".$prev_live.tmp" "$prev_live"
  if [ "$prev" != "$target" ] && [ -n "$old_running_image" ]; then
    if [ -n "$target_image" ] && [ "$(cat "$prev_image" 2>/dev/null)" = "$target_image" ]; then
      echo "rollback: back to $target_image on $target (from $old_running_image)"
      # Releasing the rolled-back image again later is a roll forward, not a rollback.
      rm -f "$prev_image"
    else
      printf "%s" "$old_running_image" > ".$prev_image.tmp" && mv -f ".$prev_image.tmp" "$prev_image"
    fi
  fi
  if [ -n "$old_image" ] && [ "$prev" = "$old" ]; then
    printf "%s" "$old_image" > ".$retired$old.tmp" && mv -f ".$retired$old.tmp" "$retired$old"
    echo "ledger: $old will be retired (image $old_image)"
  fi
  rm -f "$retired$target"
  if [ "$prev" = "$target" ]; then
    echo "live listener already routes to $target"
  else
    if [ "$target" = green ]; then : > ".$marker.tmp" && mv -f ".$marker.tmp" "$marker"; else rm -f "$marker"; fi
    echo "live listener re-pointed: $prev -> $target (no reload)"
  fi' sh "$STATE_DIR" "$SWITCHYARD_COLOR" "$old" "$old_image" "$target_image" "$old_running_image" \
  "$ROUTE_MARKER" "$RETIRED_PREFIX" "$PREVIOUS_LIVE" "$PREVIOUS_LIVE_IMAGE") || die "could not re-point the proxy $SWITCHYARD_PROXY"
while IFS= read -r line; do say "$line"; done <<< "$result"
if rollback=$(grep '^rollback: ' <<< "$result"); then
  NOTIFY_FROM_IMAGE=$old_running_image notify rollback "$rollback"
fi
