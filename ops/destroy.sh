#!/usr/bin/env bash
# npm run destroy [-- --stack NAME]: `switchyard destroy` (ops/destroy.ts) on
# the stack named, default local: the whole stack, its data included. A
# machine-local stack not yet created starts from its template (ops/stack.sh).
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
bash "$REPO/ops/stack.sh" "$STACK" stack select >/dev/null
exec bash "$REPO/ops/switchyard.sh" destroy --stack "$STACK"
