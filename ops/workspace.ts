// The stack an operator command changes, through Pulumi's Automation API:
// config read and written, up, destroy, cancel, refresh and export, run by the
// Pulumi CLI on PATH with the backend and passphrase of the environment
// (`pulumi login` or PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE[_FILE]),
// exactly as a `pulumi` typed in the project would use them.
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { projectDir } from "./cli";

/** The stack of the project (the nearest Pulumi.yaml up from here); fails naming the project and the CLI's reason when it has none of that name. */
export async function openStack(stack: string, dir = projectDir()): Promise<Stack> {
    try {
        return await LocalWorkspace.selectStack({ stackName: stack, workDir: dir });
    } catch (err) {
        throw new Error(`no stack ${stack} in the project at ${dir} (${lastLine(err)}); pulumi stack ls lists its stacks`);
    }
}

/** A config value of the stack (`path`: a dotted path into a structured one), or undefined when it is not set. */
export async function configValue(stack: Stack, key: string, path = false): Promise<string | undefined> {
    try {
        return (await stack.getConfig(key, path)).value;
    } catch {
        return undefined;
    }
}

/** Streams a CLI operation's output as it comes, as `pulumi` itself prints it. */
export const streamed = { onOutput: (s: string) => void process.stdout.write(s), onError: (s: string) => void process.stderr.write(s) };

/** The last non-empty line of a CLI error (its own message, not the Automation API's command dump). */
export function lastLine(err: unknown): string {
    const e = err as { stderr?: string; message?: string };
    const text = (e.stderr && e.stderr.trim()) || e.message || String(err);
    return text.trim().split("\n").filter((l) => l.trim()).pop() ?? "";
}
