#!/usr/bin/env bash
# Creates .venv and installs everything xactor needs: Debian packages (when root and missing),
# then torch (pinned; the CPU build where a local wheel satisfies it, the CUDA build on GPU hosts),
# then the project with its locked constraints. Idempotent: re-running is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg espeak-ng sox chromium chromium-driver flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts coturn)
# Recorded human diphone voices for the training corpus (training/corpus/tts/mbrola.py): Debian
# contrib (the program) and non-free (the databases); optional, their tests skip without them.
MBROLA_PACKAGES=(mbrola mbrola-us1 mbrola-us2 mbrola-en1)
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: warning: missing Debian packages (${missing[*]}); install them as root" >&2
  fi
fi

if ! installed mbrola-us1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -r /etc/os-release ]; then
  . /etc/os-release
  if [ "${ID:-}" = debian ] && [ -n "${VERSION_CODENAME:-}" ] && ! apt-cache show mbrola-us1 >/dev/null 2>&1; then
    echo "bootstrap: enabling Debian contrib and non-free for the MBROLA voices"
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$VERSION_CODENAME" > /etc/apt/sources.list.d/xactor-contrib-non-free.sources
    apt-get update -qq || echo "bootstrap: warning: apt-get update failed" >&2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MBROLA_PACKAGES[@]}" >/dev/null \
    || echo "bootstrap: warning: MBROLA voices not installed; the corpus builds without them" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==${TORCH_VERSION}"
"$VENV/bin/python" -m pip install -q -c requirements/constraints.txt -e ".[dev,cluster]"
"$VENV/bin/python" -m pip check
touch "$VENV/.installed"
echo "bootstrap: ready"
