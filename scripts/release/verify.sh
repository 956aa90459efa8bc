#!/usr/bin/env bash
# verify: the live listener must answer from SWITCHYARD_COLOR on
# VERIFY_REQUESTS consecutive requests (2xx on the health path, routed to the
# colour, and the app's own colour header agreeing when it sends one) within
# 15 s. On failure the previous colour is restored before the step fails.
#
# The colour to restore is the one re-point recorded as live before it flipped
# the marker (state/previous-live), so this step's inputs do not change after
# the switch and a later no-op update does not run it again.
#
# When it starts and the live listener does not route to SWITCHYARD_COLOR,
# the switch re-point made was undone after it (a failed verify restored the
# old colour, or a step of a killed update did): re-point's own update had
# succeeded, so Pulumi will not run it again, and `pulumi up` after a failed
# verify would otherwise fail the same way forever. Verify applies the switch
# again (re-point's script, same ledger) and then checks it as always.
#
# The probes run inside the proxy in one `docker exec`: on a busy host a
# `docker exec` per request can take seconds, which measured the Docker
# daemon instead of the new colour.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, STANDBY,
#      VERIFY_REQUESTS, HEALTH_PATH, LIVE_SOCKET (host networking) or
#      LIVE_LISTEN_PORT; optional HEALTH_HOST and HEALTH_PROTO (the Host and
#      X-Forwarded-Proto of every probe)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_STACK SWITCHYARD_COLOR STANDBY VERIFY_REQUESTS HEALTH_PATH
[ -n "${LIVE_SOCKET:-}${LIVE_LISTEN_PORT:-}" ] || die "environment variable LIVE_SOCKET or LIVE_LISTEN_PORT is required"
[[ "$VERIFY_REQUESTS" =~ ^[1-9][0-9]*$ ]] || die "VERIFY_REQUESTS '$VERIFY_REQUESTS' must be a whole number >= 1"
VERIFY_SECONDS=15

wait_running "$SWITCHYARD_PROXY" 30
route=$(current_route)
if [ "$route" != "$SWITCHYARD_COLOR" ]; then
  say "the live listener routes to $route, not $SWITCHYARD_COLOR: the switch was undone after re-point made it (a failed verify, or a step of a killed update); applying it again"
  bash "$(dirname "$0")/repoint.sh" || die "could not apply the switch to $SWITCHYARD_COLOR again; live traffic stays on $route"
fi

# The live listener from inside the proxy: its unix socket, or its port in the container.
if [ -n "${LIVE_SOCKET:-}" ]; then base=http://localhost; else base="http://127.0.0.1:${LIVE_LISTEN_PORT}"; fi
# Prints "<consecutive ok> <last failure>" once VERIFY_REQUESTS answers in a
# row came from the colour, or the time is up. POSIX sh and curl only (the
# proxy image's contract).
result=$(proxy_exec sh -c '
  want=$1 colour=$2 url=$3 seconds=$4 host=$5 proto=$6 socket=$7
  cr=$(printf "\r")
  ok=0 last="no request made" start=$(date +%s)
  while [ "$ok" -lt "$want" ] && [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
    code="" route="" app=""
    while IFS= read -r line; do
      line=${line%"$cr"}
      case "$line" in
        [Xx]-[Ss]witchyard-[Rr]oute:*) route=${line#*: } ;;
        [Xx]-[Ss]witchyard-[Cc]olor:*) app=${line#*: } ;;
        status=*) code=${line#status=} ;;
      esac
    done <<PROBE
$(curl -s -m 5 -o /dev/null -D - -w "status=%{http_code}\n" ${socket:+--unix-socket} ${socket:+"$socket"} ${host:+-H} ${host:+"Host: $host"} ${proto:+-H} ${proto:+"X-Forwarded-Proto: $proto"} "$url" 2>/dev/null)
PROBE
    case "$code" in
      2??) good=1 ;;
      *) good=0 ;;
    esac
    if [ "$good" = 1 ] && [ "$route" = "$colour" ] && { [ -z "$app" ] || [ "$app" = "$colour" ]; }; then
      ok=$((ok + 1))
    else
      ok=0
      last="status ${code:-none}, routed to ${route:-?}, app colour ${app:-?}"
      sleep 0.5
    fi
  done
  echo "$ok $last"' sh "$VERIFY_REQUESTS" "$SWITCHYARD_COLOR" "$base${HEALTH_PATH}" "$VERIFY_SECONDS" "${HEALTH_HOST:-}" "${HEALTH_PROTO:-}" "${LIVE_SOCKET:-}") \
  || result="0 could not probe inside the proxy $SWITCHYARD_PROXY"
ok=${result%% *} last=${result#* }
if [ "$ok" -ge "$VERIFY_REQUESTS" ] 2>/dev/null; then
  say "verified: ${VERIFY_REQUESTS} consecutive answers from ${SWITCHYARD_COLOR} on the live listener"
  exit 0
fi
previous=$(proxy_exec cat "$STATE_DIR/$PREVIOUS_LIVE" 2>/dev/null || true)
if [ -n "$previous" ] && [ "$previous" != "$SWITCHYARD_COLOR" ]; then
  set_route "$previous"
  proxy_exec rm -f "$STATE_DIR/$RETIRED_PREFIX$previous"
  say "restored the live listener to $previous"
  die "verify failed: the live listener did not answer from ${SWITCHYARD_COLOR} ${VERIFY_REQUESTS} times in a row within ${VERIFY_SECONDS}s (last: ${last}); live traffic is back on ${previous}, which keeps running"
fi
die "verify failed: the live listener did not answer from ${SWITCHYARD_COLOR} ${VERIFY_REQUESTS} times in a row within ${VERIFY_SECONDS}s (last: ${last}); there is no previous colour to restore"
