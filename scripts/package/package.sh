#!/usr/bin/env bash
# Builds the release binary and writes .build/lambda/apitap.zip for provided.al2023 (x86_64):
# bootstrap (static launcher), bin/apitap, lib/ (every shared object it loads, the C library and loader included)
# and certs/ca-bundle.crt. Nothing of the host image is used at run time.
# libcurl.so.4 is not Debian's but a slim build of the same curl (scripts/package/build-curl.sh: HTTP/HTTPS with
# OpenSSL and zlib only), so lib/ holds the C and C++ runtimes, libcurl, libssl, libcrypto and libz, not the ~30
# objects of Debian's libcurl4 closure. If that build fails, so does the package.
# librelp.so.0 (Debian's librelp0) is not linked but opened with dlopen by the RELP sink, so ldd of the binary does not
# list it: it is copied with the part of its closure lib/ does not hold yet (GnuTLS and what GnuTLS needs).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build/lambda"
stage="$out/stage"
zip_path="$out/apitap.zip"

die() { echo "package: $*" >&2; exit 1; }

main() {
  local bin_dir binary curl_lib
  command -v zip >/dev/null || die "zip is missing (apt-get install zip)"
  cd "$root"
  curl_lib=$(scripts/package/build-curl.sh) || die "the slim libcurl build failed (see above); not packaging"
  swift build -c release --static-swift-stdlib --product apitap
  bin_dir=$(swift build -c release --static-swift-stdlib --show-bin-path)
  binary="$bin_dir/apitap"
  [ -x "$binary" ] || die "release binary not found at $binary"

  rm -rf "$stage" "$zip_path"
  mkdir -p "$stage/bin" "$stage/lib" "$stage/certs"
  cp "$binary" "$stage/bin/apitap"
  strip "$stage/bin/apitap"
  gcc -static -O2 -s -o "$stage/bootstrap" scripts/package/bootstrap.c
  copy_libraries "$stage/bin/apitap" "$stage/lib" "$curl_lib"
  copy_dlopened "$(relp_library)" "$stage/lib"
  cp -L "$(ca_bundle)" "$stage/certs/ca-bundle.crt"

  # Fixed times and modes make the zip byte-identical for identical inputs (uploads stay idempotent).
  find "$stage" -type f -exec chmod 0644 {} +
  chmod 0755 "$stage/bootstrap" "$stage/bin/apitap" "$stage/lib/ld-linux-x86-64.so.2"
  find "$stage" -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +
  (cd "$stage" && LC_ALL=C find bootstrap bin lib certs -type f | LC_ALL=C sort | zip -q -X -9 "$zip_path" -@)
  echo "package: wrote $zip_path ($(stat -c %s "$zip_path") bytes; unpacked $(du -sb "$stage" | cut -f1) bytes)"
}

# Copies every shared object the binary needs, resolved by the host loader with the slim libcurl's directory first,
# under its soname; fails on "not found", on an undefined symbol, or if libcurl did not resolve to the slim build.
copy_libraries() {
  local binary=$1 dest=$2 curl_lib=$3 line name path listing
  listing=$(LD_LIBRARY_PATH="$(dirname "$curl_lib")" ldd -r "$binary" 2>&1) || die "ldd failed: $listing"
  while IFS= read -r line; do
    case "$line" in
      *"not found"*) die "missing shared object: $line" ;;
      *"undefined symbol"*) die "unresolved with the slim libcurl: $line" ;;
      *"libcurl.so.4 => "*)
        path=$(echo "$line" | awk '{print $3}')
        [ "$path" = "$curl_lib" ] || die "libcurl.so.4 resolved to $path, not to the slim build $curl_lib"
        cp -L "$path" "$dest/libcurl.so.4"
        ;;
      *linux-vdso*) continue ;;
      *"=>"*)
        name=$(echo "$line" | awk '{print $1}')
        path=$(echo "$line" | awk '{print $3}')
        cp -L "$path" "$dest/$name"
        ;;
      */ld-linux-x86-64.so.2*)
        path=$(echo "$line" | awk '{print $1}')
        cp -L "$path" "$dest/ld-linux-x86-64.so.2"
        ;;
    esac
  done <<<"$listing"
  [ -f "$dest/ld-linux-x86-64.so.2" ] || die "the loader was not found in ldd's output"
  [ -f "$dest/libcurl.so.4" ] || die "libcurl.so.4 was not found in ldd's output"
  [ -f "$dest/libc.so.6" ] || die "libc.so.6 was not found in ldd's output"
}

relp_library() {
  local path
  path=$(ldconfig -p | awk '$1 == "librelp.so.0" && /x86-64/ {print $NF; exit}')
  if [ -z "$path" ] || [ ! -r "$path" ]; then die "librelp.so.0 is missing (apt-get install librelp0 librelp-dev)"; fi
  echo "$path"
}

# Copies a library opened with dlopen, and each object of its closure that lib/ does not already hold (the loader,
# libc and OpenSSL come from the binary's own closure), under its soname; fails on "not found".
copy_dlopened() {
  local library=$1 dest=$2 line name path listing
  listing=$(ldd "$library" 2>&1) || die "ldd $library failed: $listing"
  cp -L "$library" "$dest/$(basename "$library")"
  while IFS= read -r line; do
    case "$line" in
      *"not found"*) die "missing shared object for $library: $line" ;;
      *"=>"*)
        name=$(echo "$line" | awk '{print $1}')
        path=$(echo "$line" | awk '{print $3}')
        [ -f "$dest/$name" ] || cp -L "$path" "$dest/$name"
        ;;
    esac
  done <<<"$listing"
}

ca_bundle() {
  local candidate
  for candidate in "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -n "$candidate" ] && [ -r "$candidate" ]; then echo "$candidate"; return; fi
  done
  die "no CA bundle found (apt-get install ca-certificates)"
}

main "$@"
