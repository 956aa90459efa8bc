#!/usr/bin/env bash
# bake: after verify, judge the new colour by its real traffic. For
# BAKE_SECONDS the proxy's own access records (`docker logs` of the proxy; no
# agent) are read every few seconds: requests on the live listener that the
# proxy sent to SWITCHYARD_COLOR, not its own probes (from its unix socket with host
# networking, LIVE_SOCKET set; else from 127.0.0.1, its own loopback) and not the
# answers nginx gives itself (maintenance, the HTTPS redirect, /healthz).
# Once at least BAKE_MIN_REQUESTS were seen, more than BAKE_MAX_ERROR_PERCENT
# answered 5xx, or a p99 above BAKE_MAX_P99_MS, fails the bake at that check,
# not at the window's end.
#
# What is judged is what the colour did, robust to a few clients:
# - latency is the upstream's ($upstream_response_time, summed over a request's
#   attempts), not the request's: nginx reads a client's whole request before it
#   asks a replica, so a client that trickles its headers or body is not the
#   colour being slow. WebSockets and event streams last as long as they are
#   open: their status counts, their duration does not.
# - each client (its address; an IPv6 client by its /64) weighs at most
#   BAKE_MIN_REQUESTS requests: one client's flood of cheap requests cannot
#   dilute everyone else's 5xx, nor a few slow ones of its own set the p99.
#   A client's own error rate and latencies keep their proportions, so a stack
#   whose traffic all comes from one address (a balancer not in
#   proxy.trustedProxies) is judged exactly as before.
#
# A failed check: the route goes back to the colour
# re-point recorded as live before it (still running, because retire waits
# for this step), and the step fails with the figures. Fewer requests than
# BAKE_MIN_REQUESTS in the whole window is too little to judge: the bake
# passes and says so.
#
# When it starts and the live listener does not route to SWITCHYARD_COLOR, a
# failed bake (or a step of a killed update) undid the switch. If the bake of
# these very containers failed, the next `pulumi up` of the same config (say,
# a teammate's unrelated change) would put them live again for real users:
# it stops instead and says how to choose, a retry with
# SWITCHYARD_RETRY_BAKE=1 or liveColor set back. Otherwise (a killed update)
# the switch is applied again, as verify does, and baked again.
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
failed_marker="$STATE_DIR/$BAKE_FAILED_PREFIX$SWITCHYARD_COLOR"
containers=$(slot_container_ids "$SWITCHYARD_COLOR")
route=$(current_route)
if [ "$route" != "$SWITCHYARD_COLOR" ]; then
  failed=$(proxy_exec cat "$failed_marker" 2>/dev/null || true)
  if [ -n "$failed" ] && [ "$(head -n 1 <<< "$failed")" = "$containers" ] && [ "${SWITCHYARD_RETRY_BAKE:-}" != 1 ]; then
    die "the bake of $SWITCHYARD_COLOR failed before ($(tail -n +2 <<< "$failed")), and these are the same containers: live traffic stays on $route. To try $SWITCHYARD_COLOR again under real traffic: SWITCHYARD_RETRY_BAKE=1 pulumi up. To stay on $route: pulumi config set liveColor $route (or release a fixed image)"
  fi
  say "the live listener routes to $route, not $SWITCHYARD_COLOR: ${failed:+asked to retry the failed bake (SWITCHYARD_RETRY_BAKE=1); }a failed bake or a step of a killed update undid the switch; applying it again"
  bash "$(dirname "$0")/repoint.sh" || die "could not apply the switch to $SWITCHYARD_COLOR again; live traffic stays on $route"
fi
# The engine's clock stamps the proxy's records, so the window starts by it.
since=$(docker info --format '{{.SystemTime}}') || die "could not read the Docker engine's time at $HOST_NAME"
samples=$(mktemp)
last=$(mktemp)
trap 'rm -f "$samples" "$last"' EXIT
# The colour to go back to, read now: re-point wrote it before this step, and
# a failed check then switches back with no docker call in between.
previous=$(proxy_exec cat "$STATE_DIR/$PREVIOUS_LIVE" 2>/dev/null || true)

