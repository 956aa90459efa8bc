// Runs startWebLoad in its own process (options as JSON in SWITCHYARD_WEBLOAD),
// so the load stays constant while the test process blocks on docker and
// pulumi calls. Prints the report as JSON on stdout at the end or on SIGTERM.
import { startWebLoad, WebLoadOptions } from "./webload";

const opts = JSON.parse(process.env.SWITCHYARD_WEBLOAD ?? "null") as WebLoadOptions | null;
if (!opts) {
    console.error("webload-worker: SWITCHYARD_WEBLOAD (the options as JSON) is required");
    process.exit(2);
}
const load = startWebLoad(opts);
process.on("SIGTERM", () => void load.stop());
// Exit only once the report is flushed: stdout to a pipe is asynchronous.
load.done.then((rep) => process.stdout.write(JSON.stringify(rep), () => process.exit(0)));
