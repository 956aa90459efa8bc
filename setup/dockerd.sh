#!/usr/bin/env bash
# setup/dockerd.sh start | restart
#
# The Docker engine that set-up starts on a machine without one, started so
# that its own restart (an engine upgrade, a crash) does not stop the stack:
#   --live-restore          the containers keep running while dockerd is away,
#                           and the restarted engine adopts them
#   --userland-proxy=false  published ports are the kernel's NAT rules, which
#                           stay in place too; the default docker-proxy
#                           processes die with dockerd, and 127.0.0.1 ports
#                           refuse connections until it is back (measured on
#                           this machine: 44 of 200 requests at 0.1 s intervals
#                           failed across a 5 s restart; with both flags, 3)
# A running engine that set-up did not start is not touched: set-up says when
# its live-restore is off, and the README ("When the Docker engine restarts")
# shows the daemon.json that turns it on.
#
# restart stops and starts the engine set-up started (the engine-restart e2e
# test does this under load). One line per step with elapsed seconds.
set -uo pipefail
SWITCHYARD_HOME=${SWITCHYARD_HOME:-$HOME/.switchyard}
MARKER="$SWITCHYARD_HOME/dockerd.started"
LOG="$SWITCHYARD_HOME/dockerd.log"
PIDFILE=/var/run/docker.pid
FLAGS=(--live-restore --userland-proxy=false)
T0=$(date +%s.%N)
say() { printf '[dockerd %6ss] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

answers() { docker info >/dev/null 2>&1; }
wait_answers() {
  for _ in $(seq 1 120); do answers && return 0; sleep 0.5; done
  die "dockerd did not answer within 60s; see $LOG"
}

start() {
  mkdir -p "$SWITCHYARD_HOME"
  say "starting dockerd ${FLAGS[*]} in the background (log: $LOG)"
  setsid nohup dockerd "${FLAGS[@]}" >>"$LOG" 2>&1 < /dev/null &
  wait_answers
  echo "${FLAGS[*]}" > "$MARKER"
  say "dockerd $(docker info --format '{{.ServerVersion}}') answers; live-restore $(docker info --format '{{.LiveRestoreEnabled}}')"
}

case "${1:-}" in
  start)
    answers && { say "dockerd already answers; not started again"; exit 0; }
    start
    ;;
  restart)
    [ -f "$MARKER" ] || die "this engine was not started by setup/dockerd.sh (no $MARKER): restart it the way it was started"
    pid=$(cat "$PIDFILE" 2>/dev/null) || die "no $PIDFILE: is dockerd running?"
    say "stopping dockerd (pid $pid); with live-restore its containers keep running"
    kill -TERM "$pid" || die "could not signal dockerd (pid $pid)"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && die "dockerd (pid $pid) did not stop within 60s"
    say "dockerd stopped"
    start
    ;;
  *) echo "usage: setup/dockerd.sh start | restart" >&2; exit 2 ;;
esac
