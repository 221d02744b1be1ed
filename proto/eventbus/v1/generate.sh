#!/bin/sh
# Builds the protoc-gen-go pinned in go.mod and runs protoc with it, so the
# generated code depends only on go.mod and the protoc version.
set -eu
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --go_out=. --go_opt=paths=source_relative eventbus.proto
