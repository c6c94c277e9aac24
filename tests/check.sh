#!/usr/bin/env bash
# make check: clang-tidy, cppcheck and a clang-format check over our C. Fails on any finding.
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
if ! printf '%s\n' "${src[@]}" | xargs -P 2 -n 4 clang-tidy -p "$b" --quiet 2>/dev/null \
	| grep -E 'warning:|error:' ; then
	:
else
	status=1
fi
[ $status -eq 0 ] && echo "check: clean"
exit $status
