#!/usr/bin/env bash
# npm run release -- --stack NAME --image IMAGE   stage IMAGE on the idle colour and switch, one update
# npm run rollback -- --stack NAME                switch back to the other colour (re-created if retired)
# npm run rollback -- --now --stack NAME          live traffic back on the other colour on every host
#                                                 at once when it still runs and answers, then the same
#                                                 reconciling update (engine/rollback-now.ts)
#
# One line per step with elapsed seconds. On failure the exit is non-zero and
# the stack config is left matching what runs: if the proxy still routes to
# the old colour (a failed gate or verify), liveColor and the image are put
# back; if traffic already moved (say, retire failed), the new config stays.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
T0=$(date +%s.%N)
say() { printf '[%s %6ss] %s\n' "$MODE" "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

MODE=release STACK="" IMAGE="" NOW=0
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=${2:-}; shift 2 ;;
    --image) IMAGE=${2:-}; shift 2 ;;
    --rollback) MODE=rollback; shift ;;
    --now) NOW=1; shift ;;
    *) die "unknown argument '$1' (allowed: --stack NAME, --image IMAGE, --rollback, --now)" ;;
  esac
done
[ -n "$STACK" ] || die "--stack NAME is required"
[ "$MODE" = rollback ] || [ -n "$IMAGE" ] || die "--image IMAGE is required (the image to release to the idle colour)"
[ "$NOW" = 0 ] || [ "$MODE" = rollback ] || die "--now is for npm run rollback: a release to a new image is gated, backed up and migrated first"
if [ "$NOW" = 1 ]; then
  # First, before any pulumi call: the traffic moves within the second (compiled, plain node).
  [ -f "$REPO/dist/engine/rollback-now.js" ] || die "the release engine is not built (dist/engine/rollback-now.js): run npm run build:program"
  node "$REPO/dist/engine/rollback-now.js" --stack "$STACK" --stack-file "$REPO/Pulumi.$STACK.yaml"
  case $? in
    0) ;;
    3) say "the regular rollback follows (gate, switch, verify, retire)" ;;
    *) say "the instant rollback failed (above); the regular rollback follows and moves every host" ;;
  esac
fi
pulumi_stack() { bash "$REPO/ops/stack.sh" "$STACK" "$@"; }
source "$REPO/ops/follow-stack.sh"
# route_read: the route-marker protocol the release steps use.
source "$REPO/scripts/release/route-marker.sh"

live=$(pulumi_stack config get switchyard:liveColor 2>/dev/null) || die "stack $STACK has no switchyard:liveColor (is Pulumi.$STACK.yaml there?)"
case "$live" in blue) target=green ;; green) target=blue ;; *) die "switchyard:liveColor of stack $STACK is '$live' (allowed: blue, green)" ;; esac
old_image=$(pulumi_stack config get --path "switchyard:slots.$target.image" 2>/dev/null || true)

if [ "$MODE" = release ]; then
  say "stack $STACK: releasing $IMAGE to $target (live now: $live)"
  pulumi_stack config set --path "switchyard:slots.$target.image" "$IMAGE" || die "could not set slots.$target.image"
else
  [ -n "$old_image" ] || die "cannot roll back to $target: slots.$target.image is not set"
  say "stack $STACK: rolling back to $target ($old_image; live now: $live)"
fi
pulumi_stack config set switchyard:liveColor "$target" || die "could not set liveColor"
say "config set: liveColor=$target, slots.$target.image=${IMAGE:-$old_image}; running pulumi up (gate, switch, verify, retire)"

if pulumi_stack up --yes; then
  say "done: $target is live on stack $STACK"
  exit 0
fi

# pulumi up failed: make the config say what runs.
proxy="$PROXY"
route=""
if docker exec "$proxy" true 2>/dev/null; then
  route=$(route_read "$proxy")
fi
if [ "$route" = "$target" ]; then
  die "pulumi up failed after live traffic moved to $target; the config stays liveColor=$target. Fix the error above and run pulumi up again"
fi
pulumi_stack config set switchyard:liveColor "$live" >/dev/null
if [ "$MODE" = release ]; then
  if [ -n "$old_image" ]; then pulumi_stack config set --path "switchyard:slots.$target.image" "$old_image" >/dev/null
  else pulumi_stack config rm --path "switchyard:slots.$target.image" >/dev/null; fi
fi
die "pulumi up failed (above); live traffic is on ${route:-$live (no proxy runs)}. Config restored: liveColor=$live, slots.$target.image=${old_image:-unset}"
