// Where an update's time goes, read from its own output: every release step
// prints each line as `[<step> <seconds since the step started>s] …`
// (engine/step.ts), so a step's last line says how long it had run by then.
// What the steps do not account for is Pulumi's and the program's own time.

export interface StepTime {
    /** The step's name as it prints it: gate, backup, repoint, migrate expand, … */
    step: string;
    /** Seconds from the step's start to its last line, summed over its runs in the update. */
    seconds: number;
    /** How many times it ran (a step that runs on several hosts, or in two phases). */
    runs: number;
}

const STEP_LINE = /\[([a-z][a-z-]*(?: [a-z][a-z-]*)?) +(\d+\.\d)s\]/;

/**
 * The steps of one update in the order they first printed, each with its time.
 * A run ends where the same step's clock goes back (a new process of it began).
 * Pure: unit-tested in test/unit/bench-steps.test.ts.
 */
export function stepTimes(output: string): StepTime[] {
    const out = new Map<string, { done: number; current: number; runs: number }>();
    for (const line of output.split("\n")) {
        const m = STEP_LINE.exec(line);
        if (!m) continue;
        const [step, at] = [m[1], Number(m[2])];
        const t = out.get(step);
        if (!t) out.set(step, { done: 0, current: at, runs: 1 });
        else if (at < t.current) {
            t.done += t.current;
            t.current = at;
            t.runs += 1;
        } else t.current = at;
    }
    return [...out].map(([step, t]) => ({ step, seconds: Math.round((t.done + t.current) * 10) / 10, runs: t.runs }));
}
