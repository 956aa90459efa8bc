#!/usr/bin/env bash
# npm run plan -- --stack NAME ...: ops/plan.ts with the toolchain and
# backend of setup/env.sh (the same stack state `npm run up` uses).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/setup/env.sh"
cd "$REPO"
# The preview runs the program, which refuses a release engine older than its sources.
bash "$REPO/ops/build-program.sh" || { echo "plan: could not build the program (npm run build:program)" >&2; exit 1; }
TS_NODE_TRANSPILE_ONLY=true exec node -r ts-node/register ops/plan.ts "$@"
