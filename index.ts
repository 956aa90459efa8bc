// Switchyard: config -> components -> release steps.
//
// The program users run, built on the package's entry (components/index.ts):
// the stack's `switchyard:` config, checked, becomes the args of one
// BlueGreenApp, which declares the shared services, the proxy, the slots and
// the release (components/release.ts: gate and backup -> expand -> re-point ->
// verify -> retire -> contract). The outputs are the app's.
import * as pulumi from "@pulumi/pulumi";
import { BlueGreenApp, settingsFromConfig } from "./components";
import { buildProblem } from "./lib/build";
import { PACKAGE_ROOT } from "./lib/package";

// The program and its release steps run compiled (program.js): refuse a build older than its sources.
const stale = buildProblem(PACKAGE_ROOT);
if (stale) throw new Error(stale);

const app = new BlueGreenApp("switchyard", {
    ...settingsFromConfig(),
    dockerHost: new pulumi.Config("docker").get("host"),
    // Stacks made before the component existed keep every resource.
    adoptRootResources: true,
});

export const liveColor = app.liveColor;
export const liveImage = app.liveImage;
export const idleColor = app.idleColor;
export const idleState = app.idleState;
export const idleImage = app.idleImage;
export const liveUrl = app.liveUrl;
export const previewUrl = app.previewUrl;
export const liveTlsUrl = app.liveTlsUrl;
export const previewTlsUrl = app.previewTlsUrl;
// Every host in release order, with its live colour and listeners (a load balancer or DNS points at the live ones).
export const hosts = app.hosts;
// What the policy pack (policy/) judges the stack by.
export const settings = app.settings;
