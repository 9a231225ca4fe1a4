#!/usr/bin/env bash
# Builds the slim libcurl.so.4 that the Lambda package ships instead of Debian's libcurl4 and prints its path.
#
# Debian's libcurl4 (OpenSSL flavour) loads ~30 shared objects (GnuTLS via librtmp and libldap, Kerberos, libssh2,
# libidn2, libpsl, nghttp2, brotli, zstd, ...), which dominated the cold start. apitap needs HTTP/1.1, HTTPS with
# OpenSSL, proxies from the environment, IPv4/IPv6 and the threaded resolver; nothing else. This script builds the
# same curl Debian ships (the source package whose version matches the installed libcurl4-openssl-dev, Debian's
# patches applied, the OpenSSL flavour: same soname, same CURL_OPENSSL_4 symbol version), with only those features,
# against the system OpenSSL and zlib. The Swift binary is still compiled and linked against the system libcurl; only
# the copy in the zip changes.
#
# Output: .build/curl/<debian version>-<key>/libcurl.so.4, reused when it exists (the key covers the version, the
# configure flags and the compiler flags). Everything else under .build/curl/ is scratch.
# The source comes from deb.debian.org through apt with private options (its own sources file with deb-src entries,
# lists and cache under .build/curl/apt/); the machine's apt configuration and state are not touched.
# Any failure is fatal: the packager must not quietly ship Debian's libcurl and its closure instead.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
top="$root/.build/curl"
suites=(bookworm bookworm-security)

# Only HTTP(S); everything apitap does not use is left out, so that only libssl, libcrypto and libz are needed.
configure_flags=(
  --disable-dependency-tracking --enable-shared --disable-static
  --enable-symbol-hiding --enable-versioned-symbols
  --with-openssl --with-zlib --disable-openssl-auto-load-config
  --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --with-ca-path=/etc/ssl/certs
  # Kept: HTTP, proxies (environment variables, CONNECT), IPv6, the threaded resolver, Basic auth (proxy user
  # information), verbose strings (curl_easy_strerror and the error buffer), socketpair (curl_multi_wakeup).
  --enable-http --enable-proxy --enable-ipv6 --enable-threaded-resolver --disable-ares --enable-http-auth
  --enable-verbose --enable-socketpair
  --disable-ftp --disable-file --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet
  --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt
  --disable-websockets --disable-unix-sockets
  --disable-crypto-auth --disable-ntlm --disable-ntlm-wb --disable-tls-srp
  --disable-cookies --disable-alt-svc --disable-hsts --disable-doh --disable-mime --disable-netrc
  --disable-dateparse --disable-headers-api --disable-get-easy-options --disable-progress-meter
  --disable-manual --disable-libcurl-option
  --without-libidn2 --without-libpsl --without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche
  --without-msh3 --without-hyper --without-brotli --without-zstd --without-libssh2 --without-libssh
  --without-wolfssh --without-librtmp --without-gssapi --without-libgsasl
  --without-zsh-functions-dir --without-fish-functions-dir
)

# Patches that touch the build system (configure.ac, *.am, ltmain.sh, curl-config.in) and are known not to matter for
# this build: the configure script shipped in the upstream tarball is used as is (no autoreconf), which is right
# only while every such patch is about a feature left out here (GSS-API, LDAP), the curl tool or curl-config.
# A new one makes the build stop, to be reviewed.
build_system_patches_reviewed=(
  04_workaround_as_needed_bug.patch 08_enable-zsh.patch
  build-Divide-mit-krb5-gssapi-link-flags-between-LDFLAGS-a.patch 11_omit-directories-from-config.patch
  Remove-curl-s-LDFLAGS-from-curl-config-static-libs.patch Use-OpenLDAP-specific-functionality.patch
)
# The last two patches of Debian's series turn the tree into the GnuTLS and NSS flavours; debian/rules pops them for
# the OpenSSL build (libcurl.so.4), and so does this script.
flavour_patches=(99_nss.patch 90_gnutls.patch)

die() {
  echo "build-curl: $*" >&2
  echo "build-curl: the slim libcurl could not be built; the package is not made (see scripts/package/build-curl.sh)" >&2
  exit 1
}
log() { echo "build-curl: $*" >&2; }

