#!/usr/bin/env bash
# Installs the system packages Darkroom needs when they are missing (Debian, as root).
# Test data (real phone footage for the media tests) is installed the same way when it can be;
# without root it is reported and skipped: those tests then skip locally and fail in CI.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# A real Android phone video with a GPS location and a variable frame rate (docs/media.md).
test_data=()
[ -f /usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4 ] || test_data+=(forensics-samples-files)
if [ ${#need[@]} -eq 0 ] && [ ${#test_data[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  if [ ${#need[@]} -eq 0 ]; then
    echo "test data not installed: ${test_data[*]} (the tests that use it are skipped; run as root on Debian to install)" >&2
    exit 0
  fi
  echo "missing system packages: ${need[*]} (install them, or run as root on Debian)" >&2
  exit 1
fi
echo "installing ${need[*]} ${test_data[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" "${test_data[@]}" >/dev/null
# Debian starts a system redis-server on install; Darkroom runs its own, so leave that one alone.
