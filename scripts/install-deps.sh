#!/bin/sh
# Install the Debian packages cairn needs (DESIGN.md §2). Idempotent: quiet and
# fast when everything is present. Usage: scripts/install-deps.sh [build|test|bench]
#
# libraft comes from Debian's bookworm-backports suite (0.22.1; bookworm's own
# 0.15 lacks election and snapshot fixes). The suite is added as a deb822
# source on the same mirror and keyring as the machine's own bookworm source
# (read from its apt configuration: no host name is written here), and
# libraft is pinned to it so an upgrade never falls back to 0.15.
set -eu

BUILD="build-essential pkg-config libuv1-dev libhttp-parser-dev liblmdb-dev \
libisal-dev libssl-dev libexpat1-dev libxxhash-dev libjansson-dev curl"
# from bookworm-backports
BACKPORTS="libraft-dev"
RAFT_MIN="0.22.1"
TEST="libcmocka-dev clang clang-format libclang-rt-14-dev python3 python3-pytest python3-pytest-xdist python3-boto3 \
awscli rclone s3cmd curl lmdb-utils openssl chromium chromium-driver python3-selenium"
BENCH="nginx libcurl4-openssl-dev valgrind"

want="$BUILD"
case "${1:-build}" in
build) ;;
test) want="$BUILD $TEST" ;;
bench) want="$BUILD $TEST $BENCH" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

installed() { # package -> 0 when installed
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

missing=""
for p in $want; do
	installed "$p" || missing="$missing $p"
done
raft_ok=0
if installed libraft-dev; then
	v=$(dpkg-query -W -f='${Version}' libraft-dev)
	dpkg --compare-versions "$v" ge "$RAFT_MIN" && raft_ok=1
fi
[ -z "$missing" ] && [ "$raft_ok" = 1 ] && exit 0

# The URI and keyring of the machine's own bookworm source: deb822 files
# first (Debian 12's default), then one-line sources.list entries.
mirror_of_bookworm() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822 stanzas are separated by blank lines
		awk -v RS= '
			/(^|\n)Suites:[^\n]*(^|[ \t])bookworm([ \t]|\n|$)/ &&
			/(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ {
				uri = ""; key = ""
				n = split($0, l, "\n")
				for (i = 1; i <= n; i++) {
					if (l[i] ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l[i]); split(l[i], u, /[ \t]+/); uri = u[1] }
					if (l[i] ~ /^Signed-By:/) { sub(/^Signed-By:[ \t]*/, "", l[i]); key = l[i] }
				}
				if (uri != "") { print uri " " key; exit }
			}' "$f" && return 0
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [signed-by=KEY] URI bookworm main ...
		awk '$1 == "deb" {
			key = ""; i = 2
			if ($2 ~ /^\[/) { for (; i <= NF; i++) { if ($i ~ /signed-by=/) { k = $i; sub(/.*signed-by=/, "", k); sub(/\]$/, "", k); key = k } if ($i ~ /\]$/) { i++; break } } }
			if ($(i + 1) == "bookworm") { print $i " " key; exit }
		}' "$f"
	done
}

add_backports() {
	src=/etc/apt/sources.list.d/cairn-bookworm-backports.sources
	[ -f "$src" ] && return 0
	line=$(mirror_of_bookworm | head -1)
	uri=${line%% *}
	key=${line#* }
	[ "$key" = "$line" ] && key=""
	if [ -z "$uri" ]; then
		echo "install-deps: no bookworm apt source found to derive the backports mirror from" >&2
		exit 1
	fi
	[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
	echo "install-deps: adding bookworm-backports from $uri" >&2
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
		"$uri" "$key" | $SUDO tee "$src" >/dev/null
	# libraft only: everything else keeps coming from bookworm
	printf 'Package: libraft-dev libraft0\nPin: release n=bookworm-backports\nPin-Priority: 990\n' |
		$SUDO tee /etc/apt/preferences.d/cairn-libraft >/dev/null
}

echo "install-deps: installing:$missing$([ "$raft_ok" = 1 ] || echo " $BACKPORTS (bookworm-backports)")" >&2
[ "$raft_ok" = 1 ] || add_backports
# Package lists may be absent on a fresh machine; refresh once, then install.
$SUDO apt-get update -qq >/dev/null
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ "$raft_ok" != 1 ]; then
	$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports $BACKPORTS >/dev/null
	v=$(dpkg-query -W -f='${Version}' libraft-dev)
	if ! dpkg --compare-versions "$v" ge "$RAFT_MIN"; then
		echo "install-deps: libraft-dev $v installed, $RAFT_MIN or later needed" >&2
		exit 1
	fi
fi
