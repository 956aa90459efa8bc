#!/usr/bin/env bash
# retire: after a switch, wait until nothing is in flight to the old colour
# (no established connection to its app port, and no nginx worker still
# shutting down after a reload), bounded by DRAIN_SECONDS; then stop it.
# Pulumi removes the stopped containers at the end of the update, because the
# old slot has left the program. An empty RETIRE_COLOR retires nothing: under
# standby "keep" the old colour stays up for an instant rollback.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_STACK, RETIRE_COLOR (may be empty),
#      DRAIN_SECONDS, APP_PORT, STOP_GRACE_SECONDS
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_STACK DRAIN_SECONDS APP_PORT STOP_GRACE_SECONDS

if [ -z "${RETIRE_COLOR:-}" ]; then
  say "nothing to retire (standby keep, or no colour was switched away from)"
  exit 0
fi
case "$RETIRE_COLOR" in blue|green) ;; *) die "RETIRE_COLOR '$RETIRE_COLOR' is not a colour (allowed: blue, green, or empty)" ;; esac
if [ "$(current_route)" = "$RETIRE_COLOR" ]; then
  die "refusing to retire $RETIRE_COLOR: the live listener still routes to it"
fi
mapfile -t old < <(slot_containers "$RETIRE_COLOR")
if [ "${#old[@]}" -eq 0 ]; then
  say "nothing to retire: no running $RETIRE_COLOR containers"
  exit 0
fi

# In flight = the proxy's established connections to an old replica's app
# port (nginx keeps no idle upstream connections: each is a request). Read in
# the proxy, not in the app: an app image need not have cat, or a shell.
targets=""
for c in "${old[@]}"; do
  for ip in $(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$c" 2>/dev/null); do
    IFS=. read -r a b c3 d <<< "$ip"
    # /proc/net/tcp writes an IPv4 address as little-endian hex, then :port.
    targets+="$(printf '%02X%02X%02X%02X:%04X' "$d" "$c3" "$b" "$a" "$APP_PORT") "
  done
done
in_flight() {
  { proxy_exec cat /proc/net/tcp 2>/dev/null || true; } \
    | awk -v list="$targets" 'BEGIN { n = split(list, t, " "); for (i = 1; i <= n; i++) want[t[i]] = 1 }
        $4 == "01" && ($3 in want) { c++ } END { print c + 0 }'
}
shutting_down() {
  proxy_exec sh -c 'for p in /proc/[0-9]*; do tr "\000" " " < "$p/cmdline" 2>/dev/null; echo; done' | grep -c "shutting down" || true
}

say "draining ${RETIRE_COLOR} (${#old[@]} container(s)): waiting up to ${DRAIN_SECONDS}s for in-flight requests"
# A request routed just before the switch may still be connecting; give it a moment.
sleep "$([ "$DRAIN_SECONDS" -ge 1 ] && echo 1 || echo 0)"
deadline=$(( $(date +%s) + DRAIN_SECONDS ))
while :; do
  conns=$(in_flight); workers=$(shutting_down)
  if [ "$conns" -eq 0 ] && [ "$workers" -eq 0 ]; then
    say "drained: no request in flight to ${RETIRE_COLOR}"
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "drain time (${DRAIN_SECONDS}s) is up with ${conns} connection(s) and ${workers} old worker(s) left; stopping anyway"
    break
  fi
  sleep 0.5
done
for c in "${old[@]}"; do
  docker stop -t "$STOP_GRACE_SECONDS" "$c" >/dev/null
  say "stopped $c"
done
say "retired ${RETIRE_COLOR}; Pulumi removes its containers at the end of this update"
