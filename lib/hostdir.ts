// Where a stack may keep its dumps on the host (backups.hostDir). The dump
// container runs as root and makes the directory 0700, so a system directory
// would lose its mode (/tmp its sticky bit and world-write), and a directory
// anyone may create (under /tmp) could be made in advance by another user,
// who would then own the dumps. Both are refused before anything runs.

/** Directories that are the system's: never a stack's dump directory. */
const SYSTEM_DIRS = new Set([
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt",
    "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
    "/var/backups", "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run", "/var/spool", "/var/tmp",
    "/var/lib/docker",
]);

/** Trees that belong to the system or to everyone: nothing under them either. */
const SYSTEM_TREES = ["/bin/", "/boot/", "/dev/", "/etc/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/proc/", "/run/", "/sbin/", "/sys/", "/usr/", "/tmp/", "/var/tmp/", "/var/lib/docker/"];

/** Why `dir` (absolute, already checked for characters and . segments) cannot hold dumps, or undefined. */
export function hostDirProblem(dir: string): string | undefined {
    const d = dir.replace(/\/+/g, "/").replace(/\/$/, "");
    if (d === "") return "must not be / (the dumps need a directory of their own)";
    if (SYSTEM_DIRS.has(d)) return `must not be a system directory (${d}): the dump job makes its directory 0700; use a directory of its own, such as /srv/switchyard-backups`;
    const tree = SYSTEM_TREES.find((t) => d.startsWith(t));
    if (tree) return `must not be under ${tree.replace(/\/$/, "")} (the system's, or anyone's to create): use a directory of its own, such as /srv/switchyard-backups`;
    if (/^\/home\/[^/]+$/.test(d)) return `must not be a home directory (${d}): use a directory of its own inside it`;
    return undefined;
}
