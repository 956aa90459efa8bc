#!/usr/bin/env bash
# Builds the images the local stack runs, from a Debian base made with
# debootstrap (no registry can be reached), each skipped when an image with
# the same recipe hash exists. One line per image with elapsed seconds.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
IMAGES="$REPO/setup/images"
SWITCHYARD_HOME="${SWITCHYARD_HOME:-$HOME/.switchyard}"
T0=$(date +%s.%N)
say() { printf '[images %6ss] %s\n' "$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" "$*"; }
recipe_of() { (cd "$1" && find . -type f ! -path './node_modules/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
current() { docker image inspect -f '{{ index .Config.Labels "switchyard.recipe" }}' "$1" 2>/dev/null || true; }

BASE=switchyard/debian-base:bookworm
if docker image inspect "$BASE" >/dev/null 2>&1; then
  say "$BASE present"
else
  command -v debootstrap >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
  rootfs="$SWITCHYARD_HOME/build/rootfs-bookworm"
  rm -rf "$rootfs"
  say "debootstrap --variant=minbase bookworm (about a minute)"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$SWITCHYARD_HOME/debootstrap.log" 2>&1 \
    || { echo "debootstrap failed, see $SWITCHYARD_HOME/debootstrap.log" >&2; exit 1; }
  tar -C "$rootfs" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$rootfs"
  say "$BASE imported"
fi

build() { # build TAG DIR [docker build args...]
  local tag=$1 dir=$2; shift 2
  # Build args are part of the recipe; without any, the recipe is the directory's
  # alone, as it always was: a changed hash rebuilds an image under the same tag,
  # and a rebuilt data-service image is a replacement after the next refresh.
  local recipe; recipe=$(recipe_of "$dir")
  [ $# -eq 0 ] || recipe=$( { echo "$recipe"; echo "$*"; } | sha256sum | cut -c1-16)
  if [ "$(current "$tag")" = "$recipe" ]; then say "$tag up to date"; return; fi
  docker build --network host -q --label "switchyard.recipe=$recipe" -t "$tag" "$@" "$dir" >"$SWITCHYARD_HOME/build-image.log" 2>&1 \
    || { cat "$SWITCHYARD_HOME/build-image.log" >&2; echo "docker build of $tag failed" >&2; exit 1; }
  say "$tag built"
}
for name in nginx postgres redis node acme; do build "switchyard/$name:local" "$IMAGES/$name"; done

# The Node apps' npm dependencies are installed on the host and copied in.
app_deps() { # app_deps NAME: npm ci in examples/NAME when its lock is newer than what is installed
  local dir="$REPO/examples/$1"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --omit=dev --no-audit --no-fund >/dev/null 2>&1) || { echo "npm ci in examples/$1/ failed" >&2; exit 1; }
    say "$1 dependencies installed"
  fi
}
app_deps sample-app
build switchyard/app:1.0.0 "$REPO/examples/sample-app" --build-arg BASE_IMAGE=switchyard/node:local
# A second tag of the same app, so a release to the idle colour can be staged locally.
docker tag switchyard/app:1.0.0 switchyard/app:1.1.0
say "switchyard/app:1.1.0 tagged"
# Version 2: the same code on schema 2 (visits.source; app/migrate.js), the
# release that needs an expand migration before it takes traffic.
build switchyard/app:2.0.0 "$REPO/examples/sample-app" --build-arg BASE_IMAGE=switchyard/node:local --build-arg APP_SCHEMA=2

# The framework-like app (examples/web-app): HTML, CSRF, strict hosts, force_ssl,
# uploads, WebSockets and server-sent events, for the e2e suite's browser tests.
app_deps web-app
build switchyard/webapp:1.0.0 "$REPO/examples/web-app" --build-arg BASE_IMAGE=switchyard/node:local
docker tag switchyard/webapp:1.0.0 switchyard/webapp:1.1.0
say "switchyard/webapp:1.1.0 tagged"

# The registry the private-image tests push to (password auth).
build switchyard/registry:local "$IMAGES/registry"

# A second app, unlike the sample: a static Go binary in a FROM scratch image
# (examples/scratch-app). Its Go modules come from the module proxy.
scratch_src="$REPO/examples/scratch-app"
scratch_ctx="$SWITCHYARD_HOME/build/scratch-app"
mkdir -p "$scratch_ctx"
if ! command -v go >/dev/null; then echo "go is needed to build examples/scratch-app" >&2; exit 1; fi
# Its module file is written here with pinned versions (the checksum database
# verifies them), so the repository holds the app's source alone.
scratch_mod="$scratch_ctx/src"
rm -rf "$scratch_mod" && mkdir -p "$scratch_mod" && cp "$scratch_src"/*.go "$scratch_mod/"
(cd "$scratch_mod" && go mod init switchyard.local/scratch-app \
  && go mod edit -require=github.com/jackc/pgx/v5@v5.12.0 -require=github.com/redis/go-redis/v9@v9.23.0 \
  && go mod tidy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$scratch_ctx/app" .) >"$SWITCHYARD_HOME/build-scratch-app.log" 2>&1 \
  || { cat "$SWITCHYARD_HOME/build-scratch-app.log" >&2; echo "go build of examples/scratch-app failed" >&2; exit 1; }
cp "$scratch_src/Dockerfile" "$scratch_ctx/Dockerfile"
build switchyard/scratch-app:1.0.0 "$scratch_ctx"
docker tag switchyard/scratch-app:1.0.0 switchyard/scratch-app:1.1.0
say "switchyard/scratch-app:1.1.0 tagged"
