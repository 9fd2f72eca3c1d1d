#!/usr/bin/env bash
# Fetch ONNX Runtime C/C++ headers from Debian's libonnxruntime-dev package.
#
# The onnxruntime wheel ships the runtime library but no headers, and PyPI has no headers
# package. Debian packages them (about 85 kB), so this script downloads that one .deb with
# apt-get and unpacks it with dpkg-deb. It touches no root-owned apt state: the package list
# lives in a temporary directory, and the mirror is taken from this machine's own apt
# configuration.
#
# Usage: fetch_ort_headers.sh DEST_DIR
# On success DEST_DIR/include/onnxruntime/onnxruntime_cxx_api.h exists.
set -euo pipefail

dest=${1:?usage: fetch_ort_headers.sh DEST_DIR}
suite=${FASTORT_DEBIAN_SUITE:-trixie}
package=libonnxruntime-dev

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "fetch_ort_headers: '$tool' not found" >&2; exit 1; }
done

# The first Debian archive URI this machine's apt uses (deb822 .sources or one-line .list).
mirror_uri() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\// && $i ~ /\/debian\/?$/) { print $i; exit } }' "$f"
  done
}
mirror=$(mirror_uri | head -n 1)
[ -n "$mirror" ] || { echo "fetch_ort_headers: no Debian mirror found in /etc/apt" >&2; exit 1; }

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { echo "fetch_ort_headers: missing $keyring" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=$keyring] $mirror $suite main" >"$work/sources.list"

apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Debug::NoLocking=1"
  -q
)
apt-get "${apt_opts[@]}" update >"$work/update.log" 2>&1 ||
  { cat "$work/update.log" >&2; echo "fetch_ort_headers: apt-get update failed" >&2; exit 1; }
(cd "$work" && apt-get "${apt_opts[@]}" download "$package") >"$work/download.log" 2>&1 ||
  { cat "$work/download.log" >&2; echo "fetch_ort_headers: download of $package failed" >&2; exit 1; }

deb=$(ls "$work"/"$package"_*.deb)
dpkg-deb -x "$deb" "$work/root"
header=$(find "$work/root" -name onnxruntime_cxx_api.h | head -n 1)
[ -n "$header" ] || { echo "fetch_ort_headers: $deb has no onnxruntime_cxx_api.h" >&2; exit 1; }

mkdir -p "$dest/include"
rm -rf "$dest/include/onnxruntime"
cp -r "$(dirname "$header")" "$dest/include/onnxruntime"
echo "fetch_ort_headers: $(basename "$deb") -> $dest/include/onnxruntime"
