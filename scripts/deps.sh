#!/usr/bin/env bash
# Installs what the test suite needs on Debian, or says exactly what to install.
# qemu-img (package qemu-utils) is the independent judge of every disk file Hangar
# reads or writes, so the tests need it.
set -euo pipefail

need=()
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} (needed by the tests)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "the tests need: ${need[*]}; install with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
