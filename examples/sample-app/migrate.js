"use strict";
// The sample app's migrations, run by Switchyard's migrate step in a one-off
// container from the new image:  node migrate.js expand | contract | status
//
// Expand migrations only add (old code keeps working); contract migrations
// remove what only old code needed and run once old code is gone. Each runs
// in its own transaction under an advisory lock and is recorded in
// schema_migrations, so running the command twice changes nothing.
// The image's APP_SCHEMA says how far this version of the app goes.
const { Client } = require("pg");

const MIGRATIONS = [
  { schema: 1, phase: "expand", name: "001_create_visits",
    sql: "CREATE TABLE IF NOT EXISTS visits (id BIGSERIAL PRIMARY KEY, color TEXT NOT NULL, note TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now())" },
  // Version 2 records which release wrote a visit. The default keeps version 1
  // (which does not know the column) inserting while both run.
  { schema: 2, phase: "expand", name: "002_visits_source",
    sql: "ALTER TABLE visits ADD COLUMN IF NOT EXISTS source TEXT DEFAULT 'legacy'" },
  // Once version 1 is gone every writer sets source: make it required. Version
  // 1 would now fail to insert, which is why this waits for the contract phase.
  { schema: 2, phase: "contract", name: "002_visits_source_required",
    sql: "UPDATE visits SET source = 'legacy' WHERE source IS NULL; ALTER TABLE visits ALTER COLUMN source SET NOT NULL; ALTER TABLE visits ALTER COLUMN source DROP DEFAULT" },
  // A deliberately unsafe migration (tests build an image with APP_SCHEMA=3):
  // a NOT NULL column without a default fails on a table that has rows, and
  // its transaction leaves the schema as it was.
  { schema: 3, phase: "expand", name: "003_visits_checksum_unsafe",
    sql: "ALTER TABLE visits ADD COLUMN checksum TEXT NOT NULL" },
];

const LOCK_ID = 72177; // one migration run at a time per database
const LOCK_TIMEOUT_MS = 2000; // longest wait for a table lock per attempt
const LOCK_ATTEMPTS = 10;

function log(...parts) {
  console.log(new Date().toISOString(), ...parts);
}

async function main() {
  const phase = process.argv[2];
  if (!["expand", "contract", "status"].includes(phase)) {
    console.error(`usage: node migrate.js expand|contract|status (got ${phase ?? "nothing"})`);
    process.exit(2);
  }
  const schema = Number(process.env.APP_SCHEMA || 1);
  const client = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10000 });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [LOCK_ID]);
    await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    const done = new Set((await client.query("SELECT name FROM schema_migrations")).rows.map((r) => r.name));
    if (phase === "status") {
      for (const m of MIGRATIONS.filter((m) => m.schema <= schema)) log(`${done.has(m.name) ? "applied" : "pending"} ${m.phase} ${m.name}`);
      return;
    }
    const todo = MIGRATIONS.filter((m) => m.phase === phase && m.schema <= schema && !done.has(m.name));
    log(`app schema ${schema}: ${todo.length} ${phase} migration(s) to apply`);
    for (const m of todo) {
      const t = Date.now();
      for (let attempt = 1; ; attempt++) {
        await client.query("BEGIN");
        try {
          // An ALTER waiting for its lock queues every later query on the table
          // behind it, live traffic included: wait briefly, then step back and
          // try again, rather than stall the old colour for as long as some
          // long query holds the table.
          await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
          await client.query(m.sql);
          await client.query("INSERT INTO schema_migrations (name) VALUES ($1)", [m.name]);
          await client.query("COMMIT");
          break;
        } catch (err) {
          await client.query("ROLLBACK");
          if (err.code === "55P03" && attempt < LOCK_ATTEMPTS) {
            log(`${m.name}: table busy (no lock within ${LOCK_TIMEOUT_MS} ms), attempt ${attempt} of ${LOCK_ATTEMPTS}; trying again in 1 s`);
            await new Promise((r) => setTimeout(r, 1000));
            continue;
          }
          throw new Error(`${m.name} failed and was rolled back: ${err.message}`);
        }
      }
      log(`applied ${m.name} in ${Date.now() - t} ms`);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [LOCK_ID]).catch(() => undefined);
    await client.end();
  }
}

main().catch((err) => {
  console.error(`migration failed: ${err.message}`);
  process.exit(1);
});
