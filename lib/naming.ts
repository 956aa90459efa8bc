// The names a stack's Docker objects get; the program, the ops commands and
// the tests share them. No SDK here: the operator commands load this and
// start in a fraction of a second.

export function stackNames(project: string, stack: string) {
    const namePrefix = `${project}-${stack}`;
    return {
        /** Value of the switchyard.stack label: "switchyard/staging". */
        stackLabel: `${project}/${stack}`,
        /** Prefix of container, network and volume names: "switchyard-staging". */
        namePrefix,
        proxyContainer: `${namePrefix}-proxy`,
    };
}
