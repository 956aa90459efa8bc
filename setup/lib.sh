# Helpers for the set-up steps: one line per step with elapsed seconds, and a
# summary of what was done, skipped or blocked.
set -uo pipefail

SETUP_T0=$(date +%s.%N)
STEP_T0=$SETUP_T0
declare -a SETUP_SUMMARY=()
SETUP_BLOCKED=0

_secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step_start() { STEP_T0=$(date +%s.%N); STEP_NAME=$1; }
step_line() { printf '[setup %7ss] %-18s %s\n' "$(_secs "$SETUP_T0")" "$STEP_NAME" "$*"; }
step_done() { local s; s=$(_secs "$STEP_T0"); step_line "done in ${s}s: $*"; SETUP_SUMMARY+=("$STEP_NAME: done in ${s}s ($*)"); }
step_skip() { local s; s=$(_secs "$STEP_T0"); step_line "skipped in ${s}s: $*"; SETUP_SUMMARY+=("$STEP_NAME: skipped in ${s}s ($*)"); }
step_fail() { local s; s=$(_secs "$STEP_T0"); step_line "FAILED after ${s}s: $*" >&2; exit 1; }
step_blocked() {
  local s; s=$(_secs "$STEP_T0")
  step_line "BLOCKED after ${s}s: $*" >&2
  SETUP_SUMMARY+=("$STEP_NAME: BLOCKED after ${s}s ($*)")
  SETUP_BLOCKED=1
}

# lock_version PACKAGE: the version package-lock.json pins for an npm package.
lock_version() {
  node -e 'const l=require(process.argv[1]); const p=l.packages["node_modules/"+process.argv[2]]; if(!p) process.exit(1); console.log(p.version)' \
    "$REPO/package-lock.json" "$1"
}

# go_mod_dir MODULE@VERSION: download a module through the Go module proxy and
# print its directory; on failure print the proxy's error and return 1.
go_mod_dir() {
  local json
  json=$(cd "$SWITCHYARD_HOME/build" && GOFLAGS=-mod=mod go mod download -json "$1" 2>&1)
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let j;try{j=JSON.parse(s)}catch{console.log(s.trim());process.exit(1)} if(j.Error){console.log(j.Error);process.exit(1)} console.log(j.Dir)})' <<< "$json"
}

# version_at_least HAVE WANT: true when version HAVE (v-prefix allowed) >= WANT.
version_at_least() {
  node -e 'const p=v=>v.replace(/^v/,"").split(/[-+]/)[0].split(".").map(Number);const [a,b]=[p(process.argv[1]),p(process.argv[2])];for(let i=0;i<3;i++){if((a[i]||0)!==(b[i]||0))process.exit((a[i]||0)>(b[i]||0)?0:1)}' "$1" "$2"
}

# stale_host PATH: true for a language host an earlier set-up built from
# sdk/v3@v3.68.0 without the RPC forwarder (it fails on resource hooks),
# without the policy pack runner (it cannot run --policy-pack) or without the
# project's runtime options (it runs a JavaScript program through ts-node).
# Its build info says so; a host installed any other way is left alone.
stale_host() {
  command -v go >/dev/null || return 1
  local info; info=$(go version -m "$1" 2>/dev/null)
  grep -q 'version.Version=v3.68.0' <<< "$info" && ! grep -q 'version.Version=v3.68.0+forward.policy.options"' <<< "$info"
}
