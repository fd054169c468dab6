#!/bin/sh
# check-hardening.sh BINARY — is the binary built with the hardening the
# Makefile asks for (docs/SECURITY.md)? Prints one line per property and
# exits non-zero if any is missing. Uses readelf (binutils).
set -u
bin=${1:-build/cairn}
[ -x "$bin" ] || { echo "check-hardening: no binary $bin" >&2; exit 2; }
fail=0
check() { # name, then a command that succeeds when the property holds
	name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		echo "ok   $name"
	else
		echo "FAIL $name"
		fail=1
	fi
}
hdr=$(readelf -h "$bin")
dyn=$(readelf -d "$bin")
seg=$(readelf -lW "$bin")
syms=$(readelf -W --dyn-syms "$bin")
check "PIE (ELF type DYN)" sh -c 'echo "$1" | grep -q "Type:.*DYN"' _ "$hdr"
check "RELRO segment" sh -c 'echo "$1" | grep -q GNU_RELRO' _ "$seg"
check "BIND_NOW (full RELRO)" sh -c 'echo "$1" | grep -Eq "BIND_NOW|FLAGS_1.*NOW"' _ "$dyn"
check "stack protector (__stack_chk_fail)" sh -c 'echo "$1" | grep -q __stack_chk_fail' _ "$syms"
check "FORTIFY_SOURCE (__*_chk calls)" sh -c 'echo "$1" | grep -Eq "__(memcpy|snprintf|vsnprintf|memset|strcpy|read|fprintf|printf)_chk"' _ "$syms"
check "non-executable stack" sh -c 'echo "$1" | grep GNU_STACK | grep -qv RWE' _ "$seg"
exit $fail
