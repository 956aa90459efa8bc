// The route-marker protocol for the program, the proxy config and the
// operator commands in TypeScript: read from scripts/release/route-marker.env,
// the one definition the release steps source too.
import * as fs from "fs";
import type { Colour } from "./config";
import { packageFile } from "./package";

export const ROUTE_MARKER_FILE = packageFile("scripts", "release", "route-marker.env");

function readProtocol(file: string): Record<string, string> {
    const values: Record<string, string> = {};
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        const m = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
        if (m) values[m[1]] = m[2];
    }
    return values;
}

const protocol = readProtocol(ROUTE_MARKER_FILE);
function value(name: string): string {
    const v = protocol[name];
    if (!v) throw new Error(`switchyard: ${ROUTE_MARKER_FILE} does not define ${name}`);
    return v;
}

/** The proxy's state volume, where every marker lives. */
export const STATE_DIR = value("STATE_DIR");
/** The proxy's config directory, where nginx.conf lives. */
export const CONF_DIR = value("CONF_DIR");
/** Present: the live listener routes to green; absent: to blue. */
export const ROUTE_MARKER = value("ROUTE_MARKER");
/** Present: the live listener answers 503 maintenance. */
export const MAINTENANCE_MARKER = value("MAINTENANCE_MARKER");
/** Present: every HTTP/1.1 answer says Connection: close (proxy-config, just before a reload). */
export const CLOSING_MARKER = value("CLOSING_MARKER");
/** Present while npm run restore runs: who and since when. */
export const RESTORE_LOCK = value("RESTORE_LOCK");
/** retired-<colour>: the image a colour had when it was retired, and after a space the id of what it ran (retiredLedger). */
export const RETIRED_PREFIX = value("RETIRED_PREFIX");
/** The colour that was live before the last re-point. */
export const PREVIOUS_LIVE = value("PREVIOUS_LIVE");
/** The image live before the last switch: going back to it is a rollback. */
export const PREVIOUS_LIVE_IMAGE = value("PREVIOUS_LIVE_IMAGE");
/** Image ids that went live on this stack's database (newest last). */
export const WENT_LIVE = value("WENT_LIVE");
/** "<image id> <fingerprint>" of each expand migration that finished on this database. */
export const EXPAND_MIGRATED = value("EXPAND_MIGRATED");
/** gated-<colour>: "<container id> <StartedAt>" per replica that passed the gate. */
export const GATED_PREFIX = value("GATED_PREFIX");
/** bake-failed-<colour>: the containers whose bake failed (first line) and why. */
export const BAKE_FAILED_PREFIX = value("BAKE_FAILED_PREFIX");
/** measured-start-<colour>: seconds from the colour's start to healthy, written by the gate. */
export const MEASURED_START_PREFIX = value("MEASURED_START_PREFIX");
/** The directory of the certificate and key from config (under STATE_DIR). */
export const TLS_SUBDIR = value("TLS_SUBDIR");
/**
 * The certificate from config (chain and key in one file), in two copies:
 * nginx reads the even one in even seconds of the clock and the odd one in odd
 * seconds, and the tls-config step replaces each copy only in a second nginx
 * reads the other. Why two: nginx opens the file twice per handshake (chain,
 * then key), so a rename between the two opens would pair an old chain with a
 * new key and fail that handshake (seen under load).
 */
export const TLS_FILES = { even: `${STATE_DIR}/${TLS_SUBDIR}/server.even.pem`, odd: `${STATE_DIR}/${TLS_SUBDIR}/server.odd.pem` };
/** The one file the certificate from config was before its two copies: a proxy that has it seeds the copies from it once. */
export const TLS_SINGLE_FILE = `${STATE_DIR}/${TLS_SUBDIR}/server.pem`;
/** canary-<colour>: the link to the canary ladder directory of the current weight (lib/canary.ts). */
export const CANARY_PREFIX = value("CANARY_PREFIX");
/** The last canary's figures, one line per step (engine/canary.ts writes them, npm run status shows them). */
export const CANARY_FIGURES = value("CANARY_FIGURES");
/** The stack's webhook URL, kept by the notifier step. */
export const WEBHOOK_URL_FILE = value("WEBHOOK_URL_FILE");

