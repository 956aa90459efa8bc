#!/usr/bin/env bash
# bake: after verify, judge the new colour by its real traffic. For
# BAKE_SECONDS the proxy's own access records (`docker logs` of the proxy; no
# agent) are read every few seconds: requests on the live listener that the
# proxy sent to SWITCHYARD_COLOR, not its own probes (from its unix socket with host
# networking, LIVE_SOCKET set; else from 127.0.0.1, its own loopback) and not the
# answers nginx gives itself (maintenance, the HTTPS redirect, /healthz).
# Once at least BAKE_MIN_REQUESTS were seen, more than BAKE_MAX_ERROR_PERCENT
# answered 5xx, or a p99 request time above BAKE_MAX_P99_MS, fails the bake at
# that check, not at the window's end: the route goes back to the colour
# re-point recorded as live before it (still running, because retire waits
# for this step), and the step fails with the figures. Fewer requests than
# BAKE_MIN_REQUESTS in the whole window is too little to judge: the bake
# passes and says so.
#
# When it starts and the live listener does not route to SWITCHYARD_COLOR, a
# failed bake (or a step of a killed update) undid the switch: `pulumi up`
# with the same config is a retry, so the switch is applied again, as verify
# does, and baked again. To stay on the old colour, set liveColor back.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, STANDBY,
#      BAKE_SECONDS, BAKE_MAX_ERROR_PERCENT, BAKE_MAX_P99_MS (empty: latency is
#      reported, not judged), BAKE_MIN_REQUESTS, LIVE_SOCKET (optional)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_STACK SWITCHYARD_COLOR STANDBY BAKE_SECONDS BAKE_MAX_ERROR_PERCENT BAKE_MIN_REQUESTS
[[ "$BAKE_SECONDS" =~ ^[1-9][0-9]*$ ]] || die "BAKE_SECONDS '$BAKE_SECONDS' must be a whole number >= 1"
[[ "$BAKE_MIN_REQUESTS" =~ ^[1-9][0-9]*$ ]] || die "BAKE_MIN_REQUESTS '$BAKE_MIN_REQUESTS' must be a whole number >= 1"
[[ "$BAKE_MAX_ERROR_PERCENT" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BAKE_MAX_ERROR_PERCENT '$BAKE_MAX_ERROR_PERCENT' must be a number from 0 to 100"
[[ -z "${BAKE_MAX_P99_MS:-}" || "$BAKE_MAX_P99_MS" =~ ^[1-9][0-9]*$ ]] || die "BAKE_MAX_P99_MS '$BAKE_MAX_P99_MS' must be empty or a whole number of ms >= 1"
CHECK_SECONDS=2
HOST_NAME=${DOCKER_HOST:-the local Docker socket}

wait_running "$SWITCHYARD_PROXY" 30
route=$(current_route)
if [ "$route" != "$SWITCHYARD_COLOR" ]; then
  say "the live listener routes to $route, not $SWITCHYARD_COLOR: a failed bake (or a step of a killed update) undid the switch; applying it again"
  bash "$(dirname "$0")/repoint.sh" || die "could not apply the switch to $SWITCHYARD_COLOR again; live traffic stays on $route"
fi
# The engine's clock stamps the proxy's records, so the window starts by it.
since=$(docker info --format '{{.SystemTime}}') || die "could not read the Docker engine's time at $HOST_NAME"
samples=$(mktemp)
trap 'rm -f "$samples"' EXIT
# The colour to go back to, read now: re-point wrote it before this step, and
# a failed check then switches back with no docker call in between.
previous=$(proxy_exec cat "$STATE_DIR/$PREVIOUS_LIVE" 2>/dev/null || true)

# Writes "<status> <request seconds>" per real request to the colour, from the
# access log format in nginx/nginx.conf.template:
#   <addr> [<time>] <listener> "<request>" <status> <bytes> rt=<s> colour=<c> upstream=<addr> ust=<status>
# nginx writes a " inside the request as \x22, so splitting on " is safe.
read_samples() {
  docker logs --since "$since" "$SWITCHYARD_PROXY" 2>/dev/null | awk -F'"' -v colour="$SWITCHYARD_COLOR" -v own="${LIVE_SOCKET:+unix:}" '
    {
      n = split($1, head, " ")
      if (n < 3 || head[n] != "live" || head[1] == (own == "" ? "127.0.0.1" : own)) next
      if (!match($3, / colour=[a-z]+/) || substr($3, RSTART + 8, RLENGTH - 8) != colour) next
      split($3, tail, " "); status = tail[1]
      upstream = ""
      if (match($3, / upstream=[^ ]+/)) upstream = substr($3, RSTART + 10, RLENGTH - 10)
      # No upstream: nginx answered itself, unless it found no replica to ask.
      if (upstream == "-" && status != 502 && status != 504) next
      rt = 0
      if (match($3, / rt=[0-9.]+/)) rt = substr($3, RSTART + 4, RLENGTH - 4)
      print status, rt
    }' > "$samples"
}

# Sets total, errors, percent (of 5xx) and p99 (ms) from the samples.
summarise() {
  read -r total errors percent < <(awk '{ n++; if ($1 >= 500) e++ } END { printf "%d %d %.2f\n", n, e, n ? 100 * e / n : 0 }' "$samples")
  p99=$(awk '{ print $2 }' "$samples" | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print 0; exit } i = int(NR * 0.99); if (i < NR * 0.99) i++; printf "%d\n", v[i] * 1000 + 0.5 }')
}

# Prints why the figures fail the thresholds, or nothing when they pass.
verdict() {
  local why=""
  if awk -v e="$errors" -v n="$total" -v max="$BAKE_MAX_ERROR_PERCENT" 'BEGIN { exit !(100 * e > max * n) }'; then
    why="$errors of $total real requests answered 5xx (${percent} %, threshold ${BAKE_MAX_ERROR_PERCENT} %)"
  fi
  if [ -n "${BAKE_MAX_P99_MS:-}" ] && [ "$p99" -gt "$BAKE_MAX_P99_MS" ]; then
    why="${why:+$why; }p99 ${p99} ms over $total real requests (threshold ${BAKE_MAX_P99_MS} ms)"
  fi
  printf '%s' "$why"
}

figures() { echo "$total requests, $errors 5xx (${percent} %), p99 ${p99} ms"; }

say "baking $SWITCHYARD_COLOR on $HOST_NAME for ${BAKE_SECONDS}s: fail above ${BAKE_MAX_ERROR_PERCENT} % 5xx${BAKE_MAX_P99_MS:+ or a p99 above ${BAKE_MAX_P99_MS} ms}, judged from ${BAKE_MIN_REQUESTS} requests"
# Milliseconds: whole seconds of `date +%s` let a window end up to 1 s early
# (a CI run baked "8s" in 7.6 s of wall time).
now_ms() { local t=$EPOCHREALTIME; echo $(( 10#${t/[.,]/} / 1000 )); }
window_ms=$(( BAKE_SECONDS * 1000 ))
start=$(now_ms)
while :; do
  left=$(( window_ms - ($(now_ms) - start) ))
  step=$(( left < CHECK_SECONDS * 1000 ? left : CHECK_SECONDS * 1000 ))
  [ "$step" -gt 0 ] && sleep "$(( step / 1000 )).$(printf '%03d' $(( step % 1000 )))"
  read_samples || die "could not read the access records of the proxy $SWITCHYARD_PROXY"
  summarise
  waited_ms=$(( $(now_ms) - start ))
  waited=$(( waited_ms / 1000 ))
  why=""
  [ "$total" -ge "$BAKE_MIN_REQUESTS" ] && why=$(verdict)
  if [ -n "$why" ]; then
    message="bake failed on $HOST_NAME after ${waited}s of ${BAKE_SECONDS}s: $SWITCHYARD_COLOR $why"
    if [ -n "$previous" ] && [ "$previous" != "$SWITCHYARD_COLOR" ]; then
      set_route "$previous"
      proxy_exec rm -f "$STATE_DIR/$RETIRED_PREFIX$previous"
      say "restored the live listener to $previous"
      die "$message; live traffic is back on $previous, which keeps running"
    fi
    die "$message; there is no previous colour to restore"
  fi
  say "${waited}s of ${BAKE_SECONDS}s: $(figures)"
  [ "$waited_ms" -ge "$window_ms" ] && break
done
if [ "$total" -lt "$BAKE_MIN_REQUESTS" ]; then
  say "baked: only $total real requests reached $SWITCHYARD_COLOR in ${BAKE_SECONDS}s (fewer than ${BAKE_MIN_REQUESTS}): too little traffic to judge, so the release stands"
else
  say "baked: $SWITCHYARD_COLOR held for ${BAKE_SECONDS}s: $(figures)"
fi
