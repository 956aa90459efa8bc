#!/usr/bin/env bash
# npm run setup: take this machine from nothing to a working `pulumi up` of the
# local stack, and do next to nothing on a machine that has the parts already.
#
#   1. docker engine     Debian's docker.io and a background dockerd with live-restore
#                        (setup/dockerd.sh), when `docker info` fails
#   2. npm packages      npm ci, when node_modules does not match package-lock.json
#   3. pulumi cli        any installed CLI >= package.json's switchyard.pulumiCliMinimum;
#                        else built from its Go module at the version package-lock.json pins
#   4. nodejs host       the nodejs language host, built from Go module source
#   5. plugins           docker, command, random at the pinned versions: `pulumi plugin install`,
#                        else built from Go modules where the proxy serves them
#   6. images            debian base (debootstrap), nginx, postgres, redis, node, the sample app,
#                        a registry, and the FROM scratch example app (go build)
#   7. backend           a local file backend and passphrase file under ~/.switchyard
#   8. tools             actionlint (checks .github/workflows in the tests) and Let's Encrypt's
#                        ACME test server Pebble (the ACME e2e), from the Go module proxy;
#                        Debian's chromium (the browser e2e drives it with playwright-core)
#
# Every step prints one line with elapsed seconds. Exit status: 0 ready,
# 3 ready except for steps that are blocked here (listed), 1 a step failed.
# Options: --skip STEP[,STEP] to skip steps by number or name (for example
# --skip 3,4,5 on a machine that only runs the release-step tests).
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/setup/lib.sh"
source "$REPO/setup/env.sh"

SKIP=","
while [ $# -gt 0 ]; do
  case "$1" in
    --skip) SKIP=",$2,"; shift 2 ;;
    *) echo "setup: unknown option $1 (allowed: --skip STEP[,STEP])" >&2; exit 2 ;;
  esac
done
skipped() { [[ "$SKIP" == *",$1,"* || "$SKIP" == *",$2,"* ]]; }
mkdir -p "$SWITCHYARD_HOME/build" "$PULUMI_HOME/bin"
APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || step_fail "need root to apt-get install $* (or install it yourself)"
  command -v apt-get >/dev/null || step_fail "no apt-get: install $* yourself"
  [ "$APT_UPDATED" = 1 ] || { apt-get update -q >"$SWITCHYARD_HOME/apt.log" 2>&1 || step_fail "apt-get update failed, see $SWITCHYARD_HOME/apt.log"; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$SWITCHYARD_HOME/apt.log" 2>&1 || step_fail "apt-get install $* failed, see $SWITCHYARD_HOME/apt.log"
}

# 1. Docker engine ----------------------------------------------------------
step_start "1 docker engine"
if skipped 1 engine; then step_skip "--skip"
elif docker info >/dev/null 2>&1; then
  # An engine set-up did not start is not touched; its live-restore decides
  # whether the stack keeps serving while it restarts.
  if [ "$(docker info --format '{{.LiveRestoreEnabled}}')" != true ]; then
    step_line "live-restore is off on this engine: its containers stop while it restarts (README, \"When the Docker engine restarts\", turns it on)"
  fi
  step_skip "docker info answers ($(docker info --format '{{.ServerVersion}}'), live-restore $(docker info --format '{{.LiveRestoreEnabled}}'))"
else
  command -v dockerd >/dev/null || { step_line "installing Debian's docker.io"; apt_install docker.io; }
  command -v docker >/dev/null || apt_install docker.io
  # Live-restore and kernel port mapping: an engine restart leaves the stack serving (setup/dockerd.sh).
  SWITCHYARD_HOME="$SWITCHYARD_HOME" bash "$REPO/setup/dockerd.sh" start 2>&1 | while IFS= read -r line; do step_line "$line"; done
  docker info >/dev/null 2>&1 || step_fail "dockerd did not answer; see $SWITCHYARD_HOME/dockerd.log"
  step_done "dockerd $(docker info --format '{{.ServerVersion}}') answers, live-restore $(docker info --format '{{.LiveRestoreEnabled}}')"
