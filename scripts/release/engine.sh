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
node "$engine"
exit $?
