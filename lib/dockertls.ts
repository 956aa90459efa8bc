// The client TLS material of a tcp:// Docker host, where the docker CLI reads it.
//
// The docker CLI, which the host reader, the release steps, the delete guard
// and the ops commands run, reads it only from files: DOCKER_CERT_PATH/{ca,cert,key}.pem
// with DOCKER_TLS_VERIFY=1, as `docker context` keeps it under ~/.docker; the
// Docker provider reads the same files (its certPath). They live under
// SWITCHYARD_HOME (default ~/.switchyard), 0700 directories and 0600 files, one
// directory per stack and host, written by every preview and up from the
// secret config. Steps get only the directory's relative name
// (SWITCHYARD_DOCKER_TLS), never the material or this machine's home, so their
// inputs are the same on every machine that deploys the stack.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface ClientTls {
    ca: string;
    certificate: string;
    key: string;
}

/** Where the material of every stack's tcp:// hosts is kept on this machine. */
export function dockerTlsRoot(env: NodeJS.ProcessEnv = process.env): string {
    return path.join(env.SWITCHYARD_HOME || path.join(os.homedir(), ".switchyard"), "docker-tls");
}

/** The directory's name under the root: `<project>-<stack>/<host>` (the stack's namePrefix and hosts[].name). */
export function dockerTlsName(namePrefix: string, hostName: string): string {
    return `${namePrefix}/${hostName}`;
}

/**
 * Writes the material for one host (each file replaced whole, by a rename, and
 * only when it changed) and returns the docker CLI's environment for it.
 */
export function writeDockerTls(name: string, tls: ClientTls, env: NodeJS.ProcessEnv = process.env): { DOCKER_CERT_PATH: string; DOCKER_TLS_VERIFY: string } {
    const dir = path.join(dockerTlsRoot(env), name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    for (const [file, pem] of [["ca.pem", tls.ca], ["cert.pem", tls.certificate], ["key.pem", tls.key]] as const) {
        const target = path.join(dir, file);
        const text = pem.endsWith("\n") ? pem : `${pem}\n`;
        if (fs.existsSync(target) && fs.readFileSync(target, "utf8") === text) continue;
        const partial = path.join(dir, `.${file}.${process.pid}`);
        fs.writeFileSync(partial, text, { mode: 0o600 });
        fs.renameSync(partial, target);
    }
    return dockerTlsEnv(name, env);
}

/**
 * Removes the material of this stack's hosts that no longer have any (a host
 * left hosts, or moved to ssh://): a client key must not outlive the config
 * that named it. Returns the hosts whose files were removed.
 */
export function pruneDockerTls(namePrefix: string, keepHosts: string[], env: NodeJS.ProcessEnv = process.env): string[] {
    const dir = path.join(dockerTlsRoot(env), namePrefix);
    if (!fs.existsSync(dir)) return [];
    const removed = fs.readdirSync(dir).filter((host) => !keepHosts.includes(host));
    for (const host of removed) fs.rmSync(path.join(dir, host), { recursive: true, force: true });
    return removed;
}

/** The docker CLI's environment for a host whose material was written. */
export function dockerTlsEnv(name: string, env: NodeJS.ProcessEnv = process.env): { DOCKER_CERT_PATH: string; DOCKER_TLS_VERIFY: string } {
    return { DOCKER_CERT_PATH: path.join(dockerTlsRoot(env), name), DOCKER_TLS_VERIFY: "1" };
}
