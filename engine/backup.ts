// backup: a consistent logical dump of the shared database before the switch
// (and before the expand migration), in a one-off container on the backend
// network (as root in that container only: the store's files belong to root).
// pg_dump's custom format from one snapshot, checked readable with
// pg_restore --list, written under a temporary name and renamed, with a JSON
// record of its size and sha256 next to it. The newest BACKUPS_KEEP dumps of
// this stack are kept, never counting out the one just taken. A failed or
// empty dump fails the step, so nothing switches. A switch to a release that
// went live on this database before (image id, reference, plain variables),
// with no migration to run, takes no dump (engine/history-rules.ts backupSkip).
//
// env: SWITCHYARD_PROXY, SWITCHYARD_STACK, SWITCHYARD_COLOR, BACKEND_NETWORK
//      (the network the dump container joins), BACKUP_STORE (a volume name or
//      an absolute host directory), BACKUPS_KEEP, PGUSER, PGDATABASE,
//      PGPASSWORD (secret: it reaches the container through the environment
//      only, by name), and either POSTGRES_CONTAINER (Switchyard's own
//      Postgres) or, for a managed one, PGHOST, PGPORT, PGSSLMODE (optional)
//      and PG_IMAGE (whose pg_dump runs); optional TARGET_CONTAINER_IDS (the
//      release key's: the target's containers, whose release is read) and
//      MIGRATION_FINGERPRINT (the expand migration that would run)
import { EXPAND_MIGRATED, RESTORE_LOCK, ROUTE_MARKER, WENT_LIVE } from "../lib/routemarker";
import { imageOf, Proxy, routeOf, trimmed } from "./docker";
import { colourRelease, historyOf, keyContainerIds } from "./history";
import { backupSkip } from "./history-rules";
import { Step } from "./step";

/**
 * Runs in the Postgres image (sh, pg_dump, coreutils: nothing of ours), in the
 * store mounted at /backups. Arguments: name prefix keep from to stack. Exit 3:
 * the dump failed; 4: the store is writable by everyone.
 */
const DUMP = `
  set -eu
  # Dumps hold every row: readable by root alone (files 0600, directory 0700).
  umask 077
  # A directory anyone may write to (/tmp, a 1777 share) is not made private:
  # its mode is the system's, and whoever else can write there can replace a dump.
  case $(stat -c %a /backups) in
    *[2367]) echo "the backups directory is writable by everyone (mode $(stat -c %a /backups)): give backups.hostDir a directory of its own"; exit 4 ;;
  esac
  chmod 700 /backups
  cd /backups
  name=$1 prefix=$2 keep=$3 from=$4 to=$5 stack=$6
  # This stack's dumps only: its prefix, then the timestamp ("local--*" alone
  # would also match the dumps of a stack named "local--2"), and a record that
  # names this stack: the prefix is not enough, "a_b/c" and "a/b_c" share a_b_c.
  mine() {
    ls -1 -- "$prefix"--*.dump 2>/dev/null | grep -E "^$(printf "%s" "$prefix" | sed "s/[.]/[.]/g")--[0-9]{8}T[0-9]{9}Z--" |
      while read -r f; do grep -qF -- "$own" "\${f%.dump}.json" 2>/dev/null && echo "$f"; done || true
  }
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
  # JSON strings: a managed database may be named with a " or a \\ (percent-encoded in its URL).
  j() { printf "%s" "$1" | tr -d "\\000-\\037" | sed -e "s/[\\\\\\\\]/\\\\\\\\\\\\\\\\/g" -e "s/\\"/\\\\\\\\\\"/g"; }
  printf "{\\"name\\":\\"%s\\",\\"stack\\":\\"%s\\",\\"time\\":\\"%s\\",\\"fromImage\\":\\"%s\\",\\"toImage\\":\\"%s\\",\\"database\\":\\"%s\\",\\"sizeBytes\\":%s,\\"sha256\\":\\"%s\\",\\"tables\\":%s,\\"dumpMs\\":%s}\\n" \\
    "$(j "$name")" "$(j "$stack")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(j "$from")" "$(j "$to")" "$(j "$PGDATABASE")" "$size" "$sum" "$tables" "$ms" > ".$name.json"
  mv -f ".$name.json" "$name.json"
  own="\\"stack\\":\\"$(j "$stack")\\","
  echo "wrote $name.dump: $size bytes, $tables table(s) with data, sha256 $sum, in \${ms} ms"
  # Retention: the newest $keep of this stack stay; names sort by time.
  mine | sort | head -n "-$keep" | while read -r old; do
    [ "$old" = "$name.dump" ] && continue
    rm -f -- "$old" "\${old%.dump}.json"
    echo "removed $old (keeping the newest $keep)"
  done
  echo "backups of this stack now: $(mine | wc -l)"
`;