/** A shell script (run in the proxy) that lists the markers as NAME=content lines. */
export const LIST_MARKERS_SCRIPT =
    `cd ${STATE_DIR} 2>/dev/null || exit 0; ` +
    `for f in ${ROUTE_MARKER} ${RETIRED_PREFIX}* ${MAINTENANCE_MARKER} ${RESTORE_LOCK}; do [ -f "$f" ] && printf '%s=%s\\n' "$f" "$(cat "$f")"; done; ` +
    // A running canary: its link and the ladder it points at (lib/canary.ts).
    `for l in ${CANARY_PREFIX}blue ${CANARY_PREFIX}green; do [ -L "$l" ] && printf '%s=%s\\n' "$l" "$(readlink "$l")"; done; ` +
    `[ -f ${CANARY_FIGURES} ] && sed 's/^/${CANARY_FIGURES}=/' ${CANARY_FIGURES}; exit 0`;

/** `value` when it is an image id as Docker prints it (sha256:<64 hex>), else "": a container created by name, a ledger without one. */
export function imageIdOf(value: string | undefined): string {
    return /^sha256:[0-9a-f]{64}$/.test(value ?? "") ? value! : "";
}

/** A retire ledger entry's content: the image reference, then the image id its containers ran, when known. */
export function retiredLedger(image: string, imageId: string): string {
    return imageId ? `${image} ${imageId}` : image;
}

export interface MarkerListing {
    route: Colour;
    retired: Partial<Record<Colour, string>>;
    /** The image id each retired colour ran (ledgers written before it have none). */
    retiredImageId: Partial<Record<Colour, string>>;
    maintenance: boolean;
    /** Who runs a restore and since when, while one runs (RESTORE_LOCK). */
    restoring?: string;
    /** A canary in progress: the colour that gets a share of new traffic, and that share in percent. */
    canary?: { colour: Colour; weight: number };
    /** The last canary's figures, one line per step. */
    canaryFigures?: string[];
}

function figures(lines: string[]): { canaryFigures?: string[] } {
    const mine = lines.filter((l) => l.startsWith(`${CANARY_FIGURES}=`)).map((l) => l.slice(CANARY_FIGURES.length + 1));
    return mine.length ? { canaryFigures: mine } : {};
}

function canary(lines: string[]): { canary?: { colour: Colour; weight: number } } {
    for (const colour of ["blue", "green"] as const) {
        const m = new RegExp(`^${CANARY_PREFIX}${colour}=${CANARY_PREFIX}${colour}\\.w([1-9][0-9]?)$`).exec(lines.find((l) => l.startsWith(`${CANARY_PREFIX}${colour}=`)) ?? "");
        if (m) return { canary: { colour, weight: Number(m[1]) } };
    }
    return {};
}

function restoring(lines: string[]): { restoring?: string } {
    const line = lines.find((l) => l.startsWith(`${RESTORE_LOCK}=`));
    return line === undefined ? {} : { restoring: line.slice(RESTORE_LOCK.length + 1) || "a restore" };
}

/** Reads LIST_MARKERS_SCRIPT's output: the route marker present means green is live. */
export function parseMarkers(listing: string): MarkerListing {
    const lines = listing.split("\n");
    const retired: Partial<Record<Colour, string>> = {};
    const retiredImageId: Partial<Record<Colour, string>> = {};
    for (const line of lines) {
        for (const colour of ["blue", "green"] as const) {
            if (!line.startsWith(`${RETIRED_PREFIX}${colour}=`)) continue;
            const [image, id] = line.slice(`${RETIRED_PREFIX}${colour}=`.length).split(" ");
            retired[colour] = image;
            if (imageIdOf(id)) retiredImageId[colour] = id;
        }
    }
    return {
        route: lines.some((l) => l.startsWith(`${ROUTE_MARKER}=`)) ? "green" : "blue",
        retired,
        retiredImageId,
        maintenance: lines.some((l) => l.startsWith(`${MAINTENANCE_MARKER}=`)),
        ...restoring(lines),
        ...canary(lines),
        ...figures(lines),
    };
}
