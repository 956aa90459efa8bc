// Clients that keep cookies, as browsers do: each sends back the cookies the
// proxy or the app set, on its own keep-alive connection, and records which
// colour answered each request. The canary's stickiness is judged on these;
// the plain load generator (load.ts) keeps no cookies, as new visitors.
import * as http from "http";
import { get } from "./load";

export interface SessionReport {
    /** Per client: each request's start (epoch ms) and the colour that answered it (the app's X-Switchyard-Color). */
    clients: { at: number; colour: string; status: number }[][];
}

/** `clients` sessions against 127.0.0.1:port, each asking GET /version every `intervalMs`, until stop(). */
export function startSessions(port: number, clients: number, intervalMs: number): { stop: () => Promise<SessionReport> } {
    let stopped = false;
    const runs = Array.from({ length: clients }, async (_, i) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const jar = new Map<string, string>();
        const seen: SessionReport["clients"][number] = [];
        // Spread the clients over the interval.
        await new Promise((r) => setTimeout(r, (intervalMs * i) / clients));
        while (!stopped) {
            const at = Date.now();
            const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
            try {
                const a = await get(port, "/version", { agent, timeoutMs: 10000, headers: cookie ? { Cookie: cookie } : {} });
                for (const c of ([] as string[]).concat(a.headers["set-cookie"] ?? [])) {
                    const m = /^([^=;\s]+)=([^;]*)/.exec(c);
                    if (m) jar.set(m[1], m[2]);
                }
                seen.push({ at, colour: String(a.headers["x-switchyard-color"] ?? ""), status: a.status });
            } catch {
                seen.push({ at, colour: "", status: 0 });
            }
            await new Promise((r) => setTimeout(r, intervalMs));
        }
        agent.destroy();
        return seen;
    });
    return {
        stop: async () => {
            stopped = true;
            return { clients: await Promise.all(runs) };
        },
    };
}

/** The weights a canary step's output says it set, with the epoch ms of each (the step started at `startedAt`). */
export function weightTimeline(stepOutput: string, startedAt: number): { at: number; weight: number }[] {
    const out: { at: number; weight: number }[] = [];
    for (const m of stepOutput.matchAll(/\[canary +([0-9.]+)s\] (\d+) % of new traffic to (?:blue|green)/g)) out.push({ at: startedAt + Number(m[1]) * 1000, weight: Number(m[2]) });
    return out;
}
