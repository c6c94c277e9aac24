#!/usr/bin/env bash
# Runs every test: Criterion unit tests (ASan+UBSan, leaks fail), a libFuzzer smoke run per
# harness from its committed corpus, then the integration tests (node --test) against the
# real binaries. Ends with one line "N passed, N failed" and a non-zero status on any failure.
#
#   tests/run.sh [unit|fuzz|integration ...]   run only these stages
#   FUZZ_SECONDS=N                             seconds per fuzzer (default 10)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(unit fuzz integration)
logs=build/test-logs
mkdir -p "$logs"
passed=0 failed=0
failures=()

want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

note_fail() { failed=$((failed + ${2:-1})); failures+=("$1"); }

# A sanitizer report fails the run even when the process that printed it exited 0
# (Criterion ignores its workers' exit status after a test, so leaks would pass unseen).
sanitizer_report() { grep -qE 'ERROR: (LeakSanitizer|AddressSanitizer)|runtime error:' "$1"; }

if want unit; then
	echo "== unit tests (ASan+UBSan)"
	while IFS= read -r bin; do
		name=${bin#build/asan/tests/unit/}
		log="$logs/unit-${name//\//-}.log"
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 "$bin" --jobs 2 >"$log" 2>&1
		rc=$?
		syn=$(grep -a 'Synthesis:' "$log" | tail -1)
		t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$syn")
		p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$syn")
		t=${t:-0} p=${p:-0}
		if [ $rc -ne 0 ] || [ -z "$syn" ] || sanitizer_report "$log"; then
			echo "FAIL $name (rc=$rc) $syn"
			grep -aE 'FAIL|ERROR|runtime error|Assertion|Direct leak' "$log" | head -20
			passed=$((passed + p))
			note_fail "unit/$name" $((t - p > 0 ? t - p : 1))
		else
			echo "ok   $name: $t tests"
			passed=$((passed + p))
		fi
	done < <(find build/asan/tests/unit -type f -name 'test_*' -perm -u+x 2>/dev/null | sort)
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
		if "$bin" -max_total_time="${FUZZ_SECONDS:-10}" -timeout=5 -rss_limit_mb=2048 \
			-artifact_prefix=build/fuzz/ "$work" >"$log" 2>&1; then
			echo "ok   $name: $(grep -aoE 'stat::number_of_executed_units: [0-9]+|Done [0-9]+ runs' "$log" | tail -1)"
			passed=$((passed + 1))
		else
			echo "FAIL $name"; tail -30 "$log"
			note_fail "fuzz/$name"
		fi
	done < <(find build/fuzz/fuzz -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
fi

if want integration; then
	echo "== integration tests (node --test, real servers on 127.0.0.1)"
	files=$(find tests/integration -maxdepth 1 -name '*.test.mjs' | sort)
	if [ -n "$files" ]; then
		log="$logs/integration.log"
		# shellcheck disable=SC2086
		node --test --test-concurrency=1 --test-reporter=spec $files 2>&1 | tee "$log"
		p=$(grep -a '^ℹ pass ' "$log" | tail -1 | awk '{print $3}')
		f=$(grep -a '^ℹ fail ' "$log" | tail -1 | awk '{print $3}')
		passed=$((passed + ${p:-0}))
		if [ "${f:-1}" != 0 ]; then note_fail integration "${f:-1}"; fi
	fi
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
