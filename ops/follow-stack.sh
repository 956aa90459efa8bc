# Sourced by the bash ops commands after STACK, REPO and pulumi_stack are set:
# the stack's Docker names and Docker host, resolved as the program resolves
# them (ops/cli.ts followStack does the same for the TypeScript ones).
#   PROJECT   the project name in Pulumi.yaml (pulumi.getProject())
#   LABEL     the switchyard.stack label: PROJECT/STACK
#   PROXY     the proxy container: PROJECT-STACK-proxy
#   DOCKER_HOST  exported: the first of the stack's switchyard:hosts (where the
#                data services, the backups and the canary are), else its
#                docker:host when set, else as before
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
  if (hosts) console.log((hosts.objectValue ?? JSON.parse(hosts.value))[0].dockerHost);
  else if (c["docker:host"] && c["docker:host"].value) console.log(c["docker:host"].value);' "$stack_config") \
  || die "switchyard:hosts is not a list of hosts: run pulumi preview to see the config error"
[ -n "$configured_host" ] && export DOCKER_HOST="$configured_host"
unset stack_config
unset configured_host
