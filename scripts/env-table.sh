#!/usr/bin/env bash
# Prints the README's table of environment variables, built from each binary's --help
# (the config tables in services/*/main.c), so the table cannot drift from the code.
#   scripts/env-table.sh [build-dir]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-build}
services=(node-server db-service file-sink dead-letter-logger local-broker bad-word-filter sentiment-analysis)

declare -A bins defaults descs
order=()
for s in "${services[@]}"; do
	[ -x "$b/$s" ] || { echo "env-table: $b/$s is not built" >&2; exit 1; }
	while IFS= read -r line; do
		name=$(awk '{print $1}' <<<"$line")
		def=$(awk '{print $2}' <<<"$line")
		desc=$(sed -E 's/^[^ ]+ +[^ ]+ +//' <<<"$line")
		if [ -z "${bins[$name]:-}" ]; then
			order+=("$name")
			bins[$name]=$s
			defaults[$name]=$def
			descs[$name]=$desc
		else
			bins[$name]+=", $s"
			[ "${defaults[$name]}" = "$def" ] || defaults[$name]+=" / $def ($s)"
			# A service that means something else by it says so: "a: ...; b: ...".
			if [ "${descs[$name]}" != "$desc" ] && [[ "${descs[$name]}" != *"; $s: "* ]]; then
				[[ "${descs[$name]}" == "${bins[$name]%%,*}: "* ]] ||
					descs[$name]="${bins[$name]%%,*}: ${descs[$name]}"
				descs[$name]+="; $s: $desc"
			fi
		fi
	done < <("$b/$s" --help | grep -v "^VARIABLE ")
done

all=$(printf '%s, ' "${services[@]}")
all=${all%, }
echo '| variable | read by | default | meaning |'
echo '|---|---|---|---|'
for name in "${order[@]}"; do
	bin=${bins[$name]}
	[ "$bin" = "$all" ] && bin="every service"
	def=${defaults[$name]}
	[ "$def" = "-" ] && def="(unset)"
	printf '| %s | %s | %s | %s |\n' "\`$name\`" "$bin" "\`$def\`" "${descs[$name]//|/\\|}"
done
