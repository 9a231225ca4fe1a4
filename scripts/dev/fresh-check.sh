#!/usr/bin/env bash
# `make fresh-check`: proves that the README's two commands work on a fresh machine. Builds a clean Debian 12 root
# file system with debootstrap (from Debian's own packages, cached under .build/fresh-root), adds what the Swift
# toolchain itself needs (the prerequisites swift.org lists for Debian 12) and this machine's toolchain (bind-mounted
# read-only), clones the repository's HEAD into it and runs `make run`, then `make test` there, as root, with
# Debian's own python3, and this machine's Swift package mirror if it has one. Everything else (libcurl, librelp, rsyslog, moto, cfn-lint, ...) must be installed by the
# Makefile itself. Needs root, network access to the Debian mirror and PyPI, and about 40 minutes on 2 cores.
# Output: .build/fresh-check/{run,test}.log; exits non-zero when either command fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
base="$root/.build/fresh-root/base"       # the cached debootstrap result, never modified after it is made
chroot_dir="$root/.build/fresh-root/run"  # a fresh copy per check
logs="$root/.build/fresh-check"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
swift_dir=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")
# What the Swift toolchain needs on Debian 12 (swift.org's Linux installation prerequisites), not what apitap needs.
swift_prereqs=(binutils git gnupg2 libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev libpython3-dev libsqlite3-0
  libstdc++-12-dev libxml2-dev libz3-dev pkg-config tzdata zlib1g-dev libncurses6 ca-certificates make python3)
mounted=()

die() { echo "fresh-check: $*" >&2; exit 1; }

cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

bind() { # bind SOURCE TARGET [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounted+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}

main() {
  [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mounts)"
  [ -x "$swift_dir/bin/swift" ] || die "no swift toolchain on PATH"
  [ -z "$(git -C "$root" status --porcelain --untracked-files=no)" ] || echo "fresh-check: uncommitted changes are not checked (HEAD is cloned)" >&2
  mkdir -p "$logs"
  command -v debootstrap >/dev/null || apt-get install -y debootstrap >/dev/null || { apt-get update >/dev/null && apt-get install -y debootstrap >/dev/null; }
  if [ ! -e "$base/.complete" ]; then
    echo "== debootstrap bookworm into $base (once; cached)"
    rm -rf "$base"
    debootstrap --variant=minbase bookworm "$base" "$mirror" >"$logs/debootstrap.log" 2>&1 || die "debootstrap failed: see $logs/debootstrap.log"
    touch "$base/.complete"
  fi
  echo "== a fresh copy of the root file system"
  rm -rf "$chroot_dir"
  cp -a "$base" "$chroot_dir"
  cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
  bind /proc "$chroot_dir/proc"
  bind /sys "$chroot_dir/sys"
  bind /dev "$chroot_dir/dev"
  bind /dev/pts "$chroot_dir/dev/pts"
  bind "$swift_dir" "$chroot_dir/opt/swift-toolchain" ro
  # This machine's Swift package mirror (git `insteadOf` rules in /etc/gitconfig), as on the machine itself.
  local rule from to
  while read -r rule to; do
    from=${rule#url.}; from=${from%.insteadof}
    if [ "${from#/}" != "$from" ] && [ -d "$from" ] && ! mountpoint -q "$chroot_dir$from"; then bind "$from" "$chroot_dir$from" ro; fi
    git config --file "$chroot_dir/etc/gitconfig" --add "url.$from.insteadOf" "$to"
  done < <(git config --system --get-regexp '^url\..*\.insteadof$' || true)
  # This machine's network: the certificate authorities it trusts beyond Debian's (a TLS-inspecting egress proxy
  # here) and its pip configuration, which a machine on that network would have too.
  mkdir -p "$chroot_dir/usr/local/share/ca-certificates"
  cp -a /usr/local/share/ca-certificates/. "$chroot_dir/usr/local/share/ca-certificates/" 2>/dev/null || true
  [ ! -e /etc/pip.conf ] || cp /etc/pip.conf "$chroot_dir/etc/pip.conf"
  echo "== the Swift toolchain's own prerequisites"
  chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update && apt-get install -y --no-install-recommends ${swift_prereqs[*]} && update-ca-certificates" >"$logs/prereqs.log" 2>&1 ||
    die "installing the toolchain prerequisites failed: see $logs/prereqs.log"
  echo "== clone HEAD"
  git clone -q "$root" "$chroot_dir/root/apitap"
  local env=(/usr/bin/env -i HOME=/root TERM=dumb CI=true LANG=C.UTF-8
    PATH=/opt/swift-toolchain/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  local status=0
  echo "== make run (log: $logs/run.log)"
  chroot "$chroot_dir" "${env[@]}" sh -c 'cd /root/apitap && make run' >"$logs/run.log" 2>&1 || status=$?
  tail -n 3 "$logs/run.log"
  [ "$status" -eq 0 ] || die "make run failed (exit $status): see $logs/run.log"
  echo "== make test (log: $logs/test.log)"
  chroot "$chroot_dir" "${env[@]}" sh -c 'cd /root/apitap && make test' >"$logs/test.log" 2>&1 || status=$?
  tail -n 3 "$logs/test.log"
  [ "$status" -eq 0 ] || die "make test failed (exit $status): see $logs/test.log"
  echo "fresh-check: make run and make test pass in a fresh Debian 12 root file system"
}

main "$@"