fi

# 2. npm packages ------------------------------------------------------------
step_start "2 npm packages"
# installed_matches DIR: node_modules of DIR holds exactly what its package-lock.json pins.
installed_matches() {
  [ -f "$1/node_modules/.package-lock.json" ] && cmp -s \
    <(node -e 'const l=require(process.argv[1]);console.log(JSON.stringify(Object.keys(l.packages).filter(k=>k).sort().map(k=>k+"@"+l.packages[k].version)))' "$1/package-lock.json") \
    <(node -e 'const l=require(process.argv[1]);console.log(JSON.stringify(Object.keys(l.packages).filter(k=>k).sort().map(k=>k+"@"+l.packages[k].version)))' "$1/node_modules/.package-lock.json")
}
if skipped 2 npm; then step_skip "--skip"
else
  # The project, and the policy pack (its own package, as Pulumi policy packs are).
  for dir in "$REPO" "$REPO/policy"; do
    label=./${dir#"$REPO"}; label=${label/.\/\//.\/}
    if installed_matches "$dir"; then
      step_skip "$label node_modules matches package-lock.json"
    else
      (cd "$dir" && npm ci --no-audit --no-fund >"$SWITCHYARD_HOME/npm.log" 2>&1) || step_fail "npm ci in $label failed, see $SWITCHYARD_HOME/npm.log"
      step_done "npm ci in $label"
    fi
  done
fi
PULUMI_VERSION=$(lock_version @pulumi/pulumi) || step_fail "no @pulumi/pulumi in package-lock.json"
PULUMI_CLI_MINIMUM=$(node -p 'require(process.argv[1]).switchyard.pulumiCliMinimum' "$REPO/package.json")

# 3. Pulumi CLI --------------------------------------------------------------
step_start "3 pulumi cli"
if skipped 3 cli; then step_skip "--skip"
elif command -v pulumi >/dev/null && version_at_least "$(pulumi version 2>/dev/null)" "$PULUMI_CLI_MINIMUM"; then
  # A user's own CLI is used as is when it is new enough for the SDK's
  # features the program relies on (resource hooks that also run in preview).
  step_skip "$(pulumi version) at $(command -v pulumi) (needs >= v$PULUMI_CLI_MINIMUM)"
else
  command -v pulumi >/dev/null && step_line "$(pulumi version 2>/dev/null) at $(command -v pulumi) is older than v$PULUMI_CLI_MINIMUM; building v$PULUMI_VERSION"
  command -v go >/dev/null || step_fail "go is needed to build the Pulumi CLI"
  src="$SWITCHYARD_HOME/build/pulumi-$PULUMI_VERSION"
  if [ ! -d "$src/pkg" ]; then
    # pkg/v3 replaces sdk/v3 with ../sdk: lay both out side by side.
    for m in pkg sdk; do
      dir=$(go_mod_dir "github.com/pulumi/pulumi/$m/v3@v$PULUMI_VERSION") || step_fail "go mod download github.com/pulumi/pulumi/$m/v3@v$PULUMI_VERSION: $dir"
      mkdir -p "$src" && cp -r "$dir" "$src/$m" && chmod -R u+w "$src/$m"
    done
  fi
  step_line "building pulumi v$PULUMI_VERSION from github.com/pulumi/pulumi/pkg/v3 (a few minutes on 2 cores)"
  (cd "$src/pkg" && go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
      -o "$PULUMI_HOME/bin/pulumi" ./cmd/pulumi) >"$SWITCHYARD_HOME/build-pulumi.log" 2>&1 \
    || step_fail "go build of the Pulumi CLI failed, see $SWITCHYARD_HOME/build-pulumi.log"
  cp "$src/sdk/nodejs/dist/pulumi-resource-pulumi-nodejs" "$PULUMI_HOME/bin/" 2>/dev/null && chmod +x "$PULUMI_HOME/bin/pulumi-resource-pulumi-nodejs"
  step_done "$("$PULUMI_HOME/bin/pulumi" version) in $PULUMI_HOME/bin"
fi

# 4. nodejs language host ----------------------------------------------------
step_start "4 nodejs host"
if skipped 4 host; then step_skip "--skip"
elif command -v pulumi-language-nodejs >/dev/null && ! stale_host "$(command -v pulumi-language-nodejs)"; then
  step_skip "pulumi-language-nodejs at $(command -v pulumi-language-nodejs)"
else
  # Its own module replaces pkg and sdk with ../../../../pkg and ../../.. .
  host_mod="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3@v$PULUMI_VERSION"
  if dir=$(go_mod_dir "$host_mod"); then
    root="$SWITCHYARD_HOME/build/pulumi-$PULUMI_VERSION"
    mkdir -p "$root/sdk/nodejs/cmd" && rm -rf "$root/sdk/nodejs/cmd/pulumi-language-nodejs" \
      && cp -r "$dir" "$root/sdk/nodejs/cmd/pulumi-language-nodejs" && chmod -R u+w "$root/sdk/nodejs/cmd/pulumi-language-nodejs"
    build_dir="$root/sdk/nodejs/cmd/pulumi-language-nodejs"; pkg="."; host_version=$PULUMI_VERSION
  else
    # The module proxy here refuses that module at every version (see README,
    # "What this machine cannot do"). Before v3.69.0 the language host was
    # part of the sdk/v3 module itself; v3.68.0 is the newest such release.
    step_line "proxy refused $host_mod ($(printf '%s' "$dir" | tail -n 1 | cut -c1-120)); using the host inside github.com/pulumi/pulumi/sdk/v3@v3.68.0"
    host_version=3.68.0
    dir=$(go_mod_dir "github.com/pulumi/pulumi/sdk/v3@v$host_version") || step_fail "go mod download github.com/pulumi/pulumi/sdk/v3@v$host_version: $dir"
    build_dir="$SWITCHYARD_HOME/build/sdk-$host_version"
    [ -d "$build_dir" ] || { cp -r "$dir" "$build_dir" && chmod -R u+w "$build_dir"; }
    pkg="./nodejs/cmd/pulumi-language-nodejs"
    # That host proxies the engine's resource monitor and knows only the RPCs
    # of v3.68.0; forward_unknown.go passes every newer RPC (resource hooks)
    # through unchanged. See the file's header.
    cp "$REPO/setup/nodejs-host/forward_unknown.go" "$build_dir/nodejs/cmd/pulumi-language-nodejs/"
    main="$build_dir/nodejs/cmd/pulumi-language-nodejs/main.go"
    grep -q forwardUnknownRPCs "$main" || sed -i 's|Options: rpcutil.OpenTracingServerInterceptorOptions(tracingSpan),|Options: append(rpcutil.OpenTracingServerInterceptorOptions(tracingSpan), forwardUnknownRPCs(conn)...),|' "$main"
    grep -q forwardUnknownRPCs "$main" || step_fail "could not add the RPC forwarder to $main"
    # Its RunPlugin answers "not supported"; run_plugin.go runs policy packs
    # (pulumi preview --policy-pack) the way Pulumi's own launcher does.
    cp "$REPO/setup/nodejs-host/run_plugin.go" "$build_dir/nodejs/cmd/pulumi-language-nodejs/"
    grep -q 'return runPolicyPack(req, server)' "$main" \
      || perl -0pi -e 's|(LanguageRuntime_RunPluginServer,\n\) error \{\n)\treturn errors\.New\("not supported"\)|$1\treturn runPolicyPack(req, server)|' "$main"
    grep -q 'return runPolicyPack(req, server)' "$main" || step_fail "could not add the policy pack runner to $main"
    # It takes `typescript` only as a flag; program_options.go reads the
    # project's runtime options, as a current host does (typescript: false).
    cp "$REPO/setup/nodejs-host/program_options.go" "$build_dir/nodejs/cmd/pulumi-language-nodejs/"
    grep -q 'programTypeScript(' "$main" \
      || sed -i 's|^\t\tif host.typescript {$|\t\tif host.typescript \&\& programTypeScript(req.GetPwd(), host.typescript) {|' "$main"
    grep -q 'programTypeScript(' "$main" || step_fail "could not add the project's typescript option to $main"
    host_version=3.68.0+forward.policy.options
  fi
  (cd "$build_dir" && go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$host_version" \
      -o "$PULUMI_HOME/bin/pulumi-language-nodejs" "$pkg") >"$SWITCHYARD_HOME/build-language-host.log" 2>&1 \
    || step_fail "go build of the nodejs language host failed, see $SWITCHYARD_HOME/build-language-host.log"
  step_done "pulumi-language-nodejs v$host_version in $PULUMI_HOME/bin"
fi

# 5. Provider plugins --------------------------------------------------------
step_start "5 plugins"
if skipped 5 plugins; then step_skip "--skip"
elif ! command -v pulumi >/dev/null; then step_blocked "no pulumi CLI to install plugins with"
else
  have=$(pulumi plugin ls 2>/dev/null || true)
  missing=()
  for spec in docker:github.com/pulumi/pulumi-docker/provider/v4 command:github.com/pulumi/pulumi-command/provider random:github.com/pulumi/pulumi-random/provider/v4; do
    name=${spec%%:*} module=${spec#*:}
    version=$(lock_version "@pulumi/$name") || step_fail "no @pulumi/$name in package-lock.json"
    if grep -Eq "^$name +resource +$version " <<< "$have"; then step_line "plugin $name $version already installed"; continue; fi
    # The normal path: Pulumi's plugin download, as on any machine with internet.
    if out=$(timeout 600 pulumi plugin install resource "$name" "$version" 2>&1); then
      step_line "installed plugin $name $version (pulumi plugin install)"; continue
    fi
    download_error=$(printf '%s' "$out" | grep -v '^\s*$' | tail -n 1 | cut -c1-300)
    # Fallback: build it from its Go module, where the module proxy serves it.
    if ! dir=$(go_mod_dir "$module@v$version"); then
      missing+=("$name $version: \`pulumi plugin install resource $name $version\` failed: $download_error; go mod download $module@v$version: $(printf '%s' "$dir" | tail -n 1 | cut -c1-200)")
      continue
    fi
    bdir="$SWITCHYARD_HOME/build/pulumi-$name-$version/provider"
    rm -rf "$bdir" && mkdir -p "$(dirname "$bdir")" && cp -r "$dir" "$bdir" && chmod -R u+w "$bdir"
    (cd "$bdir" && go build -o "$SWITCHYARD_HOME/build/pulumi-resource-$name" "./cmd/pulumi-resource-$name") >"$SWITCHYARD_HOME/build-$name.log" 2>&1 \
      || { missing+=("$name $version: download failed ($download_error) and go build failed, see $SWITCHYARD_HOME/build-$name.log"); continue; }
    pulumi plugin install resource "$name" "$version" -f "$SWITCHYARD_HOME/build/pulumi-resource-$name" >/dev/null \
      || { missing+=("$name $version: pulumi plugin install -f failed"); continue; }
    step_line "installed plugin $name $version (built from $module)"
  done
  if [ ${#missing[@]} -eq 0 ]; then step_done "docker, command and random plugins installed"
  else
    for m in "${missing[@]}"; do step_line "not installed: $m" >&2; done
    step_line "with a plugin binary at hand, install it from the file: pulumi plugin install resource docker 4.11.2 -f PATH" >&2
    step_blocked "${#missing[@]} of 3 provider plugins could not be installed here; pulumi up and the e2e suite need them"
  fi
fi

# 6. Local images ------------------------------------------------------------
step_start "6 images"
if skipped 6 images; then step_skip "--skip"
elif ! docker info >/dev/null 2>&1; then step_fail "no Docker engine: run this set-up without --skip 1"
else
  "$REPO/setup/images.sh" || step_fail "image build failed (see the lines above)"
  step_done "images ready: $(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^switchyard/' | sort | tr '\n' ' ')"
fi

# 7. State backend -----------------------------------------------------------
step_start "7 backend"
if skipped 7 backend; then step_skip "--skip"
else
  mkdir -p "$SWITCHYARD_STATE_DIR"
  if [ ! -s "$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > "$PULUMI_CONFIG_PASSPHRASE_FILE")
    step_done "file backend $PULUMI_BACKEND_URL; new passphrase in $PULUMI_CONFIG_PASSPHRASE_FILE (mode 600)"
  else
    step_skip "file backend $PULUMI_BACKEND_URL and passphrase file exist"
  fi
fi

# 8. Tools ------------------------------------------------------------------
ACTIONLINT_VERSION=v1.7.10
step_start "8 tools"
if skipped 8 tools; then step_skip "--skip"
elif [ -x "$SWITCHYARD_HOME/bin/actionlint" ] && [ "$("$SWITCHYARD_HOME/bin/actionlint" --version | head -n 1)" = "$ACTIONLINT_VERSION" ]; then
  step_skip "actionlint $ACTIONLINT_VERSION"
else
  (cd "$SWITCHYARD_HOME/build" && GOBIN="$SWITCHYARD_HOME/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION") \
    >"$SWITCHYARD_HOME/build-actionlint.log" 2>&1 || step_fail "go install actionlint failed, see $SWITCHYARD_HOME/build-actionlint.log"
  step_done "actionlint $ACTIONLINT_VERSION in $SWITCHYARD_HOME/bin"
fi
# Pebble, Let's Encrypt's ACME test server, and its DNS stand-in: the ACME e2e
# issues and renews real certificates against them on this machine.
PEBBLE_VERSION=v2.10.3
if ! skipped 8 tools; then
  if [ -x "$SWITCHYARD_HOME/bin/pebble" ] && [ "$(cat "$SWITCHYARD_HOME/bin/.pebble-version" 2>/dev/null)" = "$PEBBLE_VERSION" ]; then
    step_line "pebble $PEBBLE_VERSION"
  else
    (cd "$SWITCHYARD_HOME/build" && CGO_ENABLED=0 GOBIN="$SWITCHYARD_HOME/bin" go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION" "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$PEBBLE_VERSION") \
      >"$SWITCHYARD_HOME/build-pebble.log" 2>&1 || step_fail "go install pebble failed, see $SWITCHYARD_HOME/build-pebble.log"
    echo "$PEBBLE_VERSION" > "$SWITCHYARD_HOME/bin/.pebble-version"
    step_line "pebble $PEBBLE_VERSION and pebble-challtestsrv in $SWITCHYARD_HOME/bin"
  fi
  # The browser the e2e suite drives (playwright-core uses it; it downloads no browser of its own).
  if [ -x /usr/bin/chromium ]; then step_line "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
  elif [ -x /usr/bin/google-chrome ]; then step_line "chromium: not installed; the browser tests use $(/usr/bin/google-chrome --version 2>/dev/null | head -n 1)"
  else apt_install chromium && step_line "chromium: installed ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"; fi
fi
# The TLS tests make their certificates with the openssl CLI.
if ! skipped 8 tools; then
  if command -v openssl >/dev/null; then step_line "openssl: $(openssl version | cut -d' ' -f1-2)"
  else apt_install openssl && step_line "openssl: installed ($(openssl version | cut -d' ' -f1-2))"; fi
  # The ssh:// host e2e test reaches a second engine through an sshd on 127.0.0.1 (test/e2e/engines.ts).
  if [ -x /usr/sbin/sshd ]; then step_line "sshd: $(/usr/sbin/sshd -V 2>&1 | head -n 1)"
  else
    # Installed, never started as a service: policy-rc.d tells the package's scripts not to.
    own_policy=0
    [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1; }
    apt_install openssh-server openssh-client
    [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    step_line "sshd: installed (openssh-server; no service started)"
  fi
fi

echo
echo "setup finished in $(_secs "$SETUP_T0")s:"
for line in "${SETUP_SUMMARY[@]}"; do echo "  - $line"; done
if [ "$SETUP_BLOCKED" = 1 ]; then
  echo "setup: some steps are blocked on this machine (above); the release-step and unit tests run, pulumi up cannot." >&2
  exit 3
fi
