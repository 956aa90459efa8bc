// The proxy-state side of engine/history-rules.ts: reading and adding to the
// records of what went live, which expand migrations finished, and which
// replicas passed the gate. Each record is one small file in the proxy's state
// volume, rewritten whole by a rename (Proxy.writeState).
import { EXPAND_MIGRATED, WENT_LIVE } from "../lib/routemarker";
import { Docker, Proxy, slotContainerIds } from "./docker";
import { ColourRelease, historyLines, releaseOf, withLine } from "./history-rules";

export async function readHistory(proxy: Proxy): Promise<{ wentLive: string[]; migrated: string[] }> {
    return historyOf(await proxy.readStates([WENT_LIVE, EXPAND_MIGRATED]));
}

/** The records as read with other state files (Proxy.readStates of WENT_LIVE and EXPAND_MIGRATED among them). */
export function historyOf(states: Map<string, string | undefined>): { wentLive: string[]; migrated: string[] } {
    return { wentLive: historyLines(states.get(WENT_LIVE) ?? ""), migrated: historyLines(states.get(EXPAND_MIGRATED) ?? "") };
}

/**
 * Adds `line` to the record `file` as its newest entry (`read`: its content,
 * read already); false when the proxy would not take it, or could not be read:
 * a record written from a read that did not happen would drop every entry before.
 */
export async function addToHistory(proxy: Proxy, file: string, line: string, read?: Promise<string>): Promise<boolean> {
    const before = await (read ?? proxy.readState(file)).catch((e: Error) => e);
    return before instanceof Error ? false : proxy.writeState(file, withLine(before, line));
}

/** The container ids of the release key's TARGET_CONTAINER_IDS (comma-separated, as components/slot.ts joins them). */
export function keyContainerIds(value: string | undefined): string[] {
    return (value ?? "").split(",").filter(Boolean);
}

/**
 * What a colour's running containers run: the image id and the release
 * went-live records (empty when none runs). `only`: the containers the release
 * key names (TARGET_CONTAINER_IDS); when none of them runs on this engine (the
 * dump of a stack whose data host is not its first host, where the target's
 * slot may not be re-created yet), the release is unknown, so the dump is taken.
 */
export async function colourRelease(docker: Docker, stack: string, colour: string, only?: string[]): Promise<ColourRelease> {
    const running = await slotContainerIds(docker, stack, colour).catch(() => []);
    const ids = only ? running.filter((id) => only.includes(id)) : running;
    if (ids.length === 0) return releaseOf("", "", "");
    const c = (await docker.inspect([ids[0]]).catch(() => undefined))?.found[0];
    if (!c) return releaseOf("", "", "");
    return releaseOf(c.Image, c.Config.Labels?.["switchyard.image"] ?? "", c.Config.Labels?.["switchyard.env"] ?? "");
}

/** The id of a local image by its reference ("" when docker has none). */
export async function imageId(docker: Docker, ref: string): Promise<string> {
    const r = await docker.run(["image", "inspect", "-f", "{{.Id}}", "--", ref]);
    return r.status === 0 ? r.stdout.trim() : "";
}
