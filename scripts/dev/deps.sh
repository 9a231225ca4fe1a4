#!/usr/bin/env bash
# Installs what building and testing apitap needs, only when it is missing: Debian packages, and PyPI packages into
# the project's virtual environment `.venv/` (Debian's own Python refuses `pip install` outside one: PEP 668). The
# Makefile puts `.venv/bin` first on PATH, so `python3`, `moto_server`, `cfn-lint` and `aws` in the tests are the ones
# installed here.
# Usage: scripts/dev/deps.sh [build|run|test|all]   (default: all; run = what `make run` needs: moto, jq and column)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv"

# build-essential, dpkg-dev and libssl-dev: scripts/package/build-curl.sh builds the packaged libcurl from Debian's source.
# librelp-dev: the RELP sink's header at build time and librelp.so.0 (with its closure) for the package; rsyslog-relp: imrelp for its tests.
apt_build=(libcurl4-openssl-dev zlib1g-dev librelp-dev zip unzip gzip ca-certificates binutils build-essential dpkg-dev libssl-dev)
# curl: the suites ask the doubles for their counters; file: the package suite; bsdextrautils: column (tables).
apt_test=(openssl jq shellcheck rsyslog rsyslog-gnutls rsyslog-relp procps curl file bsdextrautils)
# python3-venv: Debian's python3 makes virtual environments only with it (a python3 from elsewhere has venv built in).
apt_python=(python3 python3-venv)
# Pinned: the versions the suites were last run with (a newer moto or cfn-lint can change answers or findings).
# Each spec is "requirement:module:version"; a module present at another version is reinstalled.
pip_moto="moto[server]==5.2.1:moto:5.2.1"
pip_test=("$pip_moto" "cfn-lint==1.51.0:cfnlint:1.51.0" "jsonschema==4.26.0:jsonschema:4.26.0" "awscli==1.45.11:awscli:1.45.11")

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

# The interpreter the virtual environment is made from: the first python3 on PATH outside .venv.
base_python() {
  local dir
  local IFS=:
  for dir in $PATH; do
    [ "$dir" = "$venv/bin" ] && continue
    [ -x "$dir/python3" ] && { echo "$dir/python3"; return 0; }
  done
  return 1
}

ensure_venv() {
  [ -x "$venv/bin/python3" ] && "$venv/bin/python3" -c 'import sys' 2>/dev/null && return 0
  local python
  python=$(base_python) || { install_apt "${apt_python[@]}"; python=$(base_python); }
  if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
    install_apt "${apt_python[@]}"
  fi
  echo "deps: creating the virtual environment $venv (from $python)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
}

install_pip() {
  local spec pkg module missing=()
  ensure_venv
  local version
  for spec in "$@"; do
    IFS=: read -r pkg module version <<<"$spec"
    [ "$("$venv/bin/python3" -c "import importlib.metadata as m, $module; print(m.version('${pkg%%[[=]*}'))" 2>/dev/null)" = "$version" ] ||
      missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "deps: installing PyPI packages into .venv: ${missing[*]}" >&2
  "$venv/bin/python3" -m pip install -q --disable-pip-version-check "${missing[@]}"
}

case "${1:-all}" in
  build) install_apt "${apt_build[@]}" ;;
  run) install_apt "${apt_build[@]}" jq bsdextrautils; install_pip "$pip_moto" ;;
  test|all) install_apt "${apt_build[@]}" "${apt_test[@]}"; install_pip "${pip_test[@]}" ;;
  *) echo "usage: $0 [build|run|test|all]" >&2; exit 2 ;;
esac
