#!/usr/bin/env bash
# The test runner's self-test: runs tests/run.sh on fixtures whose outcomes are known
# (tests/selftest/fixtures/) and checks its counts, its skip reasons and its exit status.
#
#   bad/ + unit/ + fuzz/   failing, cancelled (timed out), crashing, exiting non-zero and
#                          skipped-without-reason tests: the run must fail with exact counts
#   good/                  passing and skipped tests: the run must pass and list each reason
#
# Prints one line "selftest: ok ..." or what differed, with the runner's log; exit status 0/1.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

fx=tests/selftest/fixtures
out=build/selftest
rm -rf "$out" && mkdir -p "$out/unit"
if ! cc -o "$out/unit/test_fixture" "$fx/unit/test_fixture.c" -lcriterion 2>"$out/cc.log"; then
	echo "selftest: FAIL: cannot compile the Criterion fixture"; cat "$out/cc.log"; exit 1
fi
cp "$fx/unit/test_killed" "$out/unit/"

errors=0
# expect NAME LOG WANT_RC WANT_LAST_LINE [PATTERN...]: the run's status, closing line and lines.
expect() {
	local name=$1 log=$2 want_rc=$3 want_last=$4 rc last pat
	shift 4
	rc=$(cat "$log.rc")
	last=$(tail -1 "$log")
	if [ "$want_rc" = nonzero ] && [ "$rc" -eq 0 ]; then
		echo "selftest: $name: tests/run.sh exited 0, want non-zero"; errors=$((errors + 1))
	elif [ "$want_rc" = 0 ] && [ "$rc" -ne 0 ]; then
		echo "selftest: $name: tests/run.sh exited $rc, want 0"; errors=$((errors + 1))
	fi
	if [ "$last" != "$want_last" ]; then
		echo "selftest: $name: closing line \"$last\", want \"$want_last\""; errors=$((errors + 1))
	fi
	for pat in "$@"; do
		if ! grep -qF -- "$pat" "$log"; then
			echo "selftest: $name: no line with \"$pat\""; errors=$((errors + 1))
		fi
	done
}

# run NAME STAGES...: tests/run.sh on the fixtures, its output in build/selftest/NAME.log.
run() {
	local name=$1
	shift
	TEST_UNIT_DIR=$out/unit TEST_FUZZ_DIR=$fx/fuzz TEST_INTEGRATION_DIR=$fx/$name \
		TEST_LOGS=$out/logs-$name FUZZ_SECONDS=1 UNIT_TIMEOUT=60 \
		tests/run.sh "$@" >"$out/$name.log" 2>&1
	echo $? >"$out/$name.log.rc"
}

run bad unit fuzz integration
# unit: test_fixture 2 pass, 3 fail (assertion, crash, timeout), 1 skip, 1 skip without a
# reason (a failure); test_killed dies by SIGSEGV (1 failure).
# fuzz: 1 pass, 1 fail.
# integration: 2 pass; fail, crash and exit-status files fail (3); 1 cancelled; 1 skip
# without a reason.
expect bad "$out/bad.log" nonzero "5 passed, 11 failed, 1 skipped" \
	"skipped: unit/test_fixture fixture::skips: the fixture's reason to skip" \
	"failed: unit/test_fixture fixture::skips_silently (skipped without a reason)" \
	"FAIL test_killed (killed by signal SEGV)" \
	"failed: fuzz/fuzz_selftest_crash" \
	"failed: integration (1 cancelled: timed out or cut short)" \
	"failed: integration (3 failing)" \
	"fixture skips without a reason\" (skipped without a reason)"

run good integration
expect good "$out/good.log" 0 "2 passed, 0 failed, 4 skipped" \
	"\"fixture skips with a reason\": the fixture has no widget" \
	"\"fixture skips at run time\": decided while running" \
	"\"fixture is todo\": todo: not written yet" \
	"\"fixture suite skipped\": the whole suite needs a tool"

if [ $errors -ne 0 ]; then
	echo "--- build/selftest/bad.log"; cat "$out/bad.log"
	echo "--- build/selftest/good.log"; cat "$out/good.log"
	echo "selftest: FAIL ($errors mismatches)"
	exit 1
fi
echo "selftest: ok (tests/run.sh counted the fixtures: $(tail -1 "$out/bad.log"), failing; $(tail -1 "$out/good.log"), passing)"
