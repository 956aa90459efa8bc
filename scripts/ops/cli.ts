// What the ops commands share: their arguments and how they fail.

export interface StackArgs {
    stack: string;
    /** A stack config file other than Pulumi.<stack>.yaml (tests use it). */
    stackFile?: string;
}

export function parseStackArgs(argv: string[]): StackArgs {
    const out: Partial<StackArgs> = {};
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack") out.stack = argv[++i];
        else if (argv[i] === "--stack-file") out.stackFile = argv[++i];
        else throw new Error(`unknown argument ${argv[i]} (allowed: --stack NAME, --stack-file PATH)`);
    }
    if (!out.stack || !/^[\w.-]+$/.test(out.stack)) throw new Error(`--stack NAME is required (got ${out.stack ?? "nothing"})`);
    return { stack: out.stack, stackFile: out.stackFile };
}

/** Runs a command's main; any error is one line "<name>: <message>" and exit 1. */
export function runCli(name: string, main: () => void): void {
    try {
        main();
    } catch (err) {
        console.error(`${name}: ${(err as Error).message}`);
        process.exit(1);
    }
}
