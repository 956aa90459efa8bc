// Two stacks whose Docker names coincide. A stack names every container,
// network and volume `<project>-<stack>-<part>`, so project "a-b" with stack
// "c" and project "a" with stack "b-c" both name a proxy "a-b-c-proxy". Docker
// refuses a second container of that name only after the stack's networks
// and volumes were made, and it hands a second stack the *existing* volume of
// that name, so the second stack would run on, back up, and one day delete,
// the first one's data. Every object carries its stack in the switchyard.stack
// label: one of ours with another stack's label means the names collide.

/** The parts of every name a stack gives its objects (`<namePrefix>-<part>`). */
const PARTS = /^(proxy|proxy-conf|proxy-state|proxy-acme|postgres|pgdata|redis|redisdata|acme|acme-state|backups|frontend|backend|data|app-(blue|green)-[0-9]+)$/;

export interface NamedObject {
    kind: "container" | "network" | "volume";
    name: string;
    /** Its switchyard.stack label; empty when it has none. */
    owner: string;
}

/**
 * The objects named as this stack's parts but labelled for another stack. An
 * object without the label is left alone: it may be one of this stack's from
 * before the label, and nothing says whose it is.
 */
export function foreignObjects(objects: NamedObject[], namePrefix: string, stackLabel: string): NamedObject[] {
    return objects.filter((o) => o.name.startsWith(`${namePrefix}-`) && PARTS.test(o.name.slice(namePrefix.length + 1)) && o.owner !== "" && o.owner !== stackLabel);
}

/** Why the stack cannot be deployed here, naming the objects, their stack, and the way out. */
export function collisionMessage(found: NamedObject[], namePrefix: string, stackLabel: string, where: string): string {
    const owners = [...new Set(found.map((o) => o.owner))];
    const listed = found.slice(0, 5).map((o) => `${o.kind} ${o.name} (stack ${o.owner})`).join(", ");
    return (
        `stack ${stackLabel} names its Docker objects ${namePrefix}-…, and on ${where} ${found.length === 1 ? "one of those names belongs" : "those names belong"} to ` +
        `${owners.length === 1 ? "stack" : "stacks"} ${owners.join(", ")}: ${listed}${found.length > 5 ? `, and ${found.length - 5} more` : ""}. ` +
        "Project and stack names joined by '-' coincide (\"a-b\"/\"c\" and \"a\"/\"b-c\"); deploying would share, and later delete, that stack's containers and data volumes. " +
        "Rename this stack (pulumi stack rename) or its project, or deploy it to another Docker host. Nothing was created or changed."
    );
}

/** Reads `name<TAB>label` lines, as `docker ps|network ls|volume ls --format` print them. */
export function parseNamed(kind: NamedObject["kind"], out: string): NamedObject[] {
    return out
        .split("\n")
        .filter(Boolean)
        .map((line) => {
            const [name, owner = ""] = line.split("\t");
            return { kind, name, owner: owner === "<no value>" ? "" : owner };
        });
}
