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
if hosts_list=$(pulumi_stack config get switchyard:hosts 2>/dev/null) && [ -n "$hosts_list" ]; then
  configured_host=$(node -e 'console.log(JSON.parse(process.argv[1])[0].dockerHost)' "$hosts_list") \
    || die "switchyard:hosts is not a list of hosts: run pulumi preview to see the config error"
  export DOCKER_HOST="$configured_host"
elif configured_host=$(pulumi_stack config get docker:host 2>/dev/null) && [ -n "$configured_host" ]; then
  export DOCKER_HOST="$configured_host"
fi
unset hosts_list
unset configured_host