/** A name part safe in a file name: every byte outside [A-Za-z0-9._-] becomes "_". */
export function safeName(s: string): string {
    return [...Buffer.from(s, "utf8")].map((b) => (/[A-Za-z0-9._-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : "_")).join("");
}

/** The dump's name: the stack, the time (UTC, to the millisecond), and the images it goes from and to. */
export function dumpName(stack: string, at: Date, from: string, to: string): string {
    const t = at.toISOString().replace(/[-:]/g, "").replace(".", "");
    return `${safeName(stack)}--${t}--${safeName(from)}--to--${safeName(to)}`;
}

async function backup(step: Step): Promise<void> {
    const env = step.require("SWITCHYARD_PROXY", "SWITCHYARD_STACK", "SWITCHYARD_COLOR", "BACKEND_NETWORK", "BACKUP_STORE", "BACKUPS_KEEP", "PGUSER", "PGDATABASE", "PGPASSWORD");
    if (!/^[1-9][0-9]*$/.test(env.BACKUPS_KEEP)) step.fail(`BACKUPS_KEEP '${env.BACKUPS_KEEP}' must be a whole number >= 1`);
    let pgImage: string;
    let server: string[];
    const own = step.env.POSTGRES_CONTAINER;
    if (own) {
        await step.waitRunning(own, 60);
        const r = await step.docker.inspect([own]).catch((e: Error) => e);
        const image = r instanceof Error ? undefined : r.found[0]?.Image;
        if (!image) step.fail(`cannot read the image of ${own}${r instanceof Error ? `: ${r.message}` : ""}`);
        pgImage = image;
        server = ["-e", "PGHOST=postgres"];
    } else {
        pgImage = step.require("PGHOST", "PGPORT", "PG_IMAGE").PG_IMAGE;
        // Names only: docker reads the values from this environment, so no address or mode is parsed by a shell.
        server = ["-e", "PGHOST", "-e", "PGPORT", "-e", "PGSSLMODE"];
    }
    const proxy = new Proxy(step.docker, env.SWITCHYARD_PROXY);
    // The restore lock, the records and the route in one exec, beside the target's release.
    const [states, target] = await Promise.all([
        proxy.readStates([RESTORE_LOCK, WENT_LIVE, EXPAND_MIGRATED, ROUTE_MARKER]),
        colourRelease(step.docker, env.SWITCHYARD_STACK, env.SWITCHYARD_COLOR, keyContainerIds(step.env.TARGET_CONTAINER_IDS)),
    ]);
    const restoring = states.get(RESTORE_LOCK);
    if (restoring) step.refuseRestoring(restoring);
    const skip = backupSkip({ target, ...historyOf(states), fingerprint: step.env.MIGRATION_FINGERPRINT || undefined });
    if (skip) {
        step.say(skip);
        return;
    }
    const from = (await imageOf(step.docker, env.SWITCHYARD_STACK, routeOf(states))) || "none";
    const to = (await imageOf(step.docker, env.SWITCHYARD_STACK, env.SWITCHYARD_COLOR)) || "none";
    const name = dumpName(env.SWITCHYARD_STACK, new Date(), from, to);
    const job = `${env.SWITCHYARD_PROXY.replace(/-proxy$/, "")}-backup`;
    step.say(`dumping database ${env.PGDATABASE} before ${env.SWITCHYARD_COLOR} goes live (${from} -> ${to}) into ${env.BACKUP_STORE} as ${name}.dump`);

    await step.docker.run(["rm", "-f", job]);
    const r = await step.docker.run([
        "run", "--rm", "--name", job, "--network", env.BACKEND_NETWORK,
        "--label", `switchyard.stack=${env.SWITCHYARD_STACK}`, "--label", "switchyard.role=job",
        "-e", "PGUSER", "-e", "PGDATABASE", "-e", "PGPASSWORD", ...server, "-e", "PGCONNECT_TIMEOUT=10",
        "-v", `${env.BACKUP_STORE}:/backups`, "--user", "0:0", "--entrypoint", "sh", pgImage,
        "-c", DUMP, "sh", name, safeName(env.SWITCHYARD_STACK), env.BACKUPS_KEEP, from, to, env.SWITCHYARD_STACK,
    ]);
    const out = trimmed(`${r.stdout}${r.stderr}`);
    if (r.status !== 0) {
        const last = out.split("\n").slice(-8).join(" ").replace(/ *$/, "");
        step.fail(`backup failed: ${last} — nothing was switched; live traffic stays where it was`);
    }
    for (const line of out.split("\n")) step.say(line);
}

if (require.main === module) void Step.run("backup", backup);
