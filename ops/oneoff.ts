// A one-off command in the live release (npm run exec), as pure functions:
// from one running replica of the colour, read with `docker inspect`, the
// container to create. Its image, variables (secrets included), user and
// networks are the replica's; every variable goes to docker by name only
// (`-e NAME`, the value in docker's own environment), so no value is on any
// command line; it is labelled role "job" (never routed to, never healed,
// never counted as a replica) and removed when it ends. Tested in
// test/unit/oneoff.test.ts; run against a real stack in test/scripts/status.test.ts.

/** The parts of `docker inspect` of a replica the one-off copies. */
export interface ReplicaInspect {
    Name: string;
    Image: string;
    Config: { Env?: string[] | null; User?: string; Labels?: Record<string, string> | null; WorkingDir?: string };
    HostConfig?: { ExtraHosts?: string[] | null };
    NetworkSettings: { Networks?: Record<string, unknown> | null };
}

export interface OneOffPlan {
    /** `docker create` arguments: nothing in them is a variable's value. */
    create: string[];
    /** The networks to connect after create, beyond the first. */
    connect: string[];
    /** The variables' values, for docker's own environment. */
    env: Record<string, string>;
}

/** Names docker's CLI reads from its own environment: a variable of the app by these names would change what docker does. */
const DOCKER_CLI_VARS = /^(DOCKER_|BUILDKIT_)/;

export function oneOffPlan(r: ReplicaInspect, o: { name: string; stack: string; colour: string; tty: boolean; command: string[] }): OneOffPlan {
    if (o.command.length === 0) throw new Error("no command given: npm run exec -- [--stack NAME] -- COMMAND [ARGS…]");
    const env: Record<string, string> = {};
    const names: string[] = [];
    for (const kv of r.Config.Env ?? []) {
        const at = kv.indexOf("=");
        if (at <= 0) continue;
        const name = kv.slice(0, at);
        if (DOCKER_CLI_VARS.test(name)) throw new Error(`the replica has a variable named ${name}, which the docker CLI itself reads; rename it in the app's config`);
        env[name] = kv.slice(at + 1);
        names.push(name);
    }
    const networks = Object.keys(r.NetworkSettings.Networks ?? {}).sort();
    if (networks.length === 0) throw new Error(`${r.Name.replace(/^\//, "")} is on no network: the one-off could not reach Postgres or Redis`);
    const create = [
        "create", "--rm", "--name", o.name, "-i", ...(o.tty ? ["-t"] : []),
        "--label", `switchyard.stack=${o.stack}`, "--label", "switchyard.role=job", "--label", `switchyard.colour=${o.colour}`,
        "--network", networks[0],
        ...(r.Config.User ? ["--user", r.Config.User] : []),
        // Its /etc/hosts lines (the data host's name, for the data services over TLS: lib/datatls.ts).
        ...(r.HostConfig?.ExtraHosts ?? []).flatMap((h) => ["--add-host", h]),
        "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL",
        ...names.flatMap((n) => ["-e", n]),
        // The image by id: the very build the replica runs, even if its tag moved since; its own
        // entrypoint gets the command, as the migrations' does. "--" ends docker's options.
        "--", r.Image, ...o.command,
    ];
    return { create, connect: networks.slice(1), env };
}
