"""The ACME sidecar of components/acme.ts: certbot, in a loop.

Obtains the proxy's certificate with HTTP-01 (certbot writes each answer into
the webroot the proxy serves on its live listener) and renews it once two
thirds of its lifetime have passed, or at once when the names on it are not
the ones asked for. A new certificate replaces the proxy's file by a rename,
and nginx reads that file at each handshake: no `pulumi up`, no reload. The
key stays the same across renewals (`--reuse-key`): nginx opens the file twice
per handshake, once for the chain and once for the key, and a rename between
the two opens would pair the old chain with a new key and fail that handshake
(seen under load in the e2e). To rotate the key, remove the acme-state volume:
the next certificate then gets a new one (one-off, at a quiet moment). A
failed attempt is retried every check and reported to the stack's webhook
(the first of a run of failures, then hourly); the certificate in place keeps
serving meanwhile.

Runs in any image with certbot and Python 3 (certbot/certbot, Debian's
certbot): the standard library and `cryptography`, which certbot needs itself.
Settings come as environment variables, checked by the config schema first.

`python3 renew.py --due NOT_BEFORE NOT_AFTER NOW` (epoch seconds) exits 0 when
a renewal is due and 1 when it is not: the rule, for the tests.
"""
import calendar
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

OUT = "/acme-out"  # shared with the proxy (read-only there): server.pem and the webroot
STATE = "/acme-state"  # certbot's account and certificates: this container's alone
LINEAGE = "switchyard"


def log(message):
    print(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "switchyard-acme:", message, flush=True)


def due(not_before, not_after, now):
    """A renewal is due once two thirds of the certificate's lifetime have passed."""
    return now >= not_before + (not_after - not_before) * 2 / 3


def read_certificate(path):
    """(not before, not after, sorted DNS names) of a PEM certificate, or None when there is none."""
    from cryptography import x509

    try:
        with open(path, "rb") as f:
            cert = x509.load_pem_x509_certificates(f.read())[0] if hasattr(x509, "load_pem_x509_certificates") else x509.load_pem_x509_certificate(f.read())
    except FileNotFoundError:
        return None
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    return calendar.timegm(cert.not_valid_before.utctimetuple()), calendar.timegm(cert.not_valid_after.utctimetuple()), sorted(names)


def install(live, uid):
    """Chain and key in one file for the nginx workers' user only, swapped in by a rename.
    What was installed is remembered in STATE: the file itself is the workers' alone (0400)."""
    with open(os.path.join(live, "fullchain.pem"), "rb") as f:
        chain = f.read()
    with open(os.path.join(live, "privkey.pem"), "rb") as f:
        key = f.read()
    tmp = os.path.join(OUT, ".server.pem.new")
    if os.path.exists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as f:
        f.write(chain + (b"" if chain.endswith(b"\n") else b"\n") + key)
    os.chown(tmp, uid, uid)
    os.rename(tmp, os.path.join(OUT, "server.pem"))
    with open(os.path.join(STATE, "installed.pem"), "wb") as f:
        f.write(chain)


def installed_is(live):
    """Whether the proxy's file holds the certificate certbot holds now."""
    try:
        with open(os.path.join(STATE, "installed.pem"), "rb") as a, open(os.path.join(live, "fullchain.pem"), "rb") as b:
            return os.path.exists(os.path.join(OUT, "server.pem")) and a.read() == b.read()
    except FileNotFoundError:
        return False


