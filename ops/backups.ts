// npm run backups -- --stack NAME [--stack-file PATH] [--json]
//
// The stack's database dumps, oldest first: when each was taken, the release
// it was taken for (from-image -> to-image), its size and checksum. Restore
// one with `npm run restore -- --stack NAME --backup <name>`.
import { parseStackArgs, runCli } from "./cli";
import { humanSize, listBackups, openStore } from "./backupstore";

export function main(argv = process.argv.slice(2)) {
    const args = parseStackArgs(argv, { flags: ["json"] });
    const store = openStore(args.stack, args.stackFile);
    const backups = listBackups(store);
    if (args.flags.has("json")) {
        console.log(JSON.stringify(backups, null, 2));
        return;
    }
    console.log(`Backups of stack ${args.stack} in ${store.store} (${backups.length}, oldest first):`);
    if (backups.length === 0) console.log("  none yet: the first release (pulumi up that switches) takes one");
    for (const b of backups) {
        console.log(`  ${b.time}  ${b.fromImage} -> ${b.toImage}  ${humanSize(b.sizeBytes).padStart(9)}  sha256 ${b.sha256.slice(0, 12)}  ${b.name}`);
    }
}

if (require.main === module) runCli("backups", main);
