#!/usr/bin/env bash
# Install the system packages podcast-host needs, when missing: ffmpeg for `run`; also espeak-ng
# (speech fixtures) and Chromium (browser tests) for `test`. Uses apt-get on Debian-like systems.
set -euo pipefail
want=(ffmpeg)
[[ "${1:-run}" == test ]] && want+=(espeak-ng chromium)
missing=()
for pkg in "${want[@]}"; do
  command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
((${#missing[@]})) || exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "Installing ${missing[*]} with apt-get…" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
elif [[ " ${missing[*]} " == *" ffmpeg "* ]]; then
  # The imageio-ffmpeg wheel (a dependency) carries an ffmpeg binary the app falls back to.
  echo "ffmpeg not on PATH and no apt-get: using the binary from imageio-ffmpeg." >&2
fi
