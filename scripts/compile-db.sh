#!/usr/bin/env bash
# Writes a compile_commands.json for clang-tidy: compile-db.sh CC FLAGS OUT FILE...
set -euo pipefail
cc=$1 flags=$2 out=$3
shift 3
dir=$(pwd)
{
	echo '['
	sep=''
	for f in "$@"; do
		printf '%s{"directory":"%s","file":"%s","command":"%s %s -c %s"}\n' \
			"$sep" "$dir" "$f" "$cc" "${flags//\"/\\\"}" "$f"
		sep=','
	done
	echo ']'
} >"$out"
