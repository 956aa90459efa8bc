#!/usr/bin/env bash
# migrate: run the app's own migration command once, in a one-off container
# from the NEW image on the backend network, with DATABASE_URL from the
# environment. The command is in exec form (MIGRATION_COMMAND is a JSON list):
# its arguments go to the image's own entrypoint, no shell involved, so an
# image without sh (distroless, FROM scratch) migrates too. PHASE expand runs after the gate and the backup, before the
# re-point: old code still serves, so it must only add (backward-compatible).
# PHASE contract runs after retire, and is deferred (not run, not failed)
# while any container of the other colour still runs (old code would break). Output streams with a
# prefix; a non-zero exit or a timeout fails the step with the output's tail,
# and nothing is switched.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, PHASE (expand |
#      contract), MIGRATION_COMMAND (JSON list), MIGRATION_IMAGE, BACKEND_NETWORK,
#      MIGRATION_TIMEOUT, DATABASE_URL (secret)
SWITCHYARD_STEP="migrate ${PHASE:-?}"
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_STACK SWITCHYARD_COLOR PHASE MIGRATION_COMMAND MIGRATION_IMAGE BACKEND_NETWORK MIGRATION_TIMEOUT DATABASE_URL
case "$PHASE" in expand|contract) ;; *) die "PHASE '$PHASE' is not a migration phase (allowed: expand, contract)" ;; esac
case "$SWITCHYARD_COLOR" in blue) old=green ;; green) old=blue ;; *) die "SWITCHYARD_COLOR '$SWITCHYARD_COLOR' is not a colour (allowed: blue, green)" ;; esac
mapfile -t migration_args < <(node -e '
  let a; try { a = JSON.parse(process.argv[1]); } catch { process.exit(1); }
  if (!Array.isArray(a) || a.length === 0 || a.some((x) => typeof x !== "string" || x === "" || /[\0\n]/.test(x))) process.exit(1);
  for (const x of a) console.log(x);
' "$MIGRATION_COMMAND") && [ "${#migration_args[@]}" -gt 0 ] \
  || die "MIGRATION_COMMAND '$MIGRATION_COMMAND' is not a JSON list of arguments (such as [\"node\",\"migrate.js\"])"
shown="${migration_args[*]}"

if [ "$PHASE" = contract ]; then
  # Old code still running is not a failure of this release (say, contractCommand
  # was just added while a staged colour runs): the contract waits for the next
  # release that retires the other colour, and never runs under old code.
  mapfile -t still < <(slot_containers "$old")
  if [ "${#still[@]}" -gt 0 ]; then
    say "contract deferred: $old still runs ${#still[@]} container(s) (${still[*]}), whose code the contract could break; it runs with the next release that retires $old"
    exit 0
  fi
fi

job="${SWITCHYARD_PROXY%-proxy}-migrate-$PHASE"
tail_file=$(mktemp)
cleanup() { docker rm -f "$job" >/dev/null 2>&1 || true; rm -f "$tail_file"; }
trap cleanup EXIT
docker rm -f "$job" >/dev/null 2>&1 || true
say "running the $PHASE migration in a one-off container from $MIGRATION_IMAGE: $shown"
# "--" ends docker's options: nothing in the image or the command reads as one.
docker create --name "$job" --network "$BACKEND_NETWORK" \
  --label "switchyard.stack=$SWITCHYARD_STACK" --label switchyard.role=job \
  -e DATABASE_URL -e SWITCHYARD_MIGRATION_PHASE="$PHASE" \
  -- "$MIGRATION_IMAGE" "${migration_args[@]}" >/dev/null || die "could not create the migration container from $MIGRATION_IMAGE"
docker start "$job" >/dev/null || die "could not start the migration container"
# The output as it comes, one prefixed line each; the tail is kept for the error.
docker logs -f "$job" 2>&1 | while IFS= read -r line; do
  printf '[migrate %s] | %s\n' "$PHASE" "$line"
  printf '%s\n' "$line" >> "$tail_file"
done &
logs=$!
if ! code=$(timeout "$MIGRATION_TIMEOUT" docker wait "$job"); then
  docker kill "$job" >/dev/null 2>&1 || true
  wait "$logs" || true
  die "the $PHASE migration did not finish within ${MIGRATION_TIMEOUT}s and was stopped; live traffic stays on $(current_route). Last lines: $(tail -n 15 "$tail_file" | tr '\n' ' ')"
fi
wait "$logs" || true
if [ "$code" != 0 ]; then
  if [ "$PHASE" = expand ]; then
    where="nothing was switched: live traffic stays on $(current_route), and the idle slot $SWITCHYARD_COLOR keeps running for inspection"
  else
    where="the release itself is done ($SWITCHYARD_COLOR is live); fix the contract migration and run pulumi up again"
  fi
  die "the $PHASE migration ($shown) exited $code; $where. Last lines of its output:
$(tail -n 15 "$tail_file" | sed 's/^/  | /')"
fi
say "the $PHASE migration finished (exit 0)"
