#!/usr/bin/env bash
# Installs what building and testing apitap needs, only when it is missing: Debian packages and PyPI packages.
# Usage: scripts/dev/deps.sh [build|test|all]   (default: all)
set -euo pipefail

# build-essential, dpkg-dev and libssl-dev: scripts/package/build-curl.sh builds the packaged libcurl from Debian's source.
# librelp-dev: the RELP sink's header at build time and librelp.so.0 (with its closure) for the package; rsyslog-relp: imrelp for its tests.
apt_build=(libcurl4-openssl-dev zlib1g-dev librelp-dev zip unzip gzip ca-certificates binutils build-essential dpkg-dev libssl-dev)
apt_test=(openssl jq shellcheck rsyslog rsyslog-gnutls rsyslog-relp procps)
pip_test=("moto[server]:moto" "cfn-lint:cfnlint" "jsonschema:jsonschema" "awscli:awscli")

missing_apt() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_apt() {
  local missing
  mapfile -t missing < <(missing_apt "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "deps: installing Debian packages: ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; install them with: sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  # The package lists may be empty on a fresh machine: update once, then install.
  apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
}

install_pip() {
  local spec pkg module missing=()
  for spec in "$@"; do
    pkg=${spec%%:*}
    module=${spec##*:}
    python3 -c "import $module" 2>/dev/null || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "deps: installing PyPI packages: ${missing[*]}" >&2
  python3 -m pip install -q "${missing[@]}"
}

case "${1:-all}" in
  build) install_apt "${apt_build[@]}" ;;
  test|all) install_apt "${apt_build[@]}" "${apt_test[@]}"; install_pip "${pip_test[@]}" ;;
  *) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac
