#!/usr/bin/env bash
# npm run recover -- --stack NAME [--wait-seconds N] [--cancel]
#
# After a `pulumi up` of NAME was killed (kill -9, a lost SSH session, a
# rebooted CI runner), bring the stack back to a state the next `pulumi up`
# finishes from. Traffic is not touched: the live listener keeps serving the
# colour it routes to, whatever step was cut off (each step is idempotent).
#
#   0. state     (file backend) a sidecar `.attrs` file the killed CLI left
#                empty or cut short: Pulumi's file store writes it in place, not
#                atomically, and then fails every command with "failed to load
#                checkpoint: EOF". The sidecar holds only content type and a
#                checksum; without it the store reads the (intact) checkpoint.
#   1. lock      remove the dead update's lock (`pulumi cancel`), refusing when
#                the lock's process is still alive on this machine, and asking
#                for --cancel when it cannot see (another machine's lock, or a
#                backend that is not a local file)
#      steps     a kill -9 of the CLI does not stop its plugins: Pulumi starts
#                each in its own process group, so the release step the killed
#                update was running (verify, retire, a migration) runs on to its
#                end. Recover waits for it (--wait-seconds, default 900), since
#                cutting a migration or a drain short is worse, and only then
#                lets the next update start; then it stops the plugins the dead
#                CLI left behind (they would otherwise stay for good)
#   2. pending   `pulumi refresh --clear-pending-creates`: read every resource
#                back from Docker and drop operations the killed update left
#                pending (otherwise every later update warns about them)
#   3. orphans   containers of the stack that Docker has but the state does not
#                (an app container killed mid-create): removed when they belong
#                to a colour the live listener does not route to, or are a
#                worker or scheduler that never started; anything else is
#                reported and left for you
#
# Then run `pulumi up` (npm run up for the local stack): it finishes the
# release the killed update started, or the one the config now describes.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
T0=$(date +%s.%N)
say() { printf '[recover %6ss] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

STACK=""
WAIT_SECONDS=900
CANCEL=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=${2:-}; shift 2 ;;
    --wait-seconds) WAIT_SECONDS=${2:-}; shift 2 ;;
    --cancel) CANCEL=yes; shift ;;
    *) die "unknown argument '$1' (allowed: --stack NAME, --wait-seconds N, --cancel)" ;;
  esac
