#!/usr/bin/env bash
# ops/stack.sh STACK PULUMI-ARGS...: run the Pulumi CLI on a stack of this
# project with the toolchain and backend from setup/env.sh, creating the
# stack (passphrase secrets provider) on first use.
#   npm run up            -> ops/stack.sh local up --yes
#   npm run preview       -> ops/stack.sh local preview --diff
#   npm run destroy       -> ops/stack.sh local destroy --yes
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/setup/env.sh"
[ $# -ge 2 ] || { echo "usage: ops/stack.sh STACK PULUMI-ARGS..." >&2; exit 2; }
stack=$1; shift
# A --stack among the Pulumi arguments would win over this one (Pulumi keeps
# the last): `npm run up -- --stack production` must not act on another stack
# than it says. The same name is dropped; another one is refused.
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack|-s) named=${2:-}; shift 2 || shift ;;
    --stack=*) named=${1#--stack=}; shift ;;
    *) args+=("$1"); shift; continue ;;
  esac
  if [ "$named" != "$stack" ]; then
    echo "stack.sh: refused: this command acts on stack '$stack', but the arguments also name stack '$named'; nothing was run. For '$named' run: bash ops/stack.sh $named ${args[*]:-<command>}" >&2
    exit 2
  fi
done
set -- "${args[@]}"
# Machine-local stacks (stacks/<name>.yaml) start from their committed template.
if [ ! -f "$REPO/Pulumi.$stack.yaml" ] && [ -f "$REPO/stacks/$stack.yaml" ]; then
  cp "$REPO/stacks/$stack.yaml" "$REPO/Pulumi.$stack.yaml"
  echo "stack.sh: created Pulumi.$stack.yaml from stacks/$stack.yaml (machine-local, not committed)" >&2
fi
[ -f "$REPO/Pulumi.$stack.yaml" ] || { echo "no Pulumi.$stack.yaml in $REPO (stacks: $(cd "$REPO" && ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | tr '\n' ' '))" >&2; exit 2; }
command -v pulumi >/dev/null || { echo "no pulumi CLI: run npm run setup first" >&2; exit 1; }
cd "$REPO"
# The program and its release steps run compiled (built here when a source
# changed since the last build); the program refuses a stale build.
bash "$REPO/ops/build-program.sh" || { echo "stack.sh: could not build the program (npm run build:program)" >&2; exit 1; }
pulumi stack select --create --secrets-provider passphrase "$stack" >/dev/null
exec pulumi "$@" --stack "$stack"
