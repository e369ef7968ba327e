#!/bin/sh
# Regenerates the Go code of proto/ (committed, so building Sluice needs no
# protoc). Needs protoc (apt-get install -y protobuf-compiler) and the two
# plugins at the versions below:
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
# Run from anywhere: scripts/genproto.sh
set -eu
cd "$(dirname "$0")/.."
PATH="$(go env GOPATH)/bin:$PATH"
for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
	command -v "$tool" >/dev/null || { echo "genproto: $tool not found; see the comment at the top of $0" >&2; exit 1; }
done
protoc -I proto \
	--go_out=proto --go_opt=paths=source_relative \
	--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	proto/sluice/v1/sluice.proto
echo "genproto: regenerated proto/sluice/v1"
