// data-tls: the published Postgres and Redis of a stack of several hosts speak
// TLS with a certificate the stack makes, for data.address, on the data host.
//
// The key is made here, written into the services' own volumes (Postgres's
// data directory, Redis's /data) and never leaves the data host's containers:
// it is in no input, no state and no output. The certificate is public; it is
// this step's last output lines, and the other hosts' containers get it as
// their CA file (lib/datatls.ts). Both services take it at runtime, with no
// restart: Postgres by ALTER SYSTEM and a reload, Redis by CONFIG SET (its
// command also turns TLS on at a restart when the files are there).
//
// Postgres's pg_hba.conf gets one block at its top when REQUIRE_TLS is 1: the
// backend network (this host's own containers) and loopback as before, every
// other address TLS only (a clear connection is rejected).
//
// env: DATA_ADDRESS (the certificate's IP), POSTGRES_CONTAINER and/or
//      REDIS_CONTAINER, BACKEND_SUBNET (a CIDR; with REQUIRE_TLS), REQUIRE_TLS
//      (1 or 0), and the re-run key's container ids
import { createPrivateKey, generateKeyPairSync, KeyObject, X509Certificate } from "crypto";
import { isIP } from "net";
import { selfSignedCertificate } from "../lib/certificate";
import { DATA_TLS, certificateUsable } from "../lib/datatls";
import { Step } from "./step";

/** Writes stdin to $1/$2 (mode 600, the container's user), by a rename. */
const INSTALL = 'set -e; umask 077; mkdir -p "$1"; cat > "$1/$2.new"; mv -f "$1/$2.new" "$1/$2"';

/** pg_hba.conf's Switchyard block, replaced whole: $1 "1" to require TLS beyond $2 (the backend subnet) and loopback. */
const PG_HBA = `set -e
f="$PGDATA/pg_hba.conf"
sed '/^# switchyard-tls begin/,/^# switchyard-tls end/d' "$f" > "$f.new"
if [ "$1" = 1 ]; then
  { printf '# switchyard-tls begin: other hosts reach this database over TLS only (data-tls step)\\n'
    printf 'host all all 127.0.0.1/32 scram-sha-256\\nhost all all ::1/128 scram-sha-256\\nhost all all %s scram-sha-256\\n' "$2"
    printf 'hostnossl all all all reject\\n# switchyard-tls end\\n'
    cat "$f.new"; } > "$f.tmp"
  mv -f "$f.tmp" "$f.new"
fi
mv -f "$f.new" "$f"`;

const CIDR_RE = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

interface Pair {
    certificate: string;
    key: KeyObject;
}

