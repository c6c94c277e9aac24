#!/usr/bin/env bash
# Runs every test: Criterion unit tests (ASan+UBSan, leaks fail), a libFuzzer smoke run per
# harness from its committed corpus, then the integration tests (node --test) against the
# real binaries. Lists every skipped test with its reason, then ends with one line
# "N passed, N failed, N skipped" and a non-zero status on any failure.
#
# A stage fails on a non-zero exit status, a crash (signal), a timeout, a cancelled node test,
# a sanitizer report, or a skip that does not say why.
#
#   tests/run.sh [unit|fuzz|integration ...]   run only these stages
#   FUZZ_SECONDS=N                             seconds per fuzzer (default 10)
#   UNIT_TIMEOUT=N                             seconds per unit binary (default 600)
#   TEST_TIMEOUT_MS=N                          default timeout of a node test (300000)
#   TEST_UNIT_DIR, TEST_FUZZ_DIR, TEST_INTEGRATION_DIR, TEST_LOGS
#                                              where the tests and the logs are (the
#                                              self-test, tests/selftest/run.sh, points
#                                              them at its fixtures)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

unit_dir=${TEST_UNIT_DIR:-build/asan/tests/unit}
fuzz_dir=${TEST_FUZZ_DIR:-build/fuzz/fuzz}
int_dir=${TEST_INTEGRATION_DIR:-tests/integration}
logs=${TEST_LOGS:-build/test-logs}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(unit fuzz integration)
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failures=() skips=()

want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

note_fail() { failed=$((failed + ${2:-1})); failures+=("$1"); }

# note_skip WHERE REASON: a skip counts only with a reason; without one it is a failure.
note_skip() {
	if [ -z "$2" ]; then
		note_fail "$1 (skipped without a reason)"
	else
		skipped=$((skipped + 1))
		skips+=("$1: $2")
	fi
}

# why RC: a readable cause for a non-zero exit status.
why() {
	if [ "$1" -eq 124 ]; then echo "timed out"
	elif [ "$1" -gt 128 ]; then echo "killed by signal $(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
	else echo "exit status $1"; fi
}

# A sanitizer report fails the run even when the process that printed it exited 0
# (Criterion ignores its workers' exit status after a test, so leaks would pass unseen).
sanitizer_report() { grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$1"; }

if want unit; then
	echo "== unit tests (ASan+UBSan)"
	while IFS= read -r bin; do
		name=${bin#"$unit_dir"/}
		log="$logs/unit-${name//\//-}.log"
		# --verbose prints one line per test, among them "[SKIP] suite::test: reason".
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
			timeout -k 10 "${UNIT_TIMEOUT:-600}" "$bin" --verbose --jobs 2 >"$log" 2>&1
		rc=$?
		syn=$(grep -a 'Synthesis:' "$log" | tail -1)
		t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$syn")
		p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$syn")
		t=${t:-0} p=${p:-0}
		passed=$((passed + p))
		nskip=0
		while IFS= read -r line; do
			test=${line#\[SKIP\] }
			reason=${test#*: }
			[ "$reason" = "Test was skipped" ] && reason=	# cr_skip_test() without a message
			note_skip "unit/$name ${test%%: *}" "$reason"
			nskip=$((nskip + 1))
		done < <(grep -a '^\[SKIP\] ' "$log")
		if [ "$rc" -ne 0 ] || [ -z "$syn" ] || [ "$p" -ne "$t" ] || sanitizer_report "$log"; then
			echo "FAIL $name ($(why "$rc")) ${syn:-no synthesis: the binary did not finish}"
			grep -aE 'FAIL|ERROR|runtime error|Assertion|Direct leak|crashed' "$log" | head -20
			note_fail "unit/$name" $((t - p > 0 ? t - p : 1))
		else
			if [ "$nskip" -gt 0 ]; then
				echo "ok   $name: $t tests, $nskip skipped"
			else
				echo "ok   $name: $t tests"
			fi
		fi
	done < <(find "$unit_dir" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort)
fi

if want fuzz; then
	echo "== fuzz smoke (libFuzzer, ${FUZZ_SECONDS:-10}s each)"
	while IFS= read -r bin; do
		name=$(basename "$bin")
		corpus=tests/fuzz/corpus/${name#fuzz_}
		work=build/fuzz/work/${name#fuzz_}
		rm -rf "$work" && mkdir -p "$work"
		[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
		log="$logs/fuzz-$name.log"
		"$bin" -max_total_time="${FUZZ_SECONDS:-10}" -timeout=5 -rss_limit_mb=2048 \
			-artifact_prefix=build/fuzz/ "$work" >"$log" 2>&1
		rc=$?
		if [ "$rc" -eq 0 ]; then
			echo "ok   $name: $(grep -aoE 'stat::number_of_executed_units: [0-9]+|Done [0-9]+ runs' "$log" | tail -1)"
			passed=$((passed + 1))
		else
			echo "FAIL $name ($(why "$rc"))"; tail -30 "$log"
			note_fail "fuzz/$name"
		fi
	done < <(find "$fuzz_dir" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
fi

if want integration; then
	echo "== integration tests (node --test, real servers on 127.0.0.1)"
	files=$(find "$int_dir" -maxdepth 1 -name '*.test.mjs' | sort)
	if [ -n "$files" ]; then
		log="$logs/integration.log"
		skiplog="$logs/integration-skips.tsv"
		rm -f "$skiplog"
		# shellcheck disable=SC2086
		# --test-timeout: a test without its own timeout that hangs is cancelled (a failure)
		node --test --test-concurrency=1 --test-timeout="${TEST_TIMEOUT_MS:-300000}" \
			--test-reporter=spec --test-reporter-destination=stdout \
			--test-reporter=./tests/lib/skip-reporter.mjs --test-reporter-destination="$skiplog" \
			$files 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
		count() { grep -a "^ℹ $1 " "$log" | tail -1 | awk '{print $3}'; }
		p=$(count pass) f=$(count fail) c=$(count cancelled)
		passed=$((passed + ${p:-0}))
		if [ -z "$p" ] || [ -z "$f" ]; then
			note_fail "integration (no summary from node, $(why "$rc"))"
		else
			[ "$f" -ne 0 ] && note_fail "integration ($f failing)" "$f"
			[ "${c:-0}" -ne 0 ] && note_fail "integration (${c} cancelled: timed out or cut short)" "$c"
			if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "${c:-0}" -eq 0 ]; then
				note_fail "integration (node $(why "$rc") with no failing test)"
			fi
		fi
		while IFS=$'\t' read -r kind file name reason; do
			[ "$kind" = todo ] && reason=${reason:+todo: $reason}
			note_skip "$file \"$name\"" "$reason"
		done < <(cat "$skiplog" 2>/dev/null)
	fi
fi

for s in "${skips[@]}"; do echo "skipped: $s"; done
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
