#!/usr/bin/env bash
# backup: a consistent logical dump of the shared database before the switch
# (and before the expand migration), in a one-off container on the backend
# network (as root in that container only: the store's files belong to root).
# pg_dump's custom format from one snapshot, checked readable with
# pg_restore --list, written under a temporary name and renamed, with a JSON
# record of its size and sha256 next to it. The newest BACKUPS_KEEP dumps of
# this stack are kept, never counting out the one just taken. A failed or
# empty dump fails the step, so nothing switches.
#
# env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, BACKEND_NETWORK
#      (the network the dump container joins), BACKUP_STORE (a volume name or
#      an absolute host directory), BACKUPS_KEEP, PGUSER, PGDATABASE,
#      PGPASSWORD (secret: it reaches the container through the environment
#      only), and either POSTGRES_CONTAINER (Switchyard's own Postgres) or, for
#      a managed one, PGHOST, PGPORT, PGSSLMODE (optional) and PG_IMAGE (whose
#      pg_dump runs)
source "$(dirname "$0")/lib.sh"
require SWITCHYARD_PROXY SWITCHYARD_STACK SWITCHYARD_COLOR BACKEND_NETWORK BACKUP_STORE BACKUPS_KEEP PGUSER PGDATABASE PGPASSWORD
[[ "$BACKUPS_KEEP" =~ ^[1-9][0-9]*$ ]] || die "BACKUPS_KEEP '$BACKUPS_KEEP' must be a whole number >= 1"

if [ -n "${POSTGRES_CONTAINER:-}" ]; then
  wait_running "$POSTGRES_CONTAINER" 60
  pg_image=$(docker inspect -f '{{.Image}}' "$POSTGRES_CONTAINER") || die "cannot read the image of $POSTGRES_CONTAINER"
  server=(-e PGHOST=postgres)
else
  require PGHOST PGPORT PG_IMAGE
  pg_image=$PG_IMAGE
  # Names only: docker reads the values from this environment, so no address or mode is parsed by a shell.
  server=(-e PGHOST -e PGPORT -e PGSSLMODE)
fi
safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }
from=$(image_of "$(current_route)")
from=${from:-none}
to=$(image_of "$SWITCHYARD_COLOR")
to=${to:-none}
prefix="$(safe "$SWITCHYARD_STACK")"
name="${prefix}--$(date -u +%Y%m%dT%H%M%S%3NZ)--$(safe "$from")--to--$(safe "$to")"
job="${SWITCHYARD_PROXY%-proxy}-backup"
say "dumping database $PGDATABASE before $SWITCHYARD_COLOR goes live ($from -> $to) into $BACKUP_STORE as $name.dump"

docker rm -f "$job" >/dev/null 2>&1 || true
out=$(docker run --rm --name "$job" --network "$BACKEND_NETWORK" \
  --label "switchyard.stack=$SWITCHYARD_STACK" --label switchyard.role=job \
  -e PGUSER -e PGDATABASE -e PGPASSWORD "${server[@]}" -e PGCONNECT_TIMEOUT=10 \
  -v "$BACKUP_STORE:/backups" --user 0:0 --entrypoint sh "$pg_image" -c '
  set -eu
  # Dumps hold every row: readable by root alone (files 0600, directory 0700).
  umask 077
  # A directory anyone may write to (/tmp, a 1777 share) is not made private:
  # its mode is the system'"'"'s, and whoever else can write there can replace a dump.
  case $(stat -c %a /backups) in
    *[2367]) echo "the backups directory is writable by everyone (mode $(stat -c %a /backups)): give backups.hostDir a directory of its own"; exit 4 ;;
  esac
  chmod 700 /backups
  cd /backups
  name=$1 prefix=$2 keep=$3 from=$4 to=$5 stack=$6
  # This stack'"'"'s dumps only: its prefix, then the timestamp. "local--*"
  # alone would also match the dumps of a stack named "local--2".
  mine() { ls -1 -- "$prefix"--*.dump 2>/dev/null | grep -E "^$(printf "%s" "$prefix" | sed "s/[.]/[.]/g")--[0-9]{8}T[0-9]{9}Z--" || true; }
  t0=$(date +%s%N)
  trap "rm -f .$name.partial" EXIT
  pg_dump --format=custom --file=".$name.partial" || { echo "pg_dump failed (exit $?)"; exit 3; }
  size=$(stat -c %s ".$name.partial")
  [ "$size" -gt 0 ] || { echo "pg_dump wrote an empty file"; exit 3; }
  pg_restore --list ".$name.partial" > /dev/null || { echo "the dump is not a readable archive"; exit 3; }
  tables=$(pg_restore --list ".$name.partial" | grep -c " TABLE DATA " || true)
  sum=$(sha256sum ".$name.partial" | cut -d" " -f1)
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  mv -f ".$name.partial" "$name.dump"
  # JSON strings: a managed database may be named with a " or a \ (percent-encoded in its URL).
  j() { printf "%s" "$1" | tr -d "\000-\037" | sed -e "s/[\\\\]/\\\\\\\\/g" -e "s/\"/\\\\\"/g"; }
  printf "{\"name\":\"%s\",\"stack\":\"%s\",\"time\":\"%s\",\"fromImage\":\"%s\",\"toImage\":\"%s\",\"database\":\"%s\",\"sizeBytes\":%s,\"sha256\":\"%s\",\"tables\":%s,\"dumpMs\":%s}\n" \
    "$(j "$name")" "$(j "$stack")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(j "$from")" "$(j "$to")" "$(j "$PGDATABASE")" "$size" "$sum" "$tables" "$ms" > ".$name.json"
  mv -f ".$name.json" "$name.json"
  echo "wrote $name.dump: $size bytes, $tables table(s) with data, sha256 $sum, in ${ms} ms"
  # Retention: the newest $keep of this stack stay; names sort by time.
  mine | sort | head -n "-$keep" | while read -r old; do
    [ "$old" = "$name.dump" ] && continue
    rm -f -- "$old" "${old%.dump}.json"
    echo "removed $old (keeping the newest $keep)"
  done
  echo "backups of this stack now: $(mine | wc -l)"
' sh "$name" "$prefix" "$BACKUPS_KEEP" "$from" "$to" "$SWITCHYARD_STACK" 2>&1) || {
  die "backup failed: $(printf '%s' "$out" | tail -n 8 | tr '\n' ' ' | sed 's/ *$//') — nothing was switched; live traffic stays where it was"
}
while IFS= read -r line; do say "$line"; done <<< "$out"
