# Sourced by a step script whose step is in the TypeScript release engine:
# `source engine.sh STEP` runs dist/engine/STEP.js (compiled: `npm run
# build:program`; the package ships it built) and exits with its status. The
# step script stays the process (`bash scripts/release/STEP.sh`, the command
# text every stack's state records), so `npm run recover` still finds a step of
# a killed update by it.
engine="$(dirname "$0")/../../dist/engine/$1.js"
if [ ! -f "$engine" ]; then
  echo "[$1] FAILED: the release engine is not built ($engine is missing): run npm run build:program in $(cd "$(dirname "$0")/../.." && pwd)" >&2
  exit 1
fi
# Node parses the whole NODE_EXTRA_CA_CERTS bundle before a step's first line
# (45-50 ms a process; a release runs its steps one after the other). A step
# starts without it; engine/extra-ca.ts gives it back where a step opens TLS.
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  export SWITCHYARD_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"
  unset NODE_EXTRA_CA_CERTS
fi
node "$engine"
exit $?
