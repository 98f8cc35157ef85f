#!/bin/sh
# The README's two commands, on any Debian 12 or 13 (as root), even a minimal image:
#     sh bootstrap.sh demo
#     sh bootstrap.sh test
# A minimal image has neither make nor git (scripts/package.py lists the files git tracks): this
# installs them from Debian when they are missing, then runs `make <target>` (setup, demo, test,
# test-core, package). Where make and git are present it is the same as `make <target>`.
set -eu
cd "$(dirname "$0")"

missing=""
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v git >/dev/null 2>&1 || missing="$missing git"
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: this needs the Debian packages$missing; run it as root, or first: sudo apt-get install$missing" >&2
        exit 1
    fi
    echo "bootstrap: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends $missing
fi
exec make "$@"
