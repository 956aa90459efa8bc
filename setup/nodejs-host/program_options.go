// Switchyard set-up: added to the nodejs language host that `npm run setup`
// builds from github.com/pulumi/pulumi/sdk/v3@v3.68.0 (see forward_unknown.go).
// That host takes `typescript` only as its own flag (default true), so it runs
// every program through ts-node, loading the TypeScript compiler (about 1.7 s
// here) even when Pulumi.yaml says `typescript: false`; a current host reads
// the project's runtime options. This reads them the same way: a program
// whose Pulumi.yaml sets `runtime.options.typescript: false` runs as plain
// node. A project it cannot read keeps the host's default.
// A Pulumi CLI installed the usual way ships a current host and needs none of it.
package main

import "github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

// programTypeScript says whether the project in pwd wants ts-node.
func programTypeScript(pwd string, hostDefault bool) bool {
	path, err := workspace.DetectProjectPathFrom(pwd)
	if err != nil || path == "" {
		return hostDefault
	}
	project, err := workspace.LoadProject(path)
	if err != nil {
		return hostDefault
	}
	if ts, ok := project.Runtime.Options()["typescript"].(bool); ok {
		return ts
	}
	return hostDefault
}
