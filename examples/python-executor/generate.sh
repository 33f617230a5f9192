#!/bin/sh
# Regenerates gen/ (the Python code for drover's protocol) from the repository's .proto files.
#
#   examples/python-executor/generate.sh [OUT_DIR]      (default: examples/python-executor/gen)
#
# Needs Debian's protobuf-compiler (protoc 3.21) and protobuf-compiler-grpc (grpc_python_plugin
# 1.51): the same versions as the python3-protobuf and python3-grpcio the plugin runs with.
# (python3-grpc-tools is not enough: its bundled protoc 3.5 rejects proto3 `optional`, which
# executor.proto uses.) test/e2e/python-plugin.test.ts runs this into a temp dir and fails when the
# committed files differ.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
proto=$(cd "$here/../../proto" && pwd)
out=${1:-$here/gen}
grpc_plugin=$(command -v grpc_python_plugin) || {
  echo "generate.sh: grpc_python_plugin not found: apt-get install protobuf-compiler protobuf-compiler-grpc" >&2
  exit 1
}
command -v protoc >/dev/null || {
  echo "generate.sh: protoc not found: apt-get install protobuf-compiler protobuf-compiler-grpc" >&2
  exit 1
}
rm -rf "$out"
mkdir -p "$out"
gen() { protoc --python_out="$out" --grpc_out="$out" --plugin=protoc-gen-grpc="$grpc_plugin" "$@"; }
# drover's own contract, as drover/plugin/v1/*_pb2.py (a namespace package under gen/).
gen -I "$proto" "$proto"/drover/plugin/v1/*.proto
# The health and controller services are generated from their own directories, as top-level
# modules health_pb2 and grpc_controller_pb2: under their proto paths they would become a package
# named `grpc`, which would hide grpcio itself. The wire names (grpc.health.v1.Health,
# plugin.GRPCController) come from the `package` lines and do not change.
gen -I "$proto/grpc/health/v1" "$proto/grpc/health/v1/health.proto"
gen -I "$proto/plugin" "$proto/plugin/grpc_controller.proto"
