module github.com/daemoneye/eventbus

go 1.24.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/Microsoft/go-winio v0.6.2
	golang.org/x/sys v0.40.0
	google.golang.org/protobuf v1.36.12
)

require github.com/HdrHistogram/hdrhistogram-go v1.4.0

tool google.golang.org/protobuf/cmd/protoc-gen-go
