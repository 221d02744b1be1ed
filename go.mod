module github.com/daemoneye/eventbus

go 1.24.0

require google.golang.org/protobuf v1.36.12

tool google.golang.org/protobuf/cmd/protoc-gen-go
