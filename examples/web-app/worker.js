"use strict";
// The background worker of the web app (run as a Switchyard process type,
// `node worker.js`, from the web image): takes jobs that POST /jobs put on a
// Redis list, with the reliable-queue pattern (BLMOVE into a list of its own,
// removed only once done), and records each job it finished in Postgres.
//
// The job-safety contract a worker keeps at a release: on SIGTERM it takes no
// new job, finishes the ones in hand (within its stop grace) and exits; a job
// left in its own list (a crash, a kill) is put back on the queue when it starts.
const os = require("os");
const { Pool } = require("pg");
const { createClient } = require("redis");
// Redis over TLS (rediss://, from another host than the data host): the CA file
// Switchyard gives is named by SWITCHYARD_DATA_CA (Postgres's URL names it itself).
const redisTls = process.env.SWITCHYARD_DATA_CA ? { tls: true, ca: require("fs").readFileSync(process.env.SWITCHYARD_DATA_CA) } : {};

const QUEUE = "webapp:jobs";
const color = process.env.SWITCHYARD_COLOR || "unknown";
const image = process.env.SWITCHYARD_IMAGE || "unknown";
const me = `${process.env.SWITCHYARD_PROCESS || "worker"}-${color}-${os.hostname()}`;
const concurrency = Math.max(1, Math.min(Number(process.env.WORKER_CONCURRENCY) || 8, 64));
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Math.min(concurrency, 10), connectionTimeoutMillis: 10000 });
pool.on("error", (err) => log("postgres pool error", err.message));
let stopping = false;
let inHand = 0;

function log(...parts) {
  console.log(new Date().toISOString(), `[${me}]`, ...parts);
}

async function ensureSchema() {
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query(
        "CREATE TABLE IF NOT EXISTS jobs_done (id BIGSERIAL PRIMARY KEY, job_id TEXT NOT NULL, worker TEXT NOT NULL, color TEXT NOT NULL, image TEXT NOT NULL, taken_at TIMESTAMPTZ NOT NULL, done_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
      );
      return;
    } catch (err) {
      if (attempt >= 30) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function connect() {
  const c = createClient({ url: process.env.REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: (n) => Math.min(n * 100, 2000), ...redisTls } });
  c.on("error", (err) => log("redis error", err.message));
  await c.connect();
  return c;
}

/** One loop: a job at a time, each from the queue into this loop's own list. */
async function loop(n) {
  const redis = await connect();
  const mine = `${QUEUE}:taken:${me}:${n}`;
  // Jobs a previous run of this container left in its list go back first.
  while (await redis.lMove(mine, QUEUE, "RIGHT", "LEFT")) log("re-queued a job left in hand");
  while (!stopping) {
    const raw = await redis.blMove(QUEUE, mine, "RIGHT", "LEFT", 1);
    if (!raw) continue;
    inHand++;
    const takenAt = new Date();
    const job = JSON.parse(raw);
    await new Promise((r) => setTimeout(r, job.ms));
    await pool.query("INSERT INTO jobs_done (job_id, worker, color, image, taken_at) VALUES ($1, $2, $3, $4, $5)", [job.id, me, color, image, takenAt]);
    await redis.lRem(mine, 1, raw);
    inHand--;
  }
  await redis.quit();
}

process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  log(`SIGTERM: taking no new job, finishing ${inHand} in hand`);
});

async function main() {
  // A broken release for the e2e suite (an image built with this set): the worker's command fails at start.
  if (process.env.WORKER_FAIL_AT_START === "1") throw new Error("WORKER_FAIL_AT_START=1: this release's worker cannot start");
  await ensureSchema();
  log(`working ${concurrency} at a time, image=${image}`);
  await Promise.all(Array.from({ length: concurrency }, (_, n) => loop(n)));
  await pool.end();
  log("stopped: every job in hand finished");
  process.exit(0);
}

main().catch((err) => {
  log("failed", err.stack || err.message);
  process.exit(1);
});
