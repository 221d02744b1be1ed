// Package eventbusv1 holds the protobuf messages of the eventbus wire
// protocol, version 1, generated from eventbus.proto. Regenerate with
// `go generate ./proto/...`; it needs protoc on PATH, and uses the
// protoc-gen-go version pinned as a tool in go.mod.
package eventbusv1

//go:generate sh generate.sh