main() {
  local version upstream key out
  for tool in apt-get apt-cache dpkg-source dpkg-buildflags dpkg-query patch make gcc flock sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is missing (scripts/dev/deps.sh build installs the build dependencies)"
  done
  version=$(dpkg-query -W -f='${source:Version}' libcurl4-openssl-dev 2>/dev/null) ||
    die "libcurl4-openssl-dev is not installed (the Swift binary is compiled against it)"
  upstream=${version%-*}
  upstream=${upstream#*:}
  mkdir -p "$top"
  exec 9>"$top/.lock"
  flock 9

  local cflags cppflags ldflags
  cflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CFLAGS | sed 's/ -ffile-prefix-map=[^ ]*//')
  cppflags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS) -DCURL_PATCHSTAMP=\"$version\""
  ldflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)
  key=$(printf '%s\n' "$version" "${configure_flags[@]}" "$cflags" "$cppflags" "$ldflags" | sha256sum | cut -c1-12)
  out="$top/$version-$key"
  if [ -f "$out/libcurl.so.4" ]; then
    log "reusing $out/libcurl.so.4 (curl $version)"
    echo "$out/libcurl.so.4"
    return 0
  fi

  local dsc src
  dsc=$(fetch_source "$version" "$upstream")
  src="$top/work/curl-$upstream"
  unpack "$dsc" "$src"
  build "$src" "$out" "$cflags" "$cppflags" "$ldflags" "$(basename "$dsc" .dsc)"
  echo "$out/libcurl.so.4"
}

# Downloads Debian's curl source package into .build/curl/sources/ (kept: a rebuild with other flags needs no
# network) and prints the .dsc path. apt checks the files against the signed Sources index.
fetch_source() {
  local want=$1 upstream=$2 apt_dir="$top/apt" dl="$top/sources" chosen="" v
  mkdir -p "$dl"
  if [ -f "$dl/curl_${want#*:}.dsc" ]; then echo "$dl/curl_${want#*:}.dsc"; return 0; fi

  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  {
    for suite in "${suites[@]}"; do
      case "$suite" in *-security) echo "URIs: http://deb.debian.org/debian-security" ;; *) echo "URIs: http://deb.debian.org/debian" ;; esac
      printf 'Types: deb-src\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' "$suite"
    done
  } >"$apt_dir/sources.sources"
  local apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.sources" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root
  )
  log "fetching the source index of ${suites[*]} (deb-src, private apt lists under $apt_dir)"
  apt-get "${apt_opts[@]}" -q update >"$apt_dir/update.log" 2>&1 ||
    die "apt-get update (deb-src) failed: $(tail -n 5 "$apt_dir/update.log")"

  # The exact version the Swift binary was compiled against; if the archive has moved on (only the newest revision
  # of a suite is kept), the newest revision of the same upstream version: Debian revisions of one upstream version
  # keep the ABI (they carry fixes only).
  local available=()
  mapfile -t available < <(apt-cache "${apt_opts[@]}" showsrc curl 2>/dev/null | sed -n 's/^Version: //p')
  [ "${#available[@]}" -gt 0 ] ||
    die "no curl source package found in ${suites[*]} (is deb.debian.org reachable?): $(grep -E '^(W|E):' "$apt_dir/update.log" | head -n 3)"
  for v in "${available[@]}"; do
    if [ "$v" = "$want" ]; then chosen=$v; break; fi
    case "$v" in
      "$upstream"-*|*:"$upstream"-*)
        if [ -z "$chosen" ] || dpkg --compare-versions "$v" gt "$chosen"; then chosen=$v; fi ;;
    esac
  done
  [ -n "$chosen" ] || die "curl $upstream (installed: $want) is not in the archive (available: ${available[*]})"
  [ "$chosen" = "$want" ] || log "curl $want is no longer in the archive; using $chosen (same upstream version)"

  log "downloading the source package curl $chosen"
  (cd "$dl" && apt-get "${apt_opts[@]}" -q source --download-only "curl=$chosen" >"$apt_dir/source.log" 2>&1) ||
    die "apt-get source curl=$chosen failed: $(tail -n 5 "$apt_dir/source.log")"
  [ -f "$dl/curl_${chosen#*:}.dsc" ] || die "apt-get source did not leave curl_${chosen#*:}.dsc in $dl"
  echo "$dl/curl_${chosen#*:}.dsc"
}

