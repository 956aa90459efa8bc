#!/usr/bin/env bash
# npm run plan -- --stack NAME ...: scripts/ops/plan.ts with the toolchain and
# backend of scripts/env.sh (the same stack state `npm run up` uses).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/scripts/env.sh"
cd "$REPO"
TS_NODE_TRANSPILE_ONLY=true exec node -r ts-node/register scripts/ops/plan.ts "$@"
