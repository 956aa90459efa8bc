# Shared by the release steps that command resources run (gate, re-point,
# verify, retire, proxy config). Each step prints one line per action with the
# seconds elapsed since it started, and fails with a message that says what to
# do. Secrets never reach these scripts: they only see names and colours.
set -euo pipefail

SWITCHYARD_STEP="${SWITCHYARD_STEP:-$(basename "$0" .sh)}"
SWITCHYARD_T0=$(date +%s.%N)
# STATE_DIR, the marker names, route_read and route_write.
source "$(dirname "${BASH_SOURCE[0]}")/route-marker.sh"
CONF_DIR=/etc/switchyard/nginx

elapsed() { awk -v t0="$SWITCHYARD_T0" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }'; }
say() { printf '[%s %6ss] %s\n' "$SWITCHYARD_STEP" "$(elapsed)" "$*"; }
# die MESSAGE: fail the step with MESSAGE, and tell the stack's webhook.
die() {
  local message="${SWITCHYARD_HOST_NAME:+on host $SWITCHYARD_HOST_NAME: }$*"
  printf '[%s %6ss] FAILED: %s\n' "$SWITCHYARD_STEP" "$(elapsed)" "$message" >&2
  notify failure "$message"
  exit 1
}

# require NAME...: every named variable must be set and non-empty.
require() {
  local v
  for v in "$@"; do
    [ -n "${!v:-}" ] || die "environment variable $v is required"
  done
}

# proxy_exec CMD...: run a command inside the proxy container.
proxy_exec() { docker exec "$SWITCHYARD_PROXY" "$@"; }

# live_curl [CURL ARGS...] PATH: curl, inside the proxy, against its own live
# listener: its unix socket (LIVE_SOCKET, host networking) or its port in the
# container (LIVE_LISTEN_PORT). tls_curl: the HTTPS one (LIVE_TLS_SOCKET or
# LIVE_TLS_LISTEN_PORT), certificate not checked (it is what is being tested).
live_curl() {
  local path=${*: -1}
  if [ -n "${LIVE_SOCKET:-}" ]; then proxy_exec curl --unix-socket "$LIVE_SOCKET" "${@:1:$#-1}" "http://localhost$path"
  else proxy_exec curl "${@:1:$#-1}" "http://127.0.0.1:${LIVE_LISTEN_PORT:?LIVE_SOCKET or LIVE_LISTEN_PORT is required}$path"; fi
}
tls_curl() {
  local path=${*: -1}
  if [ -n "${LIVE_TLS_SOCKET:-}" ]; then proxy_exec curl -k --unix-socket "$LIVE_TLS_SOCKET" "${@:1:$#-1}" "https://localhost$path"
  else proxy_exec curl -k "${@:1:$#-1}" "https://127.0.0.1:${LIVE_TLS_LISTEN_PORT:?LIVE_TLS_SOCKET or LIVE_TLS_LISTEN_PORT is required}$path"; fi
}

# wait_running CONTAINER SECONDS: until docker says it is running.
wait_running() {
  local name=$1 limit=$2 state=""
  for _ in $(seq 1 $((limit * 5))); do
    state=$(docker inspect -f '{{.State.Status}}' "$name" 2>/dev/null || true)
    [ "$state" = running ] && return 0
    sleep 0.2
  done
  die "container $name is not running after ${limit}s (state: ${state:-missing})${state:+; its last lines:
$(docker logs --tail 5 "$name" 2>&1 | sed 's/^/  | /')}"
}

# current_route: the colour the live listener serves now (marker file).
current_route() { route_read "$SWITCHYARD_PROXY"; }

# set_route COLOUR: atomically point the live listener at COLOUR. A rename or
# unlink is atomic, and nginx checks the marker per request: no reload.
set_route() { route_write "$SWITCHYARD_PROXY" "$1" || die "could not point the live listener at '$1' (allowed: blue, green)"; }

# slot_containers COLOUR: running app containers of COLOUR in this stack.
slot_containers() {
  docker ps --filter "label=switchyard.stack=$SWITCHYARD_STACK" --filter "label=switchyard.role=app" \
    --filter "label=switchyard.colour=$1" --format '{{.Names}}' | sort
}

# slot_container_ids COLOUR: the same containers by full ID, on one line: a re-created replica keeps its name, not its ID.
slot_container_ids() {
  docker ps --no-trunc --filter "label=switchyard.stack=$SWITCHYARD_STACK" --filter "label=switchyard.role=app" \
    --filter "label=switchyard.colour=$1" --format '{{.ID}}' | sort | tr '\n' ' '
}

# image_of COLOUR: the image a colour's running containers were created from.
image_of() {
  docker ps --filter "label=switchyard.stack=$(stack_label)" --filter "label=switchyard.role=app" \
    --filter "label=switchyard.colour=$1" --format '{{.Label "switchyard.image"}}' 2>/dev/null | head -n 1
}

# stack_label: the switchyard.stack label, from the environment or the proxy.
stack_label() {
  [ -n "${SWITCHYARD_STACK:-}" ] && { echo "$SWITCHYARD_STACK"; return; }
  docker inspect -f '{{index .Config.Labels "switchyard.stack"}}' "$SWITCHYARD_PROXY" 2>/dev/null || true
}

# notify KIND SUMMARY: post one message (KIND failure or rollback) to the
# stack's webhook, when one is configured (the notifier step keeps it in the
# proxy's state volume, so no step carries it in its environment). Bounded in
# time; a failed notification is logged and never fails the step.
notify() {
  local kind=$1 summary=$2 url from to live
  [ -n "${SWITCHYARD_PROXY:-}" ] || return 0
  url=$(docker exec "$SWITCHYARD_PROXY" cat "$STATE_DIR/$WEBHOOK_URL_FILE" 2>/dev/null || true)
  [ -n "$url" ] || return 0
  live=$(current_route 2>/dev/null || echo "")
  from=${NOTIFY_FROM_IMAGE:-$(image_of "$live")}
  to=$(image_of "${SWITCHYARD_COLOR:-none}")
  NOTIFY_URL="$url" node "$(dirname "${BASH_SOURCE[0]}")/notify.js" "$kind" "$(stack_label)" "$SWITCHYARD_STEP" \
    "${SWITCHYARD_COLOR:-}" "${from:-none}" "${to:-none}" "$summary" 2>&1 | while IFS= read -r line; do say "$line"; done || true
}

# A tcp:// host: the docker CLI reads its client material from the files the
# program wrote before this step ran (lib/dockertls.ts); the step's input is
# only the directory's name, so the material never reaches a command or state.
if [ -n "${SWITCHYARD_DOCKER_TLS:-}" ]; then
  export DOCKER_CERT_PATH="${SWITCHYARD_HOME:-$HOME/.switchyard}/docker-tls/$SWITCHYARD_DOCKER_TLS" DOCKER_TLS_VERIFY=1
  for pem in ca cert key; do
    [ -r "$DOCKER_CERT_PATH/$pem.pem" ] || die "the client TLS material of $DOCKER_HOST is missing ($DOCKER_CERT_PATH/$pem.pem); pulumi up writes it from hostsTls, so run it again"
  done
fi
