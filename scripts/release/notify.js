"use strict";
// Posts one release notification to a webhook: a Slack-compatible body (its
// `text` field) plus the fields a program would read. The URL comes from the
// environment (NOTIFY_URL), never from the command line, and never appears in
// what this prints: a Slack webhook URL is itself the credential.
//
// usage: NOTIFY_URL=... node notify.js KIND STACK STEP COLOUR FROM_IMAGE TO_IMAGE SUMMARY
// Bounded: 4 s per attempt, one retry. Always exits 0: a failed notification
// is logged and never fails or blocks the release.
const [kind, stack, step, colour, fromImage, toImage, summary] = process.argv.slice(2);
const url = process.env.NOTIFY_URL || "";
const ATTEMPT_MS = 4000;

function firstLine(text, max) {
  const line = String(text || "").split("\n").find((l) => l.trim()) || "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function redact(text) {
  return url ? String(text).split(url).join("[webhook]") : String(text);
}

// A failure's text is the tail of an app's or a migration's output, which
// often prints its connection string: credentials in a URL
// (postgres://app:secret@db) or a libpq/ODBC key (password=secret) are masked
// before anything leaves this machine.
function maskCredentials(text) {
  return String(text)
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:@\/]*):[^\s@\/]*@/gi, "$1:[redacted]@")
    .replace(/\b(password|passwd|pwd|secret|token)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s;&,]+)/gi, "$1$2[redacted]");
}

const error = maskCredentials(String(summary || "")).slice(0, 2000);
const text =
  kind === "rollback"
    ? `:leftwards_arrow_with_hook: Switchyard ${stack}: rollback to ${colour} (${toImage}, was ${fromImage}). ${firstLine(error, 300)}`
    : `:x: Switchyard ${stack}: ${step} failed for ${colour || "the release"} (${fromImage} -> ${toImage}); live traffic stays where it was. ${firstLine(error, 300)}`;
const message = { text, kind, stack, step, colour, fromImage, toImage, error, time: new Date().toISOString() };

async function post() {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(message),
    signal: AbortSignal.timeout(ATTEMPT_MS),
    // The URL was checked (https, no link-local or metadata address); where it
    // redirects was not, so a redirect is a failure, never followed.
    redirect: "error",
  });
  if (res.status < 200 || res.status > 299) throw new Error(`webhook answered HTTP ${res.status}`);
}

async function main() {
  if (!/^https?:\/\//.test(url)) {
    console.log("notification not sent: no http(s) webhook URL");
    return;
  }
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await post();
      console.log(`notified the webhook: ${kind} of ${step}`);
      return;
    } catch (err) {
      const why = redact(err && err.cause ? `${err.message} (${err.cause.code || err.cause.message})` : err.message);
      console.log(`notification attempt ${attempt} of 2 failed: ${why}${attempt === 1 ? "; retrying once" : "; the release is not affected"}`);
    }
  }
}

main().catch((err) => console.log(`notification failed: ${redact(err.message)}; the release is not affected`));
