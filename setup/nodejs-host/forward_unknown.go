// Switchyard set-up: added to the nodejs language host that `npm run setup`
// builds from github.com/pulumi/pulumi/sdk/v3@v3.68.0 (the newest module the
// Go proxy serves that still contains the host; see README). That host puts a
// resource-monitor proxy between the program and the engine which knows only
// the RPCs of v3.68.0, so newer SDK calls — resource hooks, waiting for the
// engine's deletes before exit — fail with "unknown method". This forwards
// every RPC the proxy does not know to the engine unchanged, as raw bytes.
// A Pulumi CLI installed the usual way ships a current host and needs none of it.
package main

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// rawFrame carries a message's bytes through without decoding them.
type rawFrame struct{ data []byte }

// rawCodec passes rawFrames through and leaves every other message to proto.
type rawCodec struct{ proto encoding.Codec }

func (c rawCodec) Marshal(v interface{}) ([]byte, error) {
	if f, ok := v.(*rawFrame); ok {
		return f.data, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data []byte, v interface{}) error {
	if f, ok := v.(*rawFrame); ok {
		f.data = append([]byte(nil), data...)
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (c rawCodec) Name() string { return c.proto.Name() }

// forwardUnknownRPCs returns the server options that forward unknown unary
// RPCs of the proxy to the engine's monitor on conn.
func forwardUnknownRPCs(conn *grpc.ClientConn) []grpc.ServerOption {
	codec := rawCodec{proto: encoding.GetCodec("proto")}
	return []grpc.ServerOption{
		grpc.ForceServerCodec(codec),
		grpc.UnknownServiceHandler(func(_ interface{}, stream grpc.ServerStream) error {
			method, _ := grpc.MethodFromServerStream(stream)
			in, out := &rawFrame{}, &rawFrame{}
			if err := stream.RecvMsg(in); err != nil {
				return err
			}
			if err := conn.Invoke(stream.Context(), method, in, out, grpc.ForceCodec(codec)); err != nil {
				return err
			}
			return stream.SendMsg(out)
		}),
	}
}
