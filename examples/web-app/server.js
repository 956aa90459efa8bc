"use strict";
// A server-rendered app that behaves the way Rails and Django apps do behind a
// proxy, so the e2e suite can prove the proxy does not break one:
//   - an HTML page that loads its own CSS and JS, under the app's own CSP;
//   - a form POST protected like Rails/Django: a session cookie, a token tied
//     to it, and Origin (or Referer) checked against the request's own origin;
//   - strict allowed hosts (Django's ALLOWED_HOSTS: any other Host is a 400);
//   - force_ssl: plain HTTP is redirected, trusting X-Forwarded-Proto only from
//     a private address (Rails' trusted proxies), which is where the proxy is;
//   - a 10 MB upload whose sha256 it returns, a WebSocket echo channel, and a
//     server-sent event stream;
//   - /visits reads and writes Postgres and Redis, /version names the colour;
//   - POST /jobs enqueues a background job for worker.js; clock.js is its
//     scheduler (Switchyard's `processes`, from this same image).
// On SIGTERM it closes its WebSockets with a close frame (1001, going away),
// lets in-flight requests finish and exits.
const crypto = require("crypto");
const http = require("http");
const { Pool } = require("pg");
const { createClient } = require("redis");
// Redis over TLS (rediss://, from another host than the data host): the CA file
// Switchyard gives is named by SWITCHYARD_DATA_CA (Postgres's URL names it itself).
const redisTls = process.env.SWITCHYARD_DATA_CA ? { tls: true, ca: require("fs").readFileSync(process.env.SWITCHYARD_DATA_CA) } : {};
const { WebSocketServer } = require("ws");

const port = Number(process.env.PORT || 3000);
const color = process.env.SWITCHYARD_COLOR || "unknown";
const image = process.env.SWITCHYARD_IMAGE || "unknown";
const allowedHosts = (process.env.ALLOWED_HOSTS || "").split(",").map((h) => h.trim()).filter(Boolean);
const forceSsl = process.env.FORCE_SSL === "1";
// Both colours sign with the same key (a secret the stack gives both), so a session survives a release.
const secret = process.env.SECRET_KEY_BASE || "";
const maxUpload = 64 * 1024 * 1024;
// Where POST /jobs puts a job for worker.js, and how many it has put there.
const JOB_QUEUE = "webapp:jobs";
const JOB_COUNTER = "webapp:jobs:enqueued";

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10, connectionTimeoutMillis: 10000, idleTimeoutMillis: 0 });
pool.on("error", (err) => log("postgres pool error", err.message));
const redis = createClient({ url: process.env.REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: (n) => Math.min(n * 100, 2000), ...redisTls } });
redis.on("error", (err) => log("redis error", err.message));

function log(...parts) {
  console.log(new Date().toISOString(), `[${color}]`, ...parts);
}

// --- What a framework decides from the request ------------------------------

/** Rails' default trusted proxies: loopback and the private ranges. */
function trustedPeer(address) {
  const a = (address || "").replace(/^::ffff:/, "");
  return /^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(a) || a === "::1" || /^f[cd]/i.test(a);
}

function requestOrigin(req) {
  const forwarded = trustedPeer(req.socket.remoteAddress) ? String(req.headers["x-forwarded-proto"] || "").split(",")[0].trim() : "";
  const proto = forwarded === "https" ? "https" : "http";
  return { proto, host: String(req.headers.host || ""), origin: `${proto}://${req.headers.host || ""}` };
}

function hostAllowed(req) {
  const name = String(req.headers.host || "").replace(/:\d+$/, "").toLowerCase();
  return allowedHosts.length === 0 || allowedHosts.includes(name);
}

function cookies(req) {
  return Object.fromEntries(
    String(req.headers.cookie || "")
      .split(";")
      .map((c) => c.trim().split("="))
      .filter((kv) => kv.length === 2),
  );
}

const sign = (value) => crypto.createHmac("sha256", secret).update(value).digest("hex").slice(0, 32);
const csrfToken = (session) => sign(`csrf:${session}`);

/** The session id from a valid signed cookie, or undefined. */
function session(req) {
  const raw = cookies(req)._session;
  if (!raw) return undefined;
  const [id, mac] = raw.split(".");
  return id && mac && mac === sign(id) ? id : undefined;
}

/** Rails' and Django's same-origin check: Origin, else Referer, must be this request's origin. */
function sameOrigin(req) {
  const { origin } = requestOrigin(req);
  if (req.headers.origin) return req.headers.origin === origin;
  if (req.headers.referer) {
    try {
      return new URL(req.headers.referer).origin === origin;
    } catch {
      return false;
    }
  }
  return false;
}

// --- Responses --------------------------------------------------------------