# Unpacks with Debian's patches applied (dpkg-source), then takes the GnuTLS and NSS flavour patches off again.
unpack() {
  local dsc=$1 src=$2 p file
  rm -rf "$top/work"
  mkdir -p "$top/work"
  dpkg-source -q -x "$dsc" "$src" >"$top/work/unpack.log" 2>&1 ||
    die "dpkg-source -x $dsc failed: $(tail -n 5 "$top/work/unpack.log")"
  [ "$(grep -v '^#' "$src/debian/patches/series" | grep . | tail -n 2 | tr '\n' ' ')" = "90_gnutls.patch 99_nss.patch " ] ||
    die "debian/patches/series no longer ends with 90_gnutls.patch 99_nss.patch; review build-curl.sh"
  for p in "${flavour_patches[@]}"; do
    patch -d "$src" -R -p1 -s <"$src/debian/patches/$p" || die "could not take $p off"
  done
  while IFS= read -r p; do
    case " ${flavour_patches[*]} ${build_system_patches_reviewed[*]} " in *" $p "*) continue ;; esac
    while IFS= read -r file; do
      case "$file" in
        */configure.ac|*/configure|*.am|*.m4|*/ltmain.sh|*/Makefile.in|*/curl-config.in|*.vers.in)
          die "Debian patch $p changes $file (the build system): review build-curl.sh (autoreconf may be needed)" ;;
      esac
    done < <(sed -n 's/^+++ \([^[:space:]]*\).*/\1/p' "$src/debian/patches/$p")
  done < <(grep -v '^#' "$src/debian/patches/series" | grep .)
}

build() {
  local src=$1 out=$2 cflags=$3 cppflags=$4 ldflags=$5 name=$6 started lib
  started=$(date +%s)
  log "configuring $name (only HTTP/HTTPS, OpenSSL, zlib)"
  (cd "$src" && CFLAGS="$cflags" CPPFLAGS="$cppflags" LDFLAGS="$ldflags" \
    ./configure "${configure_flags[@]}" >"$top/work/configure.log" 2>&1) ||
    die "configure failed: $(tail -n 5 "$top/work/configure.log") (full log: $top/work/configure.log)"
  log "compiling libcurl"
  make -C "$src/lib" -j"${CURL_BUILD_JOBS:-$(nproc)}" >"$top/work/make.log" 2>&1 ||
    die "make failed: $(tail -n 5 "$top/work/make.log") (full log: $top/work/make.log)"
  lib=$(readlink -f "$src/lib/.libs/libcurl.so.4") || true
  if [ -z "$lib" ] || [ ! -f "$lib" ]; then die "lib/.libs/libcurl.so.4 was not built"; fi
  check_library "$lib"
  mkdir -p "$out.tmp"
  strip --strip-unneeded -o "$out.tmp/libcurl.so.4" "$lib"
  grep -E '^ *(Protocols|Features|SSL|zlib|IPv6|Resolver|Proxy):' -i "$top/work/configure.log" >"$out.tmp/features.txt" || true
  printf '%s\n' "$name" "${configure_flags[@]}" >"$out.tmp/configure-flags.txt"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  log "built $out/libcurl.so.4 in $(($(date +%s) - started)) s"
}

# The result must be the OpenSSL flavour under its usual soname and symbol version, and need nothing beyond
# OpenSSL, zlib and the C library.
check_library() {
  local lib=$1 needed extra dynamic versions
  # Read readelf's output whole first: `readelf | grep -q` under pipefail fails at random (SIGPIPE once grep has its match).
  dynamic=$(readelf -d "$lib")
  versions=$(readelf -V "$lib")
  grep -q 'Library soname: \[libcurl.so.4\]' <<<"$dynamic" || die "$lib does not have the soname libcurl.so.4"
  grep -q 'CURL_OPENSSL_4' <<<"$versions" || die "$lib does not define the symbol version CURL_OPENSSL_4"
  needed=$(sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' <<<"$dynamic")
  extra=$(grep -Ev '^(libssl\.so\.3|libcrypto\.so\.3|libz\.so\.1|libc\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$' <<<"$needed" || true)
  [ -z "$extra" ] || die "$lib needs more than OpenSSL, zlib and libc: $(tr '\n' ' ' <<<"$extra")"
}

main "$@"
