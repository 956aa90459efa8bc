// One restore at a time, and none under a running update. A restore replaces
// the database under maintenance: a second restore finishing first would turn
// maintenance off with the first still loading, and an update's migration or
// switch under it would be wiped by pg_restore --clean or would serve the old
// schema to new code. So restore holds a lock in every host's proxy state (the
// program's up and the dump, migration and re-point steps refuse while it is
// there), and, once it holds it, refuses when the stack's Pulumi lock shows an
// update (either side checks after it has taken its own lock, so one of the two
// always sees the other).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RESTORE_LOCK, STATE_DIR } from "../lib/routemarker";

/** What the lock says: who runs the restore and since when (one line). */
export function holderText(now = new Date()): string {
    return `npm run restore by ${os.userInfo().username}@${os.hostname()} (pid ${process.pid}) since ${now.toISOString()}`;
}

type Exec = (...cmd: string[]) => { status: number | null; stdout: string };

export interface LockedProxy {
    on: string;
    exec: Exec;
}

/** Creates the lock only when there is none (noclobber: O_EXCL), in one shell: $1 the state dir, $2 the lock, $3 the text. */
const TAKE = 'set -C; mkdir -p "$1" && printf "%s" "$3" > "$1/$2"';

/** Takes the lock on every proxy, or none: a lock already there is another restore's, named in the error. */
export function takeRestoreLocks(proxies: LockedProxy[], stack: string, text = holderText()): LockedProxy[] {
    const taken: LockedProxy[] = [];
    for (const p of proxies) {
        if (p.exec("sh", "-c", TAKE, "sh", STATE_DIR, RESTORE_LOCK, text).status === 0) {
            taken.push(p);
            continue;
        }
        releaseRestoreLocks(taken);
        const holder = p.exec("cat", `${STATE_DIR}/${RESTORE_LOCK}`).stdout.trim();
        throw new Error(
            `another restore of stack ${stack} is running${p.on} (${holder || "its lock is there"}); nothing was changed. ` +
                `If that restore died, check the database, then remove its lock: npm run restore -- --stack ${stack} --unlock`,
        );
    }
    return taken;
}

export function releaseRestoreLocks(proxies: LockedProxy[]): void {
    for (const p of proxies) p.exec("rm", "-f", `${STATE_DIR}/${RESTORE_LOCK}`);
}

/**
 * The update holding the stack's Pulumi lock, when the backend is a local
 * file backend (its locks are files naming pid, host and time); undefined when
 * there is none. Another backend's lock is not visible here: then the program
 * and the steps, which see the restore's own lock, are the guard.
 */
export function runningUpdate(backendUrl: string | undefined, project: string, stack: string): string | undefined {
    if (!backendUrl?.startsWith("file://")) return undefined;
    const dir = path.join(backendUrl.slice("file://".length).replace(/\?.*$/, ""), ".pulumi", "locks", "organization", project, stack);
    const locks = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
    if (!locks.length) return undefined;
    try {
        const l = JSON.parse(fs.readFileSync(path.join(dir, locks[0]), "utf8")) as { pid?: number; hostname?: string; timestamp?: string };
        return `pid ${l.pid ?? "?"} on ${l.hostname ?? "?"}${l.timestamp ? ` since ${l.timestamp}` : ""}`;
    } catch {
        return `lock file ${locks[0]}`;
    }
}