const APP_CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; form-action 'self'; frame-ancestors 'self'";

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

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function page(req, res, id, headers) {
  const notes = await pool.query("SELECT body FROM notes ORDER BY id DESC LIMIT 5");
  const token = csrfToken(id);
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Switchyard web app (${color})</title>
<meta name="csrf-token" content="${token}">
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script></head>
<body><h1>Notes</h1><p id="status">js did not run</p><p id="colour">${color}</p>
<form method="post" action="/notes"><input type="hidden" name="authenticity_token" value="${token}">
<input name="body" id="note"><button type="submit" id="save">Save</button></form>
<ul id="notes">${notes.rows.map((r) => `<li>${escapeHtml(r.body)}</li>`).join("")}</ul></body></html>`;
  send(res, 200, html, { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": APP_CSP, "Cache-Control": "no-store", ...headers });
}

const CSS = "body { background-color: rgb(1, 2, 3); color: rgb(250, 250, 250); }\n";
// The page's own script: proves it ran, and gives the browser test a WebSocket and an upload to drive.
const JS = `"use strict";
document.getElementById("status").textContent = "js ran";
window.switchyardEcho = (message) => new Promise((resolve, reject) => {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/cable");
  ws.onopen = () => ws.send(message);
  ws.onmessage = (e) => { resolve(e.data); ws.close(); };
  ws.onerror = () => reject(new Error("websocket error"));
});
window.switchyardUpload = async (megabytes) => {
  const bytes = new Uint8Array(megabytes * 1024 * 1024);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) % 251;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const res = await fetch("/upload", { method: "POST", body: bytes, headers: { "X-CSRF-Token": token, "Content-Type": "application/octet-stream" } });
  return { status: res.status, body: await res.text() };
};
window.switchyardEvents = (count) => new Promise((resolve) => {
  const got = []; const source = new EventSource("/events");
  source.onmessage = (e) => { got.push(e.data); if (got.length === count) { source.close(); resolve(got); } };
});
`;

// --- Routes -----------------------------------------------------------------

async function health() {
  try {
    await pool.query("SELECT 1");
    if (!redis.isReady) return "redis: not connected";
    await redis.ping();
    return undefined;
  } catch (err) {
    return err.message;
  }
}

async function route(req, res) {
  const url = new URL(req.url, "http://app");
  // Django: any Host not in ALLOWED_HOSTS is refused before anything else.
  if (!hostAllowed(req)) return send(res, 400, `Invalid HTTP_HOST header: '${String(req.headers.host || "").slice(0, 100)}'. You may need to add it to ALLOWED_HOSTS.\n`);
  // Rails' force_ssl: a plain request is redirected to HTTPS, the health check too.
  const { proto, host } = requestOrigin(req);
  if (forceSsl && proto !== "https") return send(res, 301, "Moved Permanently\n", { Location: `https://${host.replace(/:\d+$/, "")}${url.pathname}${url.search}` });

  if (url.pathname === "/health") {
    const problem = await health();
    return send(res, problem ? 500 : 200, problem ? { status: "unhealthy", detail: problem } : { status: "ok", color });
  }
  if (url.pathname === "/version") return send(res, 200, { color, image });
  if (url.pathname === "/assets/app.css") return send(res, 200, CSS, { "Content-Type": "text/css; charset=utf-8", "Cache-Control": "public, max-age=60" });
  if (url.pathname === "/assets/app.js") return send(res, 200, JS, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=60" });
  if (url.pathname === "/whoami") {
    // What the framework sees: its idea of the client and the scheme (request.remote_ip, request.ssl?).
    const chain = trustedPeer(req.socket.remoteAddress) ? String(req.headers["x-forwarded-for"] || "").split(",").map((s) => s.trim()).filter(Boolean) : [];
    return send(res, 200, { peer: req.socket.remoteAddress, clientIp: chain.reverse().find((a) => !trustedPeer(a)) ?? chain[chain.length - 1] ?? req.socket.remoteAddress, proto, host, forwardedFor: req.headers["x-forwarded-for"] ?? null });
  }

  let id = session(req);
  const fresh = !id;
  if (!id) id = crypto.randomBytes(12).toString("hex");
  const setCookie = fresh ? { "Set-Cookie": `_session=${id}.${sign(id)}; Path=/; HttpOnly; SameSite=Lax${proto === "https" ? "; Secure" : ""}` } : {};

  if (url.pathname === "/" && req.method === "GET") return page(req, res, id, setCookie);
  if (url.pathname === "/notes" && req.method === "POST") {
    const form = new URLSearchParams(await readBody(req, 65536));
    if (fresh || form.get("authenticity_token") !== csrfToken(id)) return send(res, 403, "CSRF verification failed: the token is missing or does not belong to this session.\n");
    if (!sameOrigin(req)) return send(res, 403, `CSRF verification failed: HTTP Origin header (${req.headers.origin ?? "none"}) didn't match request.base_url (${requestOrigin(req).origin}).\n`);
    await pool.query("INSERT INTO notes (body, color) VALUES ($1, $2)", [String(form.get("body") || "").slice(0, 200), color]);
    return send(res, 303, "See Other\n", { Location: "/" });
  }
  if (url.pathname === "/upload" && req.method === "POST") {
    if (fresh || req.headers["x-csrf-token"] !== csrfToken(id) || !sameOrigin(req)) {
      req.resume();
      return send(res, 403, "CSRF verification failed\n");
    }
    const hash = crypto.createHash("sha256");
    let bytes = 0;
    for await (const chunk of req) {
      bytes += chunk.length;
      if (bytes > maxUpload) return send(res, 413, "too large\n");
      hash.update(chunk);
    }
    return send(res, 200, { sha256: hash.digest("hex"), bytes, color });
  }
  if (url.pathname === "/events") {
    // No X-Accel-Buffering header: the proxy must stream it because the client asked for a stream.
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Switchyard-Color": color });
    let n = 0;
    const timer = setInterval(() => res.write(`data: ${color} ${++n}\n\n`), 200);
    req.on("close", () => clearInterval(timer));
    return;
  }
  if (url.pathname === "/visits" && req.method === "POST") {
    const row = await pool.query("INSERT INTO notes (body, color) VALUES ($1, $2) RETURNING id", [(await readBody(req, 4096)).slice(0, 200), color]);
    const counter = await redis.incr("switchyard:webapp:visits");
    return send(res, 201, { id: Number(row.rows[0].id), counter, color });
  }
  // A background job for the worker (worker.js): a Redis list, as Sidekiq, BullMQ and Celery keep theirs.
  if (url.pathname === "/jobs" && req.method === "POST") {
    const ms = Math.max(0, Math.min(Number(url.searchParams.get("ms")) || 20, 10000));
    const id = crypto.randomUUID();
    await redis.lPush(JOB_QUEUE, JSON.stringify({ id, ms }));
    await redis.incr(JOB_COUNTER);
    return send(res, 201, { id, color });
  }
  if (url.pathname === "/visits" && req.method === "GET") {
    const last = await pool.query("SELECT id FROM notes ORDER BY id DESC LIMIT 1");
    const counter = Number((await redis.get("switchyard:webapp:visits")) || 0);
    return send(res, 200, { lastId: Number(last.rows[0]?.id ?? 0), counter, color });
  }
  return send(res, 404, "Not Found\n");
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > limit) reject(new Error("body too large"));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

