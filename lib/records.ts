// The record files' keeper's loop (components/records.ts), apart from the
// component so the script tests run the very text the container runs.

/**
 * Makes DIR ($1) the workers' ($2) with group root, mode 770, then every $4
 * seconds removes the record files untouched for more than $3 minutes. The
 * bake reads every 2 s, so a file untouched for minutes was read long ago; an
 * idle proxy's newest file goes too, and nginx opens a new one (its log file
 * cache checks the name every minute). The mode first: once the workers own
 * the directory, root without FOWNER may not change it.
 */
export const KEEP_RECORDS = `d="$1"; uid="$2"
mkdir -p "$d" || exit 1
if [ "$(stat -c '%u %g %a' "$d")" != "$uid 0 770" ]; then
  if [ "$(stat -c %u "$d")" = 0 ]; then chmod 770 "$d" || exit 1; fi
  chown "$uid:0" "$d" || exit 1
fi
echo "keeping the record files in $d: each removed $3 minutes after its last record"
trap 'exit 0' TERM INT
while :; do
  find "$d" -maxdepth 1 -name 'access-*.log' -mmin +"$3" -delete
  sleep "$4" & wait $!
done`;

/** Minutes a record file stays after its last record. */
export const KEEP_MINUTES = 2;
