// switchyard destroy --stack NAME
//
// Removes a whole stack, its data included. Every container, volume and
// network is behind the delete guard, so this is the one command that allows
// it (SWITCHYARD_ALLOW_DELETE=all), and it runs the program (a plain
// `pulumi destroy` does not, so the guard would refuse every container);
// production data stays protected in state (`protect`) until it is
// unprotected on purpose.
import { ALLOW_ENV } from "../lib/guard";
import { parseStackArgs, progress } from "./cli";
import { openStack, streamed } from "./workspace";

export async function main(argv: string[]): Promise<void> {
    const args = parseStackArgs(argv);
    const { say, fail } = progress("destroy");
    const stack = await openStack(args.stack).catch((err: Error) => fail(err.message));
    say(`removing stack ${args.stack} (Pulumi.${args.stack}.yaml) and its data`);
    // The program reads the allowance from its environment: the CLI's, which is this process's.
    process.env[ALLOW_ENV] = "all";
    await stack.destroy({ ...streamed, runProgram: true }).catch(() => fail(`pulumi destroy of ${args.stack} failed (above)`));
    say(`done: stack ${args.stack} holds nothing; its config and history stay (pulumi stack rm ${args.stack} removes them)`);
}
