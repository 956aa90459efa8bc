#!/usr/bin/env bash
# ops/build-program.sh: build the compiled program (npm run build:program)
# when one of its sources changed since the last build, else nothing;
# with --always (npm run build:program) it builds whatever the stamp says.
# Every ops command that runs the Pulumi CLI came through a full `tsc` first
# (about 3 s here even with nothing to emit); recover alone runs the CLI seven
# times. The stamp is written after a build that succeeded, so an edit made
# while one ran, or a failed build, builds again next time; the program itself
# still refuses a stale build (lib/build.ts), whatever this decides. Only the
# compiler's inputs count (*.ts, tsconfig*.json), not directories: a copy of
# the project (every e2e stack runs in one) has every directory newer than its
# copied stamp, and rebuilt for 7-9 s on its first command.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
stamp=dist/.program-built
if [ "${1:-}" != --always ] && [ -f "$stamp" ] && [ -z "$(find index.ts components nginx engine lib ops tsconfig.json tsconfig.program.json -type f \( -name '*.ts' -o -name 'tsconfig*.json' \) -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
started=$(mktemp)
npx --no-install tsc -p tsconfig.program.json || { rm -f "$started"; echo "could not build the program (npm run build:program)" >&2; exit 1; }
# The stamp takes the time the build started: a source saved during it is newer.
mkdir -p dist && touch -r "$started" "$stamp" && rm -f "$started"