// --- Server, WebSockets, shutdown -------------------------------------------

let draining = false;
const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    log("request failed", req.method, req.url, err.message);
    if (!res.headersSent) send(res, 500, { error: err.message });
    else res.destroy();
  });
});
server.keepAliveTimeout = 65000; // longer than nginx's upstream idle time, so the app never closes first

// Action Cable's checks: an allowed host, and an Origin of this host.
const sockets = new WebSocketServer({ noServer: true });
server.on("upgrade", (req, socket, head) => {
  const { origin } = requestOrigin(req);
  if (draining || !hostAllowed(req) || req.url !== "/cable" || (req.headers.origin && req.headers.origin !== origin)) {
    socket.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n");
    return;
  }
  sockets.handleUpgrade(req, socket, head, (ws) => {
    ws.on("message", (data) => ws.send(`${color}:${data}`));
  });
});

process.on("SIGTERM", () => {
  if (draining) return;
  draining = true;
  log(`SIGTERM: closing ${sockets.clients.size} websocket(s) (1001 going away), draining in-flight requests`);
  for (const ws of sockets.clients) ws.close(1001, "going away: this release is retiring");
  server.close(() => {
    log("drained; exiting");
    setTimeout(() => process.exit(0), 2000).unref();
    Promise.allSettled([pool.end(), redis.isOpen ? redis.disconnect() : Promise.resolve()]).then(() => process.exit(0));
  });
  server.closeIdleConnections();
  // Streams (server-sent events) never end on their own.
  setTimeout(() => server.closeAllConnections(), 3000).unref();
});

async function ensureSchema() {
  for (let attempt = 1; ; attempt++) {
    try {
      await pool.query("CREATE TABLE IF NOT EXISTS notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, color TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())");
      return;
    } catch (err) {
      if (attempt >= 30) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function main() {
  if (!secret) log("SECRET_KEY_BASE is not set: sessions do not survive a release");
  await redis.connect().catch((err) => log("redis connect failed, retrying in background", err.message));
  await ensureSchema().catch((err) => log("schema not ready yet", err.message));
  server.listen(port, () => log(`listening on :${port} image=${image} allowed hosts: ${allowedHosts.join(", ") || "any"}${forceSsl ? ", force_ssl" : ""}`));
}

main();
