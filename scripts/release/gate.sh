#!/usr/bin/env bash
# gate: every replica of a colour must answer its health path with 2xx
# HEALTHY_THRESHOLD times in a row, probed from inside the proxy's network,
# within GATE_TIMEOUT seconds of the newest replica's start. Nothing switches
# without it.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_COLOR, SWITCHYARD_TARGETS (space-separated
#      container names), HEALTH_PATH, HEALTH_PORT, HEALTHY_THRESHOLD,
#      GATE_INTERVAL, GATE_TIMEOUT; optional SWITCHYARD_TARGET_ADDRESSES (the
#      replicas' fixed addresses, same order: probed without DNS), HEALTH_HOST
#      and HEALTH_PROTO (the Host and X-Forwarded-Proto every probe sends)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_COLOR SWITCHYARD_TARGETS HEALTH_PATH HEALTH_PORT HEALTHY_THRESHOLD GATE_INTERVAL GATE_TIMEOUT

wait_running "$SWITCHYARD_PROXY" 30
read -r -a targets <<< "$SWITCHYARD_TARGETS"
read -r -a addresses <<< "${SWITCHYARD_TARGET_ADDRESSES:-}"
declare -A streak status body addr
for i in "${!targets[@]}"; do t=${targets[$i]}; streak[$t]=0; status[$t]="no answer yet"; body[$t]=""; addr[$t]=${addresses[$i]:-$t}; done
# The request a real client would send: the app's host name, and HTTPS as seen from its load balancer.
probe=()
[ -z "${HEALTH_HOST:-}" ] || probe+=(-H "Host: $HEALTH_HOST")
[ -z "${HEALTH_PROTO:-}" ] || probe+=(-H "X-Forwarded-Proto: $HEALTH_PROTO")
sent=${HEALTH_HOST:+ with Host: $HEALTH_HOST}

# The timeout runs from the newest replica's start, not from this step's: a
# new slot gets GATE_TIMEOUT seconds from when Docker started it, so a broken
# release fails that long after its containers came up, however long the
# update took to get here. A slot that has run for a while (re-gated before a
# switch) still gets a fair chance: at least one full healthy streak and 3 s.
now=$(date +%s)
started=$(docker inspect -f '{{.State.StartedAt}}' "${targets[@]}" 2>/dev/null | sort | tail -n 1)
started_s=$(date -d "$started" +%s 2>/dev/null || echo "$now")
floor=$(( now + HEALTHY_THRESHOLD * GATE_INTERVAL + 3 ))
deadline=$(( started_s + GATE_TIMEOUT ))
[ "$deadline" -ge "$floor" ] || deadline=$floor
[ "$deadline" -le $(( now + GATE_TIMEOUT )) ] || deadline=$(( now + GATE_TIMEOUT ))
say "gating ${SWITCHYARD_COLOR}: ${#targets[@]} replica(s), ${HEALTHY_THRESHOLD} consecutive healthy answers each on :${HEALTH_PORT}${HEALTH_PATH}${sent}, timeout ${GATE_TIMEOUT}s from start ($(( deadline - now ))s left)"
while :; do
  passed=0
  for t in "${targets[@]}"; do
    if [ "${streak[$t]}" -ge "$HEALTHY_THRESHOLD" ]; then passed=$((passed + 1)); continue; fi
    out=$(proxy_exec curl -s -m 3 -o - -w '\n%{http_code}' "${probe[@]}" "http://${addr[$t]}:${HEALTH_PORT}${HEALTH_PATH}" 2>/dev/null || true)
    code=$(printf '%s' "$out" | tail -n 1)
    body[$t]=$(printf '%s' "$out" | sed '$d' | head -c 300)
    if [[ "$code" =~ ^2[0-9][0-9]$ ]]; then
      streak[$t]=$((streak[$t] + 1))
      status[$t]=$code
      [ "${streak[$t]}" -ge "$HEALTHY_THRESHOLD" ] && { say "$t healthy (${HEALTHY_THRESHOLD}/${HEALTHY_THRESHOLD})"; passed=$((passed + 1)); }
    else
      [ "${streak[$t]}" -gt 0 ] && say "$t answered ${code:-no response} after ${streak[$t]} healthy; streak reset"
      streak[$t]=0
      status[$t]=${code:-"no response (connection failed)"}
      [ "$code" = "000" ] && status[$t]="no response (connection failed)"
    fi
  done
  if [ "$passed" -eq "${#targets[@]}" ]; then
    say "gate passed: ${SWITCHYARD_COLOR} is healthy on all ${#targets[@]} replica(s)"
    # How long the colour took from its start to healthy, for the policy that
    # compares it with health.timeoutSeconds (npm run plan reads it). A re-gate
    # of a colour that has run a while measures nothing.
    took=$(( $(date +%s) - started_s ))
    if [ "$took" -le "$GATE_TIMEOUT" ]; then
      proxy_exec sh -c "mkdir -p $STATE_DIR && printf '%s' $took > $STATE_DIR/.measured-start.tmp && mv -f $STATE_DIR/.measured-start.tmp $STATE_DIR/measured-start-${SWITCHYARD_COLOR}" || true
    fi
    exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    report=$({
      echo "gate failed: colour ${SWITCHYARD_COLOR} did not pass its health gate${sent} within ${GATE_TIMEOUT}s of its start; live traffic was not moved."
      for t in "${targets[@]}"; do
        [ "${streak[$t]}" -ge "$HEALTHY_THRESHOLD" ] && continue
        echo "  ${t}: last status ${status[$t]}; last body: ${body[$t]:-(empty)}"
        echo "  last log lines of ${t}:"
        docker logs --tail 15 "$t" 2>&1 | sed 's/^/    | /'
      done
    })
    printf '%s\n' "$report" >&2
    notify failure "$report"
    exit 1
  fi
  sleep "$GATE_INTERVAL"
done
