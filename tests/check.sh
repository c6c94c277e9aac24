#!/usr/bin/env bash
# make check: clang-tidy, cppcheck, a clang-format check and the duplicate checks over our C.
# Fails on any finding.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
b=${1:-build}
status=0
mapfile -t src < <(git ls-files -co --exclude-standard 'common/*.c' 'services/*.c' 'tests/tools/*.c')
mapfile -t all < <(git ls-files -co --exclude-standard '*.c' '*.h')

echo "== clang-format"
clang-format --dry-run --Werror "${all[@]}" || status=1

echo "== cppcheck"
cppcheck --enable=warning,portability,performance --inline-suppr --error-exitcode=1 -q \
	--std=c11 -D__GNUC__ -Icommon/include "${src[@]}" || status=1

echo "== clang-tidy"
# The findings are in the output; clang-tidy's (and so xargs') exit status is not looked at, as
# it is non-zero for some findings and not for others. A file it cannot compile (a missing
# generated header) prints an error: that fails the check too.
tidy=$(printf '%s\n' "${src[@]}" | xargs -P 2 -n 4 clang-tidy -p "$b" --quiet 2>/dev/null)
if grep -E 'warning:|error:' <<<"$tidy"; then
	status=1
fi
echo "== duplicates: scripts/dupcheck.mjs (identical runs of 5+ lines)"
node scripts/dupcheck.mjs --min-lines 5 || status=1

# The shape-aware `duplicates` tool, where it is installed (not on CI's fresh Debian): every
# row at 5+ lines over common/ and services/ (without the generated-from common/proto) fails
# the check unless the tool marks it boilerplate or tests/duplicates-allowed.txt lists the pair
# (declarative tables).
echo "== duplicates: the duplicates tool (same-shape runs of 5+ lines)"
if command -v duplicates >/dev/null 2>&1; then
	tree=$(mktemp -d)
	cp -r common services "$tree"/ && rm -rf "$tree/common/proto"
	report=$(cd "$tree" && duplicates --min-lines 5 --most 200 --seconds 120)
	rm -rf "$tree"
	echo "$report" | head -1
	rows=$(echo "$report" | grep -E '^D[0-9]+ ' | grep -v 'boilerplate' | while read -r row; do
		pair=$(echo "$row" | sed -E 's/^D[0-9]+ ([^: ]+):[0-9-]+ ~ ([^: ]+):[0-9-]+.*/\1 ~ \2/')
		grep -qxF "$pair" <(sed -E 's/[[:space:]]*#.*//' tests/duplicates-allowed.txt) ||
			echo "$row"
	done)
	if [ -n "$rows" ]; then
		echo "$rows"
		status=1
	fi
	if echo "$report" | grep -q '^incomplete:'; then
		echo "$report" | grep '^incomplete:'
		status=1
	fi
else
	echo "duplicates: not installed here, so only scripts/dupcheck.mjs checked for repeats"
fi

[ $status -eq 0 ] && echo "check: clean"
exit $status
