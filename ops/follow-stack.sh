# Sourced by the bash ops commands after STACK, REPO and pulumi_stack are set:
# the stack's Docker names and Docker host, resolved as the program resolves
# them (ops/cli.ts followStack does the same for the TypeScript ones).
#   PROJECT   the project name in Pulumi.yaml (pulumi.getProject())
#   LABEL     the switchyard.stack label: PROJECT/STACK
#   PROXY     the proxy container: PROJECT-STACK-proxy
#   DOCKER_HOST  exported: the first of the stack's switchyard:hosts (the
#                canary), else its docker:host when set, else as before; the
#                bash ops touch no data service (recover reads every host)
PROJECT=$(node -e 'console.log(require("yaml").parse(require("fs").readFileSync(process.argv[1], "utf8")).name)' "$REPO/Pulumi.yaml") \
  || die "cannot read the project name from $REPO/Pulumi.yaml"
[[ "$PROJECT" =~ ^[A-Za-z0-9_.-]+$ ]] || die "project name '$PROJECT' in Pulumi.yaml is not a name Switchyard can use (letters, digits, . _ -)"
LABEL="$PROJECT/$STACK"
PROXY="$PROJECT-$STACK-proxy"
# One CLI call for both keys: recover waits on a killed update's steps right after this.
stack_config=$(pulumi_stack config --json 2>/dev/null) || stack_config='{}'
configured_host=$(node -e '
  const c = JSON.parse(process.argv[1] || "{}");
  const hosts = c["switchyard:hosts"];
  if (hosts) { const h = (hosts.objectValue ?? JSON.parse(hosts.value))[0]; console.log(`${h.dockerHost}\t${h.name}`); }
  else if (c["docker:host"] && c["docker:host"].value) console.log(c["docker:host"].value);' "$stack_config") \
  || die "switchyard:hosts is not a list of hosts: run pulumi preview to see the config error"

# use_docker_host HOST [NAME]: every docker call after this goes to HOST; a
# tcp:// host (hosts[].name NAME) gets its client TLS material written from
# hostsTls first, through stdin (lib/dockertls.ts), never on a command line.
use_docker_host() {
  export DOCKER_HOST="$1"
  # docker:host or DOCKER_HOST: the caller's own TLS environment (if any) stands.
  [ -n "${2:-}" ] || return 0
  unset DOCKER_CERT_PATH DOCKER_TLS_VERIFY
  [[ "$1" == tcp://* ]] || return 0
  local dir
  dir=$(pulumi_stack config get switchyard:hostsTls 2>/dev/null \
    | node -e 'const all = JSON.parse(require("fs").readFileSync(0, "utf8")); if (!all[process.argv[1]]) process.exit(3); process.stdout.write(JSON.stringify(all[process.argv[1]]));' "$2" \
    | (cd "$REPO" && node -r ts-node/register/transpile-only lib/dockertls.ts write "$PROJECT-$STACK/$2")) \
    || die "host $2 ($1) is a TCP engine and switchyard:hostsTls has no usable material for it: run pulumi preview to see the config error"
  export DOCKER_CERT_PATH="$dir" DOCKER_TLS_VERIFY=1
}
if [ -n "$configured_host" ]; then
  IFS=$'\t' read -r first_host first_name <<< "$configured_host"
  use_docker_host "$first_host" "$first_name"
fi
unset stack_config configured_host first_host first_name
