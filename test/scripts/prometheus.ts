// Prometheus's text exposition as the tests read it: each sample (name and
// labels, as written) to its value; comments left out.
export function parsePrometheus(text: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
        if (!line || line.startsWith("#")) continue;
        const i = line.lastIndexOf(" ");
        out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return out;
}
