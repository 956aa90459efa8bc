// The expand migration's fingerprint: its command, the image it runs from and
// its timeout. The program gives it to the backup step (a migration that runs
// again gets a fresh dump first); the migrate step computes the same from its
// own inputs and records it when the migration finished (engine/history.ts).
import { createHash } from "crypto";

export function migrationFingerprint(command: string[], image: string, timeoutSeconds: number): string {
    return createHash("sha256").update(JSON.stringify([command, image, timeoutSeconds])).digest("hex").slice(0, 16);
}
