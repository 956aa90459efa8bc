#!/usr/bin/env bash
# heal: start the replicas of a colour that the program found stopped (from
# outside, crashed out of their restarts, killed for memory), then gate them
# as a release would. nginx leaves an address out while it refuses
# connections, so a replica that is still starting costs no request; one that
# fails its gate is stopped again, so it takes no traffic, and the step fails
# with its answers and log tail. With no replica to heal it does nothing.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_COLOR, SWITCHYARD_TARGETS (the stopped
#      replicas; empty: nothing to heal), HEAL_REASONS (one line per replica),
#      and the gate's variables (gate.sh)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_COLOR
if [ -z "${SWITCHYARD_TARGETS:-}" ]; then
  say "nothing to heal: every replica of $SWITCHYARD_COLOR runs"
  exit 0
fi
while IFS= read -r reason; do [ -n "$reason" ] && say "found stopped: $reason"; done <<< "${HEAL_REASONS:-}"
for c in $SWITCHYARD_TARGETS; do
  docker start "$c" >/dev/null || die "could not start $c; see docker logs $c"
  say "started $c"
done
if ! bash "$(dirname "$0")/gate.sh"; then
  for c in $SWITCHYARD_TARGETS; do docker stop -t 5 "$c" >/dev/null 2>&1 || true; done
  die "the healed replica(s) of $SWITCHYARD_COLOR ($SWITCHYARD_TARGETS) did not pass the gate and were stopped again; the colour serves on its other replicas"
fi
say "healed: $SWITCHYARD_TARGETS back in $SWITCHYARD_COLOR"
