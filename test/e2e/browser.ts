// Debian's Chromium, headless, driven by playwright-core (which downloads no
// browser of its own). The app's host name resolves to 127.0.0.1 inside the
// browser only, so every request carries the name the app serves, as in
// production; nothing leaves this machine.
import * as fs from "fs";
import type { Browser } from "playwright-core";

/** Debian's chromium (set-up installs it), else a Google Chrome already there (a hosted CI runner's). */
export const CHROMIUM = process.env.SWITCHYARD_CHROMIUM ?? ["/usr/bin/chromium", "/usr/bin/google-chrome"].find((p) => fs.existsSync(p)) ?? "/usr/bin/chromium";

/** Why no browser test can run here, or undefined. */
export function browserMissing(): string | undefined {
    return fs.existsSync(CHROMIUM) ? undefined : `${CHROMIUM} (npm run setup installs Debian's chromium)`;
}

export async function launchBrowser(hostname: string): Promise<Browser> {
    const { chromium } = await import("playwright-core");
    return chromium.launch({
        executablePath: CHROMIUM,
        args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            `--host-resolver-rules=MAP ${hostname} 127.0.0.1`,
        ],
    });
}
