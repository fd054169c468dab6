#!/bin/sh
# Install the Debian packages cairn needs (DESIGN.md §2). Idempotent: quiet and
# fast when everything is present. Usage: scripts/install-deps.sh [build|test|bench]
set -eu

BUILD="build-essential pkg-config libuv1-dev libhttp-parser-dev liblmdb-dev \
libraft-dev libisal-dev libssl-dev libexpat1-dev libxxhash-dev libjansson-dev"
TEST="libcmocka-dev clang clang-format libclang-rt-14-dev python3 python3-pytest python3-boto3 \
awscli rclone curl lmdb-utils"
BENCH="nginx libcurl4-openssl-dev"

want="$BUILD"
case "${1:-build}" in
build) ;;
test) want="$BUILD $TEST" ;;
bench) want="$BUILD $TEST $BENCH" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Package lists may be absent on a fresh machine; refresh once, then install.
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
