#!/bin/sh
# check-format.sh — does every tracked C file match .clang-format? Lists the
# files that do not (fix them with `make format`) and exits non-zero if any.
# Uses clang-format 14 (Debian 12's `clang-format`; install-deps installs it).
set -u
cd "$(dirname "$0")/.." || exit 2
command -v clang-format >/dev/null || { echo "check-format: no clang-format" >&2; exit 2; }
bad=0
n=0
for f in $(git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]' 'tools/*.[ch]'); do
	n=$((n + 1))
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=$((bad + 1))
	fi
done
echo "format: $n files, $bad not formatted"
[ "$bad" -eq 0 ]