done
[[ "$STACK" =~ ^[A-Za-z0-9_.-]+$ ]] || die "--stack NAME is required (got '${STACK}')"
[[ "$WAIT_SECONDS" =~ ^[0-9]+$ ]] || die "--wait-seconds must be a whole number of seconds (got '${WAIT_SECONDS}')"
pulumi_stack() { bash "$REPO/ops/stack.sh" "$STACK" "$@"; }
source "$REPO/setup/env.sh"
if [[ "$PULUMI_BACKEND_URL" != file://* ]] && [ "$CANCEL" != yes ]; then
  # A cloud or bucket backend: whether the update still runs elsewhere is not
  # visible here, and cancelling a live update breaks it mid-release.
  die "the backend ($PULUMI_BACKEND_URL) is not a local file backend, so recover cannot tell whether the update holding $STACK's lock is dead; check (pulumi stack history, or the backend's console), then run recover again with --cancel"
fi
source "$REPO/ops/follow-stack.sh"
# route_read: the route-marker protocol the release steps use.
source "$REPO/scripts/release/route-marker.sh"

# 0. Sidecar files a kill left truncated (file backend only).
if [[ "$PULUMI_BACKEND_URL" == file://* ]]; then
  state_dir="${PULUMI_BACKEND_URL#file://}"; state_dir="${state_dir%%\?*}/.pulumi"
  fixed=0
  # One node process reads them all (a backend holds an .attrs per history entry).
  while IFS= read -r attrs; do
    [ -n "$attrs" ] || continue
    rm -f "$attrs" && say "state: removed ${attrs#"$state_dir"/}, cut short by the kill (the checkpoint it describes is intact)"
    fixed=$((fixed + 1))
  done < <(find "$state_dir" -name '*.attrs' -print0 2>/dev/null | node -e '
    const fs = require("fs");
    let all = ""; process.stdin.on("data", (d) => (all += d)).on("end", () => {
      for (const f of all.split("\0").filter(Boolean)) {
        try { JSON.parse(fs.readFileSync(f, "utf8")); } catch { console.log(f); }
      }
    });')
  [ "$fixed" -gt 0 ] || say "state: every file of the file backend reads back"
fi

# 1. The lock. A file backend keeps it as a JSON file naming pid and host.
if [[ "$PULUMI_BACKEND_URL" == file://* ]]; then
  lockdir="${PULUMI_BACKEND_URL#file://}"; lockdir="${lockdir%%\?*}/.pulumi/locks/organization/$PROJECT/$STACK"
  for lock in "$lockdir"/*.json; do
    [ -f "$lock" ] || continue
    read -r pid host < <(node -e 'const l=require(process.argv[1]);console.log(l.pid, l.hostname)' "$lock")
    if [ "$host" = "$(hostname)" ] && kill -0 "$pid" 2>/dev/null; then
      die "an update of $STACK is still running (pid $pid); wait for it, or stop it first"
    fi
    # Another machine's update cannot be seen from here: it may be alive.
    if [ "$host" != "$(hostname)" ] && [ "$CANCEL" != yes ]; then
      die "the lock on $STACK belongs to an update on $host (pid $pid), which this machine cannot check; make sure it is dead, then run recover again with --cancel"
    fi
  done
fi
# Release steps of the killed update that still run: a release-step script
# whose environment names this stack's proxy. Their plugin outlived the CLI.
step_pids() {
  node -e '
    const fs = require("fs");
    const marker = `SWITCHYARD_PROXY=${process.argv[1]}`;
    const steps = new Map();
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        const script = cmd.find((a) => /scripts\/release\/[a-z-]+\.sh$/.test(a));
        if (!script || !/(^|\/)bash$/.test(cmd[0])) continue;
        if (!fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(marker)) continue;
        const ppid = fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1];
        steps.set(pid, { ppid, name: script.replace(/^.*\/|\.sh$/g, "") });
      } catch {}
    }
    // A step, not its subshells or the step it calls (verify runs re-point).
    for (const [pid, s] of steps) if (!steps.has(s.ppid)) console.log(pid, s.name);' "$PROXY"
}
waited=0
while running=$(step_pids) && [ -n "$running" ]; do
  steps=$(awk '{ printf "%s%s (pid %s)", (NR > 1 ? ", " : ""), $2, $1 }' <<< "$running")
  [ "$waited" -lt "$WAIT_SECONDS" ] || die "steps of the killed update still run after ${WAIT_SECONDS}s: $steps; wait for them (or stop them: kill PID), then run recover again"
  [ $((waited % 10)) -eq 0 ] && say "steps: the killed update's $steps still runs; waiting for it to end (${waited}s so far)"
  sleep 1; waited=$((waited + 1))
done
[ "$waited" -gt 0 ] && say "steps: the killed update's last step ended after ${waited}s" || say "steps: none of the killed update still runs"
# Plugins whose CLI is gone and that run nothing any more, of this project
# only: Pulumi starts a plugin in the program's directory, so one whose
# working directory is elsewhere belongs to another project's update.
stopped=""
project_dir=$(cd "$REPO" && pwd -P)
for pid in $(pgrep -f '^[^ ]*/pulumi-resource-[a-z0-9-]+ ' || true); do
  ppid=$(awk '{ print $4 }' "/proc/$pid/stat" 2>/dev/null) || continue
  [ "$(cat "/proc/$ppid/comm" 2>/dev/null)" = pulumi ] && continue
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$project_dir" ] || continue
  pgrep -P "$pid" >/dev/null && continue
  name=$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)") || continue
  kill "$pid" 2>/dev/null && stopped="$stopped $name (pid $pid)"
done
[ -z "$stopped" ] || say "steps: stopped plugins the killed CLI left running:$stopped"

if out=$(pulumi_stack cancel --yes 2>&1); then say "lock: $(printf '%s' "$out" | tail -n 1)"
elif grep -qi "not currently locked\|no update\|not locked" <<< "$out"; then say "lock: none"
else die "pulumi cancel: $(printf '%s' "$out" | tail -n 1)"
fi

# 2. Pending operations and drift, read back from Docker.
pending() { pulumi_stack stack export | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log((JSON.parse(s).deployment.pending_operations||[]).map(o=>o.type+" "+o.resource.urn.split("::").pop()).join(", ")))'; }
before=$(pending) || die "pulumi stack export failed"
pulumi_stack refresh --yes --skip-preview --clear-pending-creates >/dev/null 2>"$SWITCHYARD_HOME/recover-refresh.log" \
  || die "pulumi refresh failed: $(tail -n 3 "$SWITCHYARD_HOME/recover-refresh.log")"
after=$(pending) || after="?"
say "pending operations: ${before:-none} -> ${after:-none} (refresh read every resource back)"

# 3. Orphans: containers labelled with this stack that the state does not
# hold, on every host of the stack (switchyard:hosts; else the one host).
# Containers have the same names on every host, so the state's are told apart
# by the Docker host of the provider that made them.
hosts_json=$(pulumi_stack config get switchyard:hosts 2>/dev/null || true)
if [ -n "$hosts_json" ]; then
  mapfile -t stack_hosts < <(node -e 'for (const h of JSON.parse(process.argv[1])) console.log(`${h.dockerHost}\t${h.name}`)' "$hosts_json") \
    || die "switchyard:hosts is not a list of hosts: run pulumi preview to see the config error"
else
  stack_hosts=("${DOCKER_HOST:-}")
fi
state_json=$(pulumi_stack stack export) || die "pulumi stack export failed"
export SWITCHYARD_PROXY="$PROXY"
left=0
routes=""
for entry in "${stack_hosts[@]}"; do
  IFS=$'\t' read -r host host_name <<< "$entry"
  if [ -n "$host" ]; then use_docker_host "$host" "$host_name"; fi
  where=""
  [ -n "$hosts_json" ] && where=" on $host"
  # With several hosts, the state's containers of this host; with one, all of them.
  in_state=$(node -e '
    const [host, several] = process.argv.slice(1);
    const resources = JSON.parse(require("fs").readFileSync(0, "utf8")).deployment.resources || [];
    const hostOf = new Map(resources.filter((r) => r.type === "pulumi:providers:docker").map((r) => [`${r.urn}::${r.id}`, (r.outputs || {}).host || (r.inputs || {}).host]));
    for (const r of resources) {
      if (r.type !== "docker:index/container:Container") continue;
      if (several === "yes" && hostOf.get(r.provider) !== host) continue;
      console.log(r.outputs.name);
    }' "$host" "$([ -n "$hosts_json" ] && echo yes || echo no)" <<< "$state_json")
  route=$(route_read "$SWITCHYARD_PROXY" 2>/dev/null)
  routes="$routes${routes:+, }${where:+$host: }${route:-no route}"
  while IFS=$'\t' read -r name role colour state; do
    [ -n "$name" ] || continue
    grep -qxF "$name" <<< "$in_state" && continue
    if [ "$role" = app ] && [ "$colour" != "$route" ]; then
      docker rm -f "$name" >/dev/null && say "orphans: removed $name$where ($colour, not routed; the killed update was creating it)"
    elif [ "$role" = process ] && [ "$state" = created ]; then
      # Pulumi creates a worker or scheduler without starting it (the processes
      # step starts it later): one the state lost never ran and holds no job.
      docker rm -f "$name" >/dev/null && say "orphans: removed $name$where (a ${colour:+$colour }process container the killed update created; it never ran)"
    else
      say "orphans: $name$where ($role${colour:+ $colour}) is not in the state and may serve traffic; left as is — inspect it, then remove it or import it" >&2
      left=$((left + 1))
    fi
  done < <(docker ps -a --filter "label=switchyard.stack=$LABEL" --format '{{.Names}}{{"\t"}}{{.Label "switchyard.role"}}{{"\t"}}{{.Label "switchyard.colour"}}{{"\t"}}{{.State}}')
done
[ "$left" -eq 0 ] || die "$left container(s) need a look (above)"
say "done: the live listener routes to ${routes}; run pulumi up to finish the release"
