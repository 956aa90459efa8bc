# Source this for the Switchyard toolchain: the Pulumi CLI and language host
# built by `npm run setup`, a local file backend and a passphrase file. Values
# already set in your environment win, so a real backend works unchanged:
#   PULUMI_BACKEND_URL=s3://bucket/switchyard (or `pulumi login`), and
#   PULUMI_CONFIG_PASSPHRASE / PULUMI_CONFIG_PASSPHRASE_FILE of your own.
export SWITCHYARD_HOME="${SWITCHYARD_HOME:-$HOME/.switchyard}"
export PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}"
export SWITCHYARD_STATE_DIR="${SWITCHYARD_STATE_DIR:-$SWITCHYARD_HOME/state}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$SWITCHYARD_STATE_DIR}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE_FILE="${PULUMI_CONFIG_PASSPHRASE_FILE:-$SWITCHYARD_HOME/passphrase}"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
# Switchyard's program runs compiled (program.js); a TypeScript program (the
# package e2e's, the policy pack) has its types checked by npm test, so it is
# compiled without a check on every update.
export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
case ":$PATH:" in *":$PULUMI_HOME/bin:"*) ;; *) export PATH="$PULUMI_HOME/bin:$PATH" ;; esac
case ":$PATH:" in *":$SWITCHYARD_HOME/bin:"*) ;; *) export PATH="$SWITCHYARD_HOME/bin:$PATH" ;; esac
mkdir -p "$SWITCHYARD_HOME"
