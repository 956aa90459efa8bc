#!/usr/bin/env bash
# ops/switchyard.sh COMMAND ARGS…: the package's operator CLI (ops/main.ts,
# `npx switchyard` in a project that installs the package), run here with the
# toolchain and backend of setup/env.sh and built first when a source changed.
#   npm run status -- --stack NAME   -> ops/switchyard.sh status --stack NAME
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/setup/env.sh"
bash "$REPO/ops/build-program.sh" || { echo "switchyard: could not build the program and its commands (npm run build:program)" >&2; exit 1; }
exec node "$REPO/dist/ops/main.js" "$@"
