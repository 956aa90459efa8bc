"use strict";
// The sample app Switchyard deploys in local runs. It exists to prove the
// release path: /health gates on its real dependencies, every response names
// the colour that served it, /slow holds requests open for drain tests, and
// /visits writes to the shared Postgres and Redis so tests can show that
// state survives switches.
const http = require("http");
const { Pool } = require("pg");
const { createClient } = require("redis");
// Redis over TLS (rediss://, from another host than the data host): the CA file
// Switchyard gives is named by SWITCHYARD_DATA_CA (Postgres's URL names it itself).
const redisTls = process.env.SWITCHYARD_DATA_CA ? { tls: true, ca: require("fs").readFileSync(process.env.SWITCHYARD_DATA_CA) } : {};

const port = Number(process.env.PORT || 3000);
const color = process.env.SWITCHYARD_COLOR || "unknown";
const image = process.env.SWITCHYARD_IMAGE || "unknown";
// A deliberately broken release (tests build an image with this set) must fail
// its health gate while still answering every other endpoint.
const forceUnhealthy = process.env.SWITCHYARD_FORCE_UNHEALTHY === "1";
// A release that passes its gate and verify but fails real traffic (the bake
// tests set it through slots.<colour>.env): this share of the requests other
// than /health answers 500, in a fixed rotation, so the rate is exact.
const failPercent = Math.max(0, Math.min(Number(process.env.SAMPLE_FAIL_PERCENT || 0), 100));
let served = 0; // requests counted for SAMPLE_FAIL_PERCENT
// Version 2 of the schema (migrate.js) adds visits.source: this release writes
// its own image there. Version 1 does not know the column.
const schema = Number(process.env.APP_SCHEMA || 1);
const maxSlowMs = 60000;

// Connections stay open (no idle timeout): opening one means a new Postgres
// backend process, which on a busy host (a release under load) can take
// seconds, and a 2 s checkout limit turned that slowness into HTTP 500s
// (seen in the e2e suite). A request now waits for a connection up to 10 s,
// the load generator's own limit, so overload shows as latency first.
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10, connectionTimeoutMillis: 10000, idleTimeoutMillis: 0 });
pool.on("error", (err) => log("postgres pool error", err.message));
const redis = createClient({ url: process.env.REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: (n) => Math.min(n * 100, 2000), ...redisTls } });
redis.on("error", (err) => log("redis error", err.message));

function log(...parts) {
  console.log(new Date().toISOString(), `[${color}]`, ...parts);
}

async function ensureSchema() {
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query("CREATE TABLE IF NOT EXISTS visits (id BIGSERIAL PRIMARY KEY, color TEXT NOT NULL, note TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      return;
    } catch (err) {
      // Both colours start against the same database; a concurrent CREATE can
      // lose a race on the catalog, and the database may still be starting.
      if (attempt >= 30) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function send(res, status, body, headers = {}) {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
    "Content-Length": Buffer.byteLength(text),
    "X-Switchyard-Color": color,
    ...(draining ? { Connection: "close" } : {}),
    ...headers,
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > 65536) reject(new Error("body too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function health() {
  if (forceUnhealthy) return { ok: false, detail: "forced unhealthy (SWITCHYARD_FORCE_UNHEALTHY=1)" };
  try {
    await pool.query("SELECT 1");
  } catch (err) {
    return { ok: false, detail: `postgres: ${err.message}` };
  }
  try {
    if (!redis.isReady) return { ok: false, detail: "redis: not connected" };
    await redis.ping();
  } catch (err) {
    return { ok: false, detail: `redis: ${err.message}` };
  }
  return { ok: true, detail: "postgres and redis answer" };
}

async function route(req, res) {
  const url = new URL(req.url, "http://app");
  if (url.pathname === "/health") {
    const h = await health();
    return send(res, h.ok ? 200 : 500, { status: h.ok ? "ok" : "unhealthy", color, detail: h.detail });
  }
  // Spread evenly: request n fails when it crosses the next whole failure.
  const n = served++;
  if (Math.floor(((n + 1) * failPercent) / 100) > Math.floor((n * failPercent) / 100)) return send(res, 500, { error: `injected failure (SAMPLE_FAIL_PERCENT=${failPercent})`, color });
  if (url.pathname === "/version") return send(res, 200, { color, image, schema });
  if (url.pathname === "/slow") {
    const ms = Math.max(0, Math.min(Number(url.searchParams.get("ms")) || 0, maxSlowMs));
    await new Promise((r) => setTimeout(r, ms));
    return send(res, 200, { color, sleptMs: ms });
  }
  if (url.pathname === "/visits" && req.method === "POST") {
    const note = (await readBody(req)).slice(0, 200);
    const row =
      schema >= 2
        ? await pool.query("INSERT INTO visits (color, note, source) VALUES ($1, $2, $3) RETURNING id", [color, note, image])
        : await pool.query("INSERT INTO visits (color, note) VALUES ($1, $2) RETURNING id", [color, note]);
    const counter = await redis.incr("switchyard:visits");
    return send(res, 201, { id: Number(row.rows[0].id), counter, color });
  }
  if (url.pathname === "/visits" && req.method === "GET") {
    // The newest visit, by the primary key's index: a read whose cost does not
    // grow with the table. The exact row count is a full scan, so only on
    // request (?count=1): at the e2e suite's 60 reads/s it had grown to most of
    // the database's work by the last scenarios, and measured the table size.
    const last = await pool.query("SELECT id, color FROM visits ORDER BY id DESC LIMIT 1");
    const counted = url.searchParams.get("count") === "1" ? await pool.query("SELECT count(*)::bigint AS n FROM visits") : undefined;
    const counter = Number((await redis.get("switchyard:visits")) || 0);
    return send(res, 200, {
      lastId: Number(last.rows[0]?.id ?? 0),
      lastColor: last.rows[0]?.color ?? null,
      ...(counted ? { rows: Number(counted.rows[0].n) } : {}),
      counter,
      color,
    });
  }
  if (url.pathname === "/") return send(res, 200, { service: "switchyard-sample-app", color, image });
  return send(res, 404, { error: "not found", path: url.pathname });
}

let draining = false;
const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    log("request failed", req.method, req.url, err.message);
    if (!res.headersSent) send(res, 500, { error: err.message });
    else res.destroy();
  });
});
server.keepAliveTimeout = 65000; // longer than nginx's upstream idle time, so the app never closes first

// SIGTERM: stop accepting, let in-flight requests finish, then exit. Idle
// keep-alive connections are closed now; busy ones get Connection: close.
process.on("SIGTERM", () => {
  if (draining) return;
  draining = true;
  log("SIGTERM: draining in-flight requests");
  server.close(() => {
    log("drained; exiting");
    // Close the clients, but never let a reconnecting client hold the exit.
    setTimeout(() => process.exit(0), 2000).unref();
    Promise.allSettled([pool.end(), redis.isOpen ? redis.disconnect() : Promise.resolve()]).then(() => process.exit(0));
  });
  server.closeIdleConnections();
});

async function main() {
  await redis.connect().catch((err) => log("redis connect failed, retrying in background", err.message));
  await ensureSchema().catch((err) => log("schema not ready yet", err.message));
  server.listen(port, () => log(`listening on :${port} image=${image}`));
}

main();