# Appends "<status> <upstream seconds> <client> <timed>" per real request to the
# colour that the proxy logged since the last read: each check reads only new
# records (docker's fixed-width timestamps order them; a record at the last
# one's instant was read then), so the work per check follows the traffic since
# the last one, and records the log rotation drops later (10 MB x 3) were
# already counted. The access log format in nginx/nginx.conf.template:
#   <addr> [<time>] <listener> "<request>" <status> <bytes> rt=<s> colour=<c> upstream=<addr> ust=<status> urt=<s> kind=<k>
# nginx writes a " inside the request as \x22, so splitting on " is safe. A
# request tried on two replicas has "upstream=a, b" and "urt=x, y" (" : "
# across an internal redirect): its upstream time is the sum.
read_samples() {
  local after
  after=$(cat "$last")
  docker logs --timestamps --since "${after:-$since}" "$SWITCHYARD_PROXY" 2>/dev/null | awk -F'"' -v colour="$SWITCHYARD_COLOR" -v own="${LIVE_SOCKET:+unix:}" -v after="$after" -v last="$last" '
    # An IPv6 client is keyed by its /64 (one host holds a whole /64); an
    # IPv4-mapped one (::ffff:a.b.c.d) by its IPv4 address.
    function client(a,    h, l, r, nl, nr, i, n, L, R, G) {
      if (index(a, ":") == 0) return a
      if (a ~ /\./) { sub(/^.*:/, "", a); return a }
      h = index(a, "::")
      if (h) { l = substr(a, 1, h - 1); r = substr(a, h + 2) } else { l = a; r = "" }
      nl = l == "" ? 0 : split(l, L, ":")
      nr = r == "" ? 0 : split(r, R, ":")
      n = 0
      for (i = 1; i <= nl; i++) G[++n] = L[i]
      if (h) for (i = nl + nr; i < 8; i++) G[++n] = "0"
      for (i = 1; i <= nr; i++) G[++n] = R[i]
      return G[1] ":" G[2] ":" G[3] ":" G[4] "::/64"
    }
    END { if (newest != "") print newest > last }
    {
      n = split($1, head, " ")
      # head[1] is the timestamp docker added, head[2] the client address.
      if (head[1] <= after) next
      if (head[1] > newest) newest = head[1]
      if (n < 4 || head[n] != "live" || head[2] == (own == "" ? "127.0.0.1" : own)) next
      if (!match($3, / colour=[a-z]+/) || substr($3, RSTART + 8, RLENGTH - 8) != colour) next
      split($3, tail, " "); status = tail[1]
      upstream = ""
      if (match($3, / upstream=[^ ]+/)) upstream = substr($3, RSTART + 10, RLENGTH - 10)
      # No upstream: nginx answered itself, unless it found no replica to ask.
      if (upstream == "-" && status != 502 && status != 504) next
      urt = 0
      if (match($3, / urt=.* kind=/)) {
        m = split(substr($3, RSTART + 5, RLENGTH - 11), times, /[ ,:]+/)
        for (i = 1; i <= m; i++) if (times[i] ~ /^[0-9.]+$/) urt += times[i]
      }
      timed = ($3 ~ / kind=http/) ? 1 : 0
      print status, urt, client(head[2]), timed
    }' >> "$samples"
}

# Sets total and errors (requests), clients, percent (of 5xx) and p99 (ms),
# each client weighing at most BAKE_MIN_REQUESTS requests (see the top).
summarise() {
  read -r total errors percent exact clients heavy < <(awk -v cap="$BAKE_MIN_REQUESTS" '
    { status[NR] = $1; who[NR] = $3; per[$3]++ }
    END {
      for (c in per) { clients++; if (per[c] > cap) heavy++ }
      for (i = 1; i <= NR; i++) {
        w = per[who[i]] > cap ? cap / per[who[i]] : 1
        weight += w
        if (status[i] >= 500) { e++; weighted += w }
      }
      share = weight ? 100 * weighted / weight : 0
      printf "%d %d %.2f %.9f %d %d\n", NR, e, share, share, clients, heavy
    }' "$samples")
  # Weighted p99: the least upstream time whose cumulative weight reaches 99 % of the timed requests' weight.
  p99=$(awk -v cap="$BAKE_MIN_REQUESTS" '
    { if ($4 == 1) { t[NR] = $2; who[NR] = $3; per[$3]++ } }
    END { for (i in t) printf "%s %.9f\n", t[i], (per[who[i]] > cap ? cap / per[who[i]] : 1) }' "$samples" |
    sort -g | awk '{ v[NR] = $1; w[NR] = $2; all += $2 }
      END {
        if (NR == 0) { print 0; exit }
        for (i = 1; i <= NR; i++) { sum += w[i]; if (sum >= 0.99 * all - 1e-9) break }
        if (i > NR) i = NR
        printf "%d\n", v[i] * 1000 + 0.5
      }')
}

# Prints why the figures fail the thresholds, or nothing when they pass.
verdict() {
  local why=""
  if awk -v p="$exact" -v max="$BAKE_MAX_ERROR_PERCENT" 'BEGIN { exit !(p > max) }'; then
    why="$errors of $total real requests answered 5xx (${percent} %, threshold ${BAKE_MAX_ERROR_PERCENT} %$(weighing))"
  fi
  if [ -n "${BAKE_MAX_P99_MS:-}" ] && [ "$p99" -gt "$BAKE_MAX_P99_MS" ]; then
    why="${why:+$why; }p99 ${p99} ms of the upstream over $total real requests (threshold ${BAKE_MAX_P99_MS} ms$(weighing))"
  fi
  printf '%s' "$why"
}

figures() { echo "$total requests, $errors 5xx (${percent} %), p99 ${p99} ms; $clients client(s)$(weighing)"; }
# Says when a client's weight was capped: only then do the figures differ from plain counts.
weighing() { [ "${heavy:-0}" -gt 0 ] && [ "$clients" -gt 1 ] && printf '; %s of %s clients weighed as %s requests each' "$heavy" "$clients" "$BAKE_MIN_REQUESTS"; true; }

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
      # Remembered, so the next up of this same release asks before it goes live again.
      printf '%s\n%s\n' "$containers" "$(date -u +%Y-%m-%dT%H:%M:%SZ): $why" | docker exec -i "$SWITCHYARD_PROXY" sh -c 'cat > "$1.tmp" && mv -f "$1.tmp" "$1"' sh "$failed_marker" ||
        say "could not record the failed bake in the proxy's state"
      die "$message; live traffic is back on $previous, which keeps running"
    fi
    die "$message; there is no previous colour to restore"
  fi
  say "${waited}s of ${BAKE_SECONDS}s: $(figures)"
  [ "$waited_ms" -ge "$window_ms" ] && break
done
proxy_exec rm -f "$failed_marker" || true
if [ "$total" -lt "$BAKE_MIN_REQUESTS" ]; then
  say "baked: only $total real requests reached $SWITCHYARD_COLOR in ${BAKE_SECONDS}s (fewer than ${BAKE_MIN_REQUESTS}): too little traffic to judge, so the release stands"
else
  say "baked: $SWITCHYARD_COLOR held for ${BAKE_SECONDS}s: $(figures)"
fi
