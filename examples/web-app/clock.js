"use strict";
// The scheduler of the web app (a Switchyard process of kind "scheduler",
// `node clock.js`): records a tick at every whole second, as a cron or celery
// beat process fires its jobs. Exactly one must run at any moment, or ticks
// (jobs) fire twice; on SIGTERM it stops at once.
const os = require("os");
const { Pool } = require("pg");

const color = process.env.SWITCHYARD_COLOR || "unknown";
const me = `${process.env.SWITCHYARD_PROCESS || "clock"}-${color}-${os.hostname()}`;
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 2, connectionTimeoutMillis: 10000 });
pool.on("error", (err) => console.log(new Date().toISOString(), `[${me}] postgres pool error`, err.message));
let timer;

async function ensureSchema() {
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query("CREATE TABLE IF NOT EXISTS ticks (id BIGSERIAL PRIMARY KEY, clock TEXT NOT NULL, color TEXT NOT NULL, at TIMESTAMPTZ NOT NULL)");
      return;
    } catch (err) {
      if (attempt >= 30) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function next() {
  timer = setTimeout(tick, 1000 - (Date.now() % 1000));
}

async function tick() {
  next();
  await pool.query("INSERT INTO ticks (clock, color, at) VALUES ($1, $2, $3)", [me, color, new Date()]).catch((err) => console.log(new Date().toISOString(), `[${me}] tick failed`, err.message));
}

process.on("SIGTERM", () => {
  clearTimeout(timer);
  console.log(new Date().toISOString(), `[${me}] SIGTERM: stopping`);
  pool.end().finally(() => process.exit(0));
});

ensureSchema().then(() => {
  console.log(new Date().toISOString(), `[${me}] ticking every second`);
  next();
});
