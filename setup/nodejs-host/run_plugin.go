// Switchyard set-up: added to the nodejs language host that `npm run setup`
// builds from github.com/pulumi/pulumi/sdk/v3@v3.68.0 (see forward_unknown.go).
// A current Pulumi CLI runs a TypeScript policy pack (`--policy-pack DIR`)
// through the language host's RunPlugin, which v3.68.0 answers with "not
// supported". This runs the pack the way Pulumi's own policy launcher does:
// node's @pulumi/pulumi/cmd/run-policy-pack in the pack's directory, with the
// engine's address, streaming its output back. Only policy packs ("analyzer"
// plugins) are run. A Pulumi CLI installed the usual way needs none of this.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// newerRunPluginFields reads what a newer CLI sends beyond v3.68.0's
// RunPluginRequest: info.program_directory (field 5, its field 2) and kind (6).
func newerRunPluginFields(req *pulumirpc.RunPluginRequest) (programDir, kind string) {
	fields := func(b []byte, each func(num protowire.Number, v []byte)) {
		for len(b) > 0 {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return
			}
			b = b[n:]
			if typ != protowire.BytesType {
				if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
					return
				}
				b = b[n:]
				continue
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return
			}
			b = b[n:]
			each(num, v)
		}
	}
	fields(req.ProtoReflect().GetUnknown(), func(num protowire.Number, v []byte) {
		switch num {
		case 5:
			fields(v, func(inner protowire.Number, iv []byte) {
				if inner == 2 {
					programDir = string(iv)
				}
			})
		case 6:
			kind = string(v)
		}
	})
	return programDir, kind
}

// runPolicyLauncher finds @pulumi/pulumi/cmd/run-policy-pack from dir upwards, as node's require does.
func runPolicyLauncher(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("it looks like the policy pack's dependencies are not installed; try running npm install in %q", dir)
		}
	}
}

// pluginStream sends one stream of the plugin's output to the engine; both
// streams share a lock, as the gRPC stream is not safe for concurrent sends.
type pluginStream struct {
	mu     *sync.Mutex
	server pulumirpc.LanguageRuntime_RunPluginServer
	stderr bool
}

func (s pluginStream) Write(p []byte) (int, error) {
	data := append([]byte(nil), p...)
	resp := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: data}}
	if s.stderr {
		resp = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: data}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.server.Send(resp); err != nil {
		return 0, err
	}
	return len(p), nil
}

func runPolicyPack(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	dir, kind := newerRunPluginFields(req)
	if kind != "" && kind != "analyzer" {
		return fmt.Errorf("this language host (v3.68.0, built by Switchyard's set-up) runs policy packs only, not %q plugins", kind)
	}
	if dir == "" {
		dir = req.Pwd
	}
	launcher, err := runPolicyLauncher(dir)
	if err != nil {
		return err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return errors.New("node is not on PATH")
	}
	args := append(append([]string{launcher}, req.Args...), ".")
	cmd := exec.CommandContext(server.Context(), node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), req.Env...)
	var mu sync.Mutex
	cmd.Stdout = pluginStream{mu: &mu, server: server}
	cmd.Stderr = pluginStream{mu: &mu, server: server, stderr: true}
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		code = exit.ExitCode()
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}
