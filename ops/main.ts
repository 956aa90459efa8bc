#!/usr/bin/env node
// switchyard COMMAND --stack NAME [...]: the operator commands, run in the
// Pulumi project that uses the package (the nearest Pulumi.yaml up from the
// working directory), with the Pulumi CLI, backend and passphrase of the
// environment. `npx switchyard status --stack production` in a team's project
// is what `npm run status -- --stack production` is in this repository.
import { deferClosureModules } from "../lib/lazymodules";
import { runCli } from "./cli";

type Command = { what: string; run: (argv: string[]) => void | Promise<void> };

/** Each command's module is loaded only when it runs: `status` never loads the Automation API. */
export const COMMANDS: Record<string, Command> = {
    status: { what: "what runs, which colour is live, drift from config", run: (a) => require("./status").main(a) },
    release: { what: "--image IMAGE: stage it on the idle colour and switch (gate, switch, verify, retire)", run: (a) => require("./release").main(a, "release") },
    rollback: { what: "[--now]: back to the other colour (--now: traffic first, then the reconciling up)", run: (a) => require("./release").main(a, "rollback") },
    recover: { what: "[--wait-seconds N] [--cancel]: after a killed up, make the next up finish", run: (a) => require("./recover").main(a) },
    plan: { what: "[--with-diff] [--no-preview]: a reviewer's Markdown report of the next up", run: (a) => require("./plan").main(a) },
    backups: { what: "[--json]: the database dumps, oldest first", run: (a) => require("./backups").main(a) },
    restore: { what: "--backup NAME [--yes] | --unlock: restore a dump under maintenance mode", run: (a) => require("./restore").main(a) },
    exec: { what: "[--colour C] [--host H] -- CMD…: a one-off container of the live release", run: (a) => require("./exec").main(a) },
    logs: { what: "[--colour C] [--process P] [--since 10m] [-f]: every replica's lines, merged", run: (a) => require("./logs").main(a) },
    destroy: { what: "remove the whole stack, its data included", run: (a) => require("./destroy").main(a) },
};

export function usage(): string {
    const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
    return [
        "usage: switchyard COMMAND --stack NAME [options]",
        "",
        ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.what}`),
        "",
        "Run it in your Pulumi project's directory (or below it); --stack-file PATH reads another stack file.",
    ].join("\n");
}

if (require.main === module) {
    const [name, ...argv] = process.argv.slice(2);
    if (name === undefined || name === "help" || name === "--help" || name === "-h") {
        console.log(usage());
        process.exit(name === undefined ? 2 : 0);
    }
    const command = COMMANDS[name];
    if (!command) {
        console.error(`switchyard: unknown command '${name}' (allowed: ${Object.keys(COMMANDS).join(", ")})\n\n${usage()}`);
        process.exit(2);
    }
    // Before any command loads the Automation API (and with it @pulumi/pulumi): see lib/lazymodules.ts.
    deferClosureModules();
    runCli(name, () => command.run(argv));
}
