// Runs startLoad in its own process, so the load stays constant while the
// test process blocks on docker and release-step calls. Prints the report as
// JSON on stdout when the duration ends or on SIGTERM.
import { startLoad } from "./load";

const [port, rate, durationMs] = process.argv.slice(2).map(Number);
if (!port || !rate || !durationMs) {
    console.error("usage: load-worker PORT RATE DURATION_MS");
    process.exit(2);
}
// SWITCHYARD_LOAD_CA set: HTTPS, trusting that CA alone.
const ca = process.env.SWITCHYARD_LOAD_CA;
// SWITCHYARD_LOAD_SHARES="post,read[,jobs]": the shares of POST and GET /visits and POST /jobs (the rest GET /version).
const [postShare, readShare, jobShare] = (process.env.SWITCHYARD_LOAD_SHARES ?? "").split(",").map(Number);
const load = startLoad({ port, rate, durationMs, ...(ca ? { tls: { ca } } : {}), ...(postShare >= 0 && readShare >= 0 ? { postShare, readShare } : {}), ...(jobShare > 0 ? { jobShare } : {}) });
process.on("SIGTERM", () => void load.stop());
// Exit only once the report is flushed: stdout to a pipe is asynchronous.
load.done.then((rep) => process.stdout.write(JSON.stringify(rep), () => process.exit(0)));
