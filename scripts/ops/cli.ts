// What the ops commands share: their arguments and how they fail.

export interface StackArgs {
    stack: string;
    /** A stack config file other than Pulumi.<stack>.yaml (tests use it). */
    stackFile?: string;
    /** Values of the command's own options (--backup NAME). */
    values: Record<string, string>;
    /** The command's own flags that were given (--yes). */
    flags: Set<string>;
}

/** --stack NAME [--stack-file PATH], plus a command's own `--name VALUE` options and flags. */
export function parseStackArgs(argv: string[], own: { values?: string[]; flags?: string[] } = {}): StackArgs {
    const out: StackArgs = { stack: "", values: {}, flags: new Set() };
    const values = own.values ?? [];
    const flags = own.flags ?? [];
    for (let i = 0; i < argv.length; i++) {
        const name = argv[i].replace(/^--/, "");
        if (argv[i] === "--stack") out.stack = argv[++i];
        else if (argv[i] === "--stack-file") out.stackFile = argv[++i];
        else if (argv[i].startsWith("--") && values.includes(name)) out.values[name] = argv[++i] ?? "";
        else if (argv[i].startsWith("--") && flags.includes(name)) out.flags.add(name);
        else {
            const allowed = ["--stack NAME", "--stack-file PATH", ...values.map((v) => `--${v} ${v.toUpperCase()}`), ...flags.map((f) => `--${f}`)];
            throw new Error(`unknown argument ${argv[i]} (allowed: ${allowed.join(", ")})`);
        }
    }
    if (!out.stack || !/^[\w.-]+$/.test(out.stack)) throw new Error(`--stack NAME is required (got ${out.stack || "nothing"})`);
    return out;
}

/** Runs a command's main; any error is one line "<name>: <message>" and exit 1. */
export function runCli(name: string, main: () => void | Promise<void>): void {
    const fail = (err: unknown) => {
        console.error(`${name}: ${(err as Error).message}`);
        process.exit(1);
    };
    try {
        const done = main();
        if (done instanceof Promise) done.catch(fail);
    } catch (err) {
        fail(err);
    }
}
