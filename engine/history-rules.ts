// What this stack's database has already seen, as pure functions: a rollback
// is not a release. Switching to an image that went live here before takes no
// dump, and an expand migration that finished here for that image does not
// run again (by contract the newer release's expand is compatible with the
// older code, so the schema the older image needs is there). A release to a
// new image, or a migration that changed, still takes its dump and runs, as
// always. The records live in the proxy's state (engine/history.ts); a restore
// removes them, since the database goes back to a point they know nothing of.
// Tested in milliseconds in test/unit/history-rules.test.ts.
import { createHash } from "crypto";

/** How many lines each record keeps: enough for every release a rollback can go back to. */
export const HISTORY_KEEP = 50;

/** The record's lines, oldest first; blank lines dropped. */
export function historyLines(content: string): string[] {
    return content.split("\n").map((l) => l.trim()).filter(Boolean);
}

/** The record with `line` as its newest entry (once), keeping the newest `keep`. */
export function withLine(content: string, line: string, keep = HISTORY_KEEP): string {
    const lines = historyLines(content).filter((l) => l !== line);
    lines.push(line);
    return `${lines.slice(-keep).join("\n")}\n`;
}

/** The expand-migrated line of an image id and a migration fingerprint. */
export function migratedLine(imageId: string, fingerprint: string): string {
    return `${imageId} ${fingerprint}`;
}

/** What a colour runs: its image id and its release (as went-live records it). */
export interface ColourRelease {
    imageId: string;
    release: string;
}

/**
 * A colour's release as went-live records it: the image id, the reference the
 * config names (a new tag is a new release, even of the same build: that is
 * how the operator released it), and a digest of its plain variables (the
 * switchyard.env label) when it has any, so the same image with other
 * settings is another release. Secret values are not in it.
 */
export function releaseOf(imageId: string, ref: string, envLabel: string): ColourRelease {
    if (!imageId || !ref || /\s/.test(ref)) return { imageId: "", release: "" };
    const env = envLabel ? ` env-${createHash("sha256").update(envLabel).digest("hex").slice(0, 16)}` : "";
    return { imageId, release: `${imageId} ${ref}${env}` };
}

export interface BackupFacts {
    /** What the target colour's containers run (empty when none is known). */
    target: ColourRelease;
    /** went-live's lines. */
    wentLive: string[];
    /** expand-migrated's lines. */
    migrated: string[];
    /** The expand migration's fingerprint (MIGRATION_FINGERPRINT); undefined when the stack has none. */
    fingerprint?: string;
}

/**
 * Why the dump before a switch can be skipped, or undefined when it is taken:
 * the target release (image and plain variables) went live on this database
 * before, and no migration would run for it (none configured, or its expand
 * already finished here for that image).
 */
export function backupSkip(f: BackupFacts): string | undefined {
    const { imageId, release } = f.target;
    if (!release || !f.wentLive.includes(release)) return undefined;
    if (f.fingerprint && !f.migrated.includes(migratedLine(imageId, f.fingerprint))) return undefined;
    const why = f.fingerprint ? "and its expand migration finished here then" : "and no migration runs";
    const ref = release.split(" ")[1];
    return `no dump: ${ref} (${shortId(imageId)})${/ env-/.test(release) ? " with these variables" : ""} went live on this database before ${why} (a rollback is not a release)`;
}

/** Why the expand migration can be skipped, or undefined when it runs. */
export function expandSkip(imageId: string, fingerprint: string, migrated: string[]): string | undefined {
    if (!imageId || !migrated.includes(migratedLine(imageId, fingerprint))) return undefined;
    return `expand migration skipped: it finished on this database for ${shortId(imageId)} with this command before (a rollback is not a release)`;
}

/** "sha256:0123456789ab" for an image id, the id as it is otherwise. */
export function shortId(id: string): string {
    return /^sha256:[0-9a-f]{12,}$/.test(id) ? id.slice(0, 19) : id;
}

/** One replica as the gate reads it: its container id and docker's StartedAt. */
export interface Replica {
    id: string;
    startedAt: string;
}

/**
 * Whether the colour is warm: every replica passed the gate and has run since,
 * the same container started at the same time (a restart changes StartedAt,
 * a re-created replica its id). A warm colour is re-checked with one probe per
 * replica, not a new streak; anything else earns the whole streak again.
 */
export function isWarm(record: string, now: Replica[]): boolean {
    if (now.length === 0 || now.some((r) => !r.id || !r.startedAt)) return false;
    const passed = new Set(historyLines(record));
    return now.every((r) => passed.has(`${r.id} ${r.startedAt}`));
}
