#!/usr/bin/env bash
# Downloads the real firmware and device trees the tests use from Debian's
# archive, for machines without ../shared/realdata.
#
#   tools/fetch-realdata.sh [DEST]     (default: realdata/ in the workspace,
#                                       where the build looks for it)
#
# Every file is taken unmodified from the Debian package named below and
# checked against tools/realdata.sha256. Needs curl, xz and dpkg-deb. The
# firmware is under Qualcomm's redistribution licence (Debian's
# non-free-firmware component).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/realdata}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

# suites (first that has it wins) | component | arch | package | version | files (basename=dest)
packages=(
  "bookworm|non-free-firmware|amd64|firmware-qcom-soc|20230210-5|venus-5.2/venus.mbn=firmware/qcom/venus-5.2/venus.mbn sdm845/cdsp.mbn=firmware/qcom/sdm845/cdsp.mbn sm8250/cdsp.mbn=firmware/qcom/sm8250/cdsp.mbn"
  "sid|non-free-firmware|amd64|firmware-qcom-soc|20260916-1|vpu/vpu30_p4.mbn=firmware/qcom/vpu/vpu30_p4.mbn"
  "bookworm bookworm-updates bookworm-security|main|arm64|linux-image-6.1.0-56-arm64||qcom/qrb5165-rb5.dtb=dtb/qrb5165-rb5.dtb qcom/sdm845-db845c.dtb=dtb/sdm845-db845c.dtb"
  "sid|main|arm64|linux-base-7.2.13+deb14-arm64|7.2.13-1|qcom/sm8550-qrd.dtb=dtb/sm8550-qrd.dtb qcom/x1e80100-crd.dtb=dtb/x1e80100-crd.dtb qcom/x1e80100-crd-el2.dtb=dtb/x1e80100-crd-el2.dtb"
)

work="$(mktemp -d /tmp/pild-realdata.XXXXXX)"
trap 'rm -rf "$work"' EXIT

index() {  # suite component arch -> path of the uncompressed Packages file
  local suite=$1 component=$2 arch=$3 base=$mirror
  [[ $suite == *-security ]] && base=$security
  local file="$work/Packages-$suite-$component-$arch"
  if [[ ! -f $file ]]; then
    curl -fsSL "$base/dists/$suite/$component/binary-$arch/Packages.xz" | xz -d >"$file"
  fi
  echo "$file"
}

stanza_field() {  # Packages-file package version field
  awk -v pkg="$2" -v ver="$3" -v field="$4" '
    /^Package: / { p = ($2 == pkg) }
    p && /^Version: / { v = $2 }
    p && $1 == field":" { val = $2 }
    /^$/ { if (p && (ver == "" || v == ver) && val != "") { print val; exit } p = 0; val = "" }
  ' "$1"
}

mkdir -p "$dest"
for entry in "${packages[@]}"; do
  IFS='|' read -r suites component arch package version files <<<"$entry"
  found=""
  for suite in $suites; do
    packages_file="$(index "$suite" "$component" "$arch")"
    filename="$(stanza_field "$packages_file" "$package" "$version" Filename)"
    if [[ -n $filename ]]; then
      sha="$(stanza_field "$packages_file" "$package" "$version" SHA256)"
      base=$mirror
      [[ $suite == *-security ]] && base=$security
      found="$suite"
      break
    fi
  done
  if [[ -z $found ]]; then
    echo "fetch-realdata: $package ${version:-(any version)} is not in $suites any more;" \
      "get the files listed in tools/realdata.sha256 another way" >&2
    exit 1
  fi
  echo "fetch-realdata: $package from $found ($filename)" >&2
  deb="$work/$(basename "$filename")"
  curl -fsSL -o "$deb" "$base/$filename"
  echo "$sha  $deb" | sha256sum -c --quiet -
  unpacked="$work/unpacked-$package"
  dpkg-deb -x "$deb" "$unpacked"
  for pair in $files; do
    member="${pair%%=*}" target="${pair#*=}"
    source="$(find "$unpacked" -path "*/$member" \( -type f -o -type l \) | head -1)"
    if [[ -z $source ]]; then
      echo "fetch-realdata: $member is not in $package" >&2
      exit 1
    fi
    mkdir -p "$dest/$(dirname "$target")"
    cp -L "$source" "$dest/$target"
  done
  rm -rf "$deb" "$unpacked"
done

cp "$root/tools/realdata.sha256" "$dest/SHA256SUMS"
(cd "$dest" && sha256sum -c --quiet SHA256SUMS)
echo "fetch-realdata: all files verified in $dest" >&2
