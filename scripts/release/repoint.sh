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
old_image=""
if [ "$STANDBY" = retire ]; then
  old_image=$(docker ps --filter "label=switchyard.stack=$SWITCHYARD_STACK" --filter "label=switchyard.role=app" \
    --filter "label=switchyard.colour=$old" --format '{{.Label "switchyard.image"}}' | head -n 1)
fi
# Inside the proxy: ledger and previous colour first, the marker flip last.
result=$(docker exec "$SWITCHYARD_PROXY" sh -c '
  set -e
  mkdir -p "$1" && cd "$1"
  target=$2 old=$3 old_image=$4
  if [ -f live-green ]; then prev=green; else prev=blue; fi
  printf "%s" "$prev" > .previous-live.tmp && mv -f .previous-live.tmp previous-live
  if [ -n "$old_image" ] && [ "$prev" = "$old" ]; then
    printf "%s" "$old_image" > ".retired-$old.tmp" && mv -f ".retired-$old.tmp" "retired-$old"
    echo "ledger: $old will be retired (image $old_image)"
  fi
  rm -f "retired-$target"
  if [ "$prev" = "$target" ]; then
    echo "live listener already routes to $target"
  else
    if [ "$target" = green ]; then : > .live-green.tmp && mv -f .live-green.tmp live-green; else rm -f live-green; fi
    echo "live listener re-pointed: $prev -> $target (no reload)"
  fi' sh "$STATE_DIR" "$SWITCHYARD_COLOR" "$old" "$old_image") || die "could not re-point the proxy $SWITCHYARD_PROXY"
while IFS= read -r line; do say "$line"; done <<< "$result"
