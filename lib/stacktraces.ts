// Pulumi's SDK takes a stack trace for every resource it registers (its source
// position) and for nearly every promise it makes (debuggablePromise, for its
// report of promises left unsettled), and V8 captures Error.stackTraceLimit
// frames (10) at each `new Error()`. With this program's resources that was
// about 70 ms of every preview and up (issue 30); the floor's five resources
// pay little of it. One frame still says where an error was thrown. Only for
// our own entry (program.js), never for a team's program that imports the
// components; a developer who wants whole traces asks for them.
/**
 * Keeps one frame per stack trace, unless --stack-trace-limit was given
 * (NODE_OPTIONS or node's own arguments). Returns whether it did.
 */
export function keepOneFrame(env: NodeJS.ProcessEnv = process.env, execArgv: string[] = process.execArgv): boolean {
    if (/--stack-trace-limit/.test(`${env.NODE_OPTIONS ?? ""} ${execArgv.join(" ")}`)) return false;
    Error.stackTraceLimit = 1;
    return true;
}