def obtain(env, domains):
    """certbot certonly for `domains`; (succeeded, the last lines of its output)."""
    args = [
        "certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
        "--email", env["SWITCHYARD_ACME_EMAIL"], "--server", env["SWITCHYARD_ACME_SERVER"],
        "--webroot", "--webroot-path", os.path.join(OUT, "webroot"), "--preferred-challenges", "http",
        "--cert-name", LINEAGE, "--force-renewal", "--reuse-key",
        "--config-dir", os.path.join(STATE, "config"), "--work-dir", os.path.join(STATE, "work"), "--logs-dir", os.path.join(STATE, "logs"),
    ]
    for d in domains:
        args += ["--domain", d]
    if env.get("SWITCHYARD_ACME_EAB_KID"):
        args += ["--eab-kid", env["SWITCHYARD_ACME_EAB_KID"], "--eab-hmac-key", env["SWITCHYARD_ACME_EAB_HMAC"]]
    run = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    lines = [l for l in run.stdout.splitlines() if l.strip()]
    # The HMAC key is in the arguments, never in the output; say so by not echoing arguments at all.
    return run.returncode == 0, lines[-6:]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """The webhook URL was checked (https, no link-local or metadata address); where it redirects was not."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"the webhook redirected ({code}); not followed", headers, fp)


def notify(env, text):
    url = env.get("SWITCHYARD_NOTIFY_URL")
    if not url:
        return
    stack = env.get("SWITCHYARD_STACK", "")
    body = {"text": f":x: Switchyard {stack}: {text}", "kind": "failure", "stack": stack, "step": "acme-renew", "error": text, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.build_opener(_NoRedirects()).open(request, timeout=5).close()
        log("notified the webhook")
    except Exception as err:  # a failed notification never stops the renewals
        log(f"the webhook did not take the notification: {type(err).__name__}")


def main(env):
    domains = sorted(env["SWITCHYARD_ACME_DOMAINS"].split())
    check_seconds = int(env["SWITCHYARD_ACME_CHECK_SECONDS"])
    uid = int(env.get("SWITCHYARD_WORKER_UID", "65534"))
    if env.get("SWITCHYARD_ACME_CA"):
        with open("/tmp/acme-ca.pem", "w") as f:
            f.write(env["SWITCHYARD_ACME_CA"])
        os.environ["REQUESTS_CA_BUNDLE"] = "/tmp/acme-ca.pem"
    os.makedirs(os.path.join(OUT, "webroot"), exist_ok=True)
    os.chmod(OUT, 0o755)
    os.chmod(os.path.join(OUT, "webroot"), 0o755)
    live = os.path.join(STATE, "config", "live", LINEAGE)
    failures, noticed = 0, 0.0
    log(f"certificate for {' '.join(domains)} from {env['SWITCHYARD_ACME_SERVER']}; checking every {check_seconds} s")
    while True:
        try:
            failures, noticed = check(env, domains, live, uid, failures, noticed)
        except Exception as err:  # never stop renewing over one bad round: say it, count it, go on
            failures += 1
            log(f"check failed: {type(err).__name__}: {err}")
        time.sleep(check_seconds)


def check(env, domains, live, uid, failures, noticed):
    """One round: install what certbot holds if the proxy lacks it, renew when due. Returns (failures, last notice)."""
    check_seconds = int(env["SWITCHYARD_ACME_CHECK_SECONDS"])
    held = read_certificate(os.path.join(live, "cert.pem"))
    if held and not installed_is(live):
        install(live, uid)  # a certificate certbot holds but the proxy's volume lacks (a new volume)
        log(f"installed the certificate valid until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(held[1]))}")
    now = time.time()
    why = "no certificate yet" if not held else "the names changed" if held[2] != domains else "two thirds of its lifetime passed" if due(held[0], held[1], now) else None
    if not why:
        return failures, noticed
    log(f"requesting a certificate for {' '.join(domains)}: {why}")
    ok, tail = obtain(env, domains)
    if ok:
        install(live, uid)
        fresh = read_certificate(os.path.join(live, "cert.pem"))
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(fresh[1]))
        after = f"; renewed after {failures} failed attempt(s)" if failures else ""
        log(f"installed the new certificate (valid {fresh[1] - fresh[0]} s, until {until}); the proxy uses it from its next handshake{after}")
        return 0, noticed
    failures += 1
    for line in tail:
        log(f"| {line}")
    left = f"; the certificate in place expires {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(held[1]))}" if held else ""
    summary = f"certificate for {' '.join(domains)} not {'renewed' if held else 'obtained'} (attempt {failures}, retried every {check_seconds} s){left}: {tail[-1] if tail else 'certbot failed'}"
    log(summary)
    if failures == 1 or now - noticed >= 3600:
        notify(env, summary)
        noticed = now
    return failures, noticed


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--due":
        sys.exit(0 if due(*map(float, sys.argv[2:5])) else 1)
    main(os.environ)
