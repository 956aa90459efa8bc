# Sourced by the bash ops commands after STACK, REPO and pulumi_stack are set:
# the stack's Docker names and Docker host, resolved as the program resolves
# them (ops/cli.ts followStack does the same for the TypeScript ones).
#   PROJECT   the project name in Pulumi.yaml (pulumi.getProject())
#   LABEL     the switchyard.stack label: PROJECT/STACK
#   PROXY     the proxy container: PROJECT-STACK-proxy
#   DOCKER_HOST  exported: the stack's docker:host when set, else as before
PROJECT=$(node -e 'console.log(require("yaml").parse(require("fs").readFileSync(process.argv[1], "utf8")).name)' "$REPO/Pulumi.yaml") \
  || die "cannot read the project name from $REPO/Pulumi.yaml"
[[ "$PROJECT" =~ ^[A-Za-z0-9_.-]+$ ]] || die "project name '$PROJECT' in Pulumi.yaml is not a name Switchyard can use (letters, digits, . _ -)"
LABEL="$PROJECT/$STACK"
PROXY="$PROJECT-$STACK-proxy"
if configured_host=$(pulumi_stack config get docker:host 2>/dev/null) && [ -n "$configured_host" ]; then
  export DOCKER_HOST="$configured_host"
fi
unset configured_host