async function dataTls(step: Step): Promise<void> {
    const env = step.require("DATA_ADDRESS", "REQUIRE_TLS");
    const pg = step.env.POSTGRES_CONTAINER;
    const redis = step.env.REDIS_CONTAINER;
    if (!isIP(env.DATA_ADDRESS)) step.fail(`DATA_ADDRESS '${env.DATA_ADDRESS}' is not an IP address`);
    const require = env.REQUIRE_TLS === "1";
    const subnet = step.env.BACKEND_SUBNET ?? "";
    if (require && !CIDR_RE.test(subnet)) step.fail(`BACKEND_SUBNET '${subnet}' is not a CIDR (REQUIRE_TLS=1 needs the backend network's subnet)`);
    if (!pg && !redis) step.fail("neither POSTGRES_CONTAINER nor REDIS_CONTAINER is set: no data service to give TLS");
    for (const c of [pg, redis]) if (c) await step.waitRunning(c, 120);

    // The pair in service stays while it covers the address and is far from expiry.
    const [holder, dir] = pg ? [pg, DATA_TLS.postgresDir] : [redis!, DATA_TLS.redisDir];
    const read = async (file: string) => {
        const r = await step.docker.run(["exec", holder, "cat", `${dir}/${file}`]);
        return r.status === 0 ? r.stdout : "";
    };
    let pair = inService(await read("server.crt"), await read("server.key"), env.DATA_ADDRESS);
    if (pair) step.say(`keeping the certificate for ${DATA_TLS.hostName} at ${env.DATA_ADDRESS} (valid to ${new X509Certificate(pair.certificate).validTo})`);
    else {
        const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
        const now = Date.now();
        const certificate = selfSignedCertificate({
            key: privateKey,
            commonName: `switchyard data ${env.DATA_ADDRESS}`,
            ipAddresses: [env.DATA_ADDRESS],
            dnsNames: [DATA_TLS.hostName],
            notBefore: new Date(now - 5 * 60_000),
            notAfter: new Date(now + DATA_TLS.validDays * 86_400_000),
        });
        pair = { certificate, key: privateKey };
        step.say(`made a certificate for ${DATA_TLS.hostName} at ${env.DATA_ADDRESS}, valid ${DATA_TLS.validDays} days (an EC P-256 key that stays on this host)`);
    }
    const keyPem = pair.key.export({ type: "pkcs8", format: "pem" }) as string;

    if (pg) {
        for (const [file, content] of [["server.key", keyPem], ["server.crt", pair.certificate]]) {
            const w = await step.docker.run(["exec", "-i", "-u", "postgres", pg, "sh", "-c", INSTALL, "sh", DATA_TLS.postgresDir, file], content);
            if (w.status !== 0) step.fail(`could not write ${file} into ${pg}: ${w.stderr.trim()}`);
        }
        const sql = [
            `ALTER SYSTEM SET ssl_cert_file = '${DATA_TLS.postgresDir}/server.crt'`,
            `ALTER SYSTEM SET ssl_key_file = '${DATA_TLS.postgresDir}/server.key'`,
            "ALTER SYSTEM SET ssl = on",
        ];
        const hba = await step.docker.run(["exec", "-u", "postgres", pg, "sh", "-c", PG_HBA, "sh", require ? "1" : "0", subnet]);
        if (hba.status !== 0) step.fail(`could not write pg_hba.conf in ${pg}: ${hba.stderr.trim()}`);
        const set = await step.docker.run(["exec", "-u", "postgres", pg, "psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q", ...sql.flatMap((s) => ["-c", s]), "-c", "SELECT pg_reload_conf()"]);
        if (set.status !== 0) step.fail(`Postgres in ${pg} refused the TLS settings: ${set.stderr.trim()}`);
        // A reload is asynchronous: a TLS connection over TCP, checked against the certificate, says it took.
        const probe = `PGPASSWORD="$POSTGRES_PASSWORD" psql "host=127.0.0.1 dbname=postgres user=$POSTGRES_USER sslmode=verify-ca sslrootcert=${DATA_TLS.postgresDir}/server.crt" -Atc "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"`;
        let ok = false;
        for (const t0 = Date.now(); !ok && Date.now() - t0 < 10_000; ) {
            ok = (await step.docker.run(["exec", "-u", "postgres", pg, "sh", "-c", probe])).stdout.trim() === "t";
            if (!ok) await new Promise((r) => setTimeout(r, 300));
        }
        if (!ok) step.fail(`Postgres in ${pg} does not answer TLS after its reload (see docker logs ${pg})`);
        step.say(`Postgres speaks TLS${require ? `; from outside ${subnet} and loopback, TLS only` : " (clear connections still accepted: REQUIRE_TLS=0)"}`);
    }
    if (redis) {
        for (const [file, content] of [["server.key", keyPem], ["server.crt", pair.certificate]]) {
            const w = await step.docker.run(["exec", "-i", redis, "sh", "-c", INSTALL, "sh", DATA_TLS.redisDir, file], content);
            if (w.status !== 0) step.fail(`could not write ${file} into ${redis}: ${w.stderr.trim()}`);
        }
        const f = (n: string) => `${DATA_TLS.redisDir}/${n}`;
        const cli = (...args: string[]) => step.docker.run(["exec", redis, "sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" exec redis-cli "$@"', "sh", ...args]);
        const set = await cli("CONFIG", "SET", "tls-cert-file", f("server.crt"), "tls-key-file", f("server.key"), "tls-ca-cert-file", f("server.crt"), "tls-auth-clients", "no", "tls-port", String(DATA_TLS.redisTlsPort));
        if (set.status !== 0 || set.stdout.trim() !== "OK") step.fail(`Redis in ${redis} refused the TLS settings: ${(set.stdout + set.stderr).trim()}`);
        const ping = await cli("--tls", "--cacert", f("server.crt"), "-h", "127.0.0.1", "-p", String(DATA_TLS.redisTlsPort), "PING");
        if (ping.stdout.trim() !== "PONG") step.fail(`Redis in ${redis} does not answer TLS on port ${DATA_TLS.redisTlsPort}: ${(ping.stdout + ping.stderr).trim()}`);
        step.say(`Redis speaks TLS on port ${DATA_TLS.redisTlsPort} (the published one)`);
    }
    // The certificate, for the other hosts' containers (the program reads it from this output).
    process.stdout.write(pair.certificate);
}

/** The pair a container holds, when it is one and covers the address for long enough; otherwise none (a new one is made). */
function inService(certificate: string, keyPem: string, address: string): Pair | undefined {
    if (!certificate || !keyPem) return undefined;
    try {
        const key = createPrivateKey(keyPem);
        return certificateUsable(certificate, key, address) ? { certificate, key } : undefined;
    } catch {
        return undefined;
    }
}

if (require.main === module) void Step.run("data-tls", dataTls);
