#!/usr/bin/env bash
# Builds Debian's own source package of the installed Abseil with
# ThreadSanitizer, as shared libraries with the same names and SONAMEs as
# the installed ones (Debian's patches and build options, plus
# -fsanitize=thread), and prints their directory. With them first on
# LD_LIBRARY_PATH (./bazelw does that for --config=tsan), absl::Mutex, and
# every lock of gRPC built on it, are visible to ThreadSanitizer; Debian's
# uninstrumented build hides them, and TSan then reports thousands of races
# on state those locks guard.
#
# Cached per Abseil version under ${PILD_CACHE_DIR:-~/.cache/pild}; the
# first build takes several minutes on 2 cores. The source comes from the
# mirror apt is configured with, through a private apt directory holding
# deb-src entries for it (the system's apt configuration is not changed).
#
#   tools/tsan-abseil.sh            # prints .../tsan-abseil-VERSION/lib
set -euo pipefail

version="$(dpkg-query -W -f='${Version}' libabsl-dev)"
cache="${PILD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pild}"
out="$cache/tsan-abseil-$version"
if [[ -f $out/complete ]]; then
  echo "$out/lib"
  exit 0
fi
say() { echo "tsan-abseil: $*" >&2; }
say "building Debian's abseil $version with -fsanitize=thread into $out" \
  "(once per version; several minutes)"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' \
  "$root/build/debian-packages-tsan.txt")
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed ||
    missing+=("$pkg")
done
if ((${#missing[@]})); then
  as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
      say "missing Debian packages: ${missing[*]}; install them as root:"
      say "  sudo apt-get install -y ${missing[*]}"
      exit 1
    fi
    as_root=(sudo -n)
  fi
  say "installing ${missing[*]} (build/debian-packages-tsan.txt)"
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q \
    --no-install-recommends "${missing[@]}" >&2
fi

work="$(mktemp -d /tmp/tsan-abseil.XXXXXX)"
trap 'rm -rf "$work"' EXIT
log="$work/log"
run() {  # run WHAT COMMAND...: output to the log, its end shown on failure
  local what=$1 start=$SECONDS
  shift
  if ! "$@" >>"$log" 2>&1; then
    say "$what failed: $*"
    tail -n 30 "$log" >&2
    exit 1
  fi
  say "$what: done in $((SECONDS - start)) s"
}

# deb-src twins of the configured deb entries (one-line and deb822 files).
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
{
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk '
      function flush(  n, i, s) {
        n = (deb && uris != "") ? split(suites, s, " ") : 0
        for (i = 1; i <= n; i++)
          printf "deb-src%s %s %s %s\n", signed, uris, s[i], components
        deb = 0; uris = suites = components = signed = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^Types:/ { deb = ($0 ~ /[[:space:]]deb([[:space:]]|$)/) }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { $1 = ""; suites = substr($0, 2) }
      /^Components:/ { $1 = ""; components = substr($0, 2) }
      /^Signed-By:/ { signed = " [signed-by=" $2 "]" }
      END { flush() }' "$f"
  done
} | grep -v '^$' >"$apt_dir/sources.list"
if ! [[ -s $apt_dir/sources.list ]]; then
  say "no deb entries in /etc/apt to derive deb-src entries from"
  exit 1
fi
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list"
          -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists"
          -o "Dir::Cache=$apt_dir/cache"
          -o "APT::Sandbox::User=root")
run "reading the source package lists" apt-get "${apt_opts[@]}" update -q
mkdir "$work/src"
(cd "$work/src" &&
  run "downloading the source of abseil $version" \
    apt-get "${apt_opts[@]}" source --download-only "abseil=$version")
run "unpacking it with Debian's patches" \
  dpkg-source --no-check -x "$work"/src/abseil_*.dsc "$work/abseil"

# Debian's flags (debian/rules: hardening=+bindnow) plus ThreadSanitizer.
export DEB_BUILD_MAINT_OPTIONS="hardening=+bindnow"
cxxflags="$(dpkg-buildflags --get CXXFLAGS) -fsanitize=thread"
ldflags="$(dpkg-buildflags --get LDFLAGS) -fsanitize=thread"
run "configuring (cmake, BUILD_SHARED_LIBS=ON as Debian builds them)" \
  cmake -S "$work/abseil" -B "$work/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON \
    -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
    -DCMAKE_INSTALL_PREFIX="$out.partial" -DCMAKE_INSTALL_LIBDIR=lib
run "building" ninja -C "$work/build"
rm -rf "$out.partial"
run "installing" ninja -C "$work/build" install

# Same libraries, same SONAMEs as the installed ones, or nothing.
system_dir="$(dirname "$(dpkg -L libabsl20220623 2>/dev/null |
  grep -m1 'libabsl_base\.so\.' || true)")"
for lib in "$system_dir"/libabsl_*.so.*; do
  [[ -L $lib ]] || continue
  name="$(basename "$lib")"
  if ! [[ -e $out.partial/lib/$name ]]; then
    say "the build has no $name, which the installed package has"
    exit 1
  fi
  soname="$(objdump -p "$out.partial/lib/$name" | awk '/SONAME/ { print $2 }')"
  if [[ $soname != "$name" ]]; then
    say "$name has SONAME $soname"
    exit 1
  fi
done
rm -rf "$out.partial/include" "$out.partial/lib/cmake" "$out.partial/lib/pkgconfig"
touch "$out.partial/complete"
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out/lib"
