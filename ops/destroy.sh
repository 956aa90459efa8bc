#!/usr/bin/env bash
# npm run destroy [-- --stack NAME]: remove a whole stack, its data included,
# on the stack named (default: local). Every container, volume and network is
# behind the delete guard, so this is the one command that allows it
# (SWITCHYARD_ALLOW_DELETE=all); production data stays protected in state
# (`protect`) until it is unprotected on purpose.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
STACK=local
while [ $# -gt 0 ]; do
  case "$1" in
    --stack) STACK=${2:-}; shift 2 || shift ;;
    --stack=*) STACK=${1#--stack=}; shift ;;
    *) echo "destroy: unknown argument '$1' (allowed: --stack NAME)" >&2; exit 2 ;;
  esac
done
[[ "$STACK" =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "destroy: --stack NAME must be a stack name (got '$STACK')" >&2; exit 2; }
echo "destroy: removing stack '$STACK' (Pulumi.$STACK.yaml) and its data" >&2
SWITCHYARD_ALLOW_DELETE=all exec bash "$REPO/ops/stack.sh" "$STACK" destroy --yes --run-program
