#!/usr/bin/env bash
# Downloads the real firmware and device trees the tests use from Debian's
# archive, for machines without ../shared/realdata.
#
#   tools/fetch-realdata.sh [DEST]     (default: realdata/ in the workspace,
#                                       where the build looks for it)
#   tools/fetch-realdata.sh --all [DEST]
#                                      (default: realdata-all/): every
#       Qualcomm device tree and firmware file Debian ships, for the board
#       sweep (tests/sweep/sweep.py, //tests/sweep:sweep_test; see
#       docs/BUILDING.md):
#       DEST/dtb/qcom/*.dtb from the arm64 kernel's device trees,
#       DEST/firmware/ in the packages' own layout (qcom/..., ath11k/...),
#       DEST/PACKAGES naming what was fetched. Checked against the
#       archive's package checksums only (no per-file list).
#
# The archive is the one this machine's apt is configured with (its
# sources), fetched through apt's own downloader (apt-helper), so that it
# works wherever apt works: mirrors, proxies and apt.conf settings included.
# DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR override what apt names. Every
# file is taken unmodified from the Debian package named below, the package
# checked against the archive's index and the files against
# tools/realdata.sha256. The firmware is under Qualcomm's redistribution
# licence (Debian's non-free-firmware component).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
all=""
if [[ ${1:-} == --all ]]; then
  all=1
  shift
fi
dest="${1:-$root/realdata${all:+-all}}"
helper=/usr/lib/apt/apt-helper
[[ -x $helper ]] || { echo "fetch-realdata: needs apt ($helper)" >&2; exit 1; }

# The archive and security URIs of the sources apt has configured.
apt_uri() {  # apt_uri security|archive
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
    awk -v want="$1" '{ sec = ($2 ~ /-security$/) }
      (want == "security") == sec { sub(/\/$/, "", $1); print $1; exit }'
}
mirror="${DEBIAN_MIRROR:-$(apt_uri archive)}"
security="${DEBIAN_SECURITY_MIRROR:-$(apt_uri security)}"
if [[ -z $mirror ]]; then
  echo "fetch-realdata: apt names no Debian archive in its sources" \
    "(apt-get indextargets); set DEBIAN_MIRROR=http://your.mirror/debian" >&2
  exit 1
fi
echo "fetch-realdata: archive $mirror, security ${security:-(none configured)}" >&2

# suites (first that has it wins) | component | arch | package | version | files (member=dest)
packages=(
  "bookworm|non-free-firmware|amd64|firmware-qcom-soc|20230210-5|venus-5.2/venus.mbn=firmware/qcom/venus-5.2/venus.mbn sdm845/cdsp.mbn=firmware/qcom/sdm845/cdsp.mbn sm8250/cdsp.mbn=firmware/qcom/sm8250/cdsp.mbn sm8250/adsp.mbn=firmware/qcom/sm8250/adsp.mbn"
  "sid|non-free-firmware|amd64|firmware-qcom-soc|20260916-1|vpu/vpu30_p4.mbn=firmware/qcom/vpu/vpu30_p4.mbn venus-1.8/venus.mbn=firmware/qcom/venus-1.8/venus.mbn apq8016/wcnss.mbn=firmware/qcom/apq8016/wcnss.mbn venus-5.4/venus.mbn=firmware/qcom/venus-5.4/venus.mbn"
  "bookworm bookworm-updates bookworm-security|main|arm64|linux-image-6.1.0-56-arm64||qcom/qrb5165-rb5.dtb=dtb/qrb5165-rb5.dtb qcom/sdm845-db845c.dtb=dtb/sdm845-db845c.dtb"
  "sid|main|arm64|linux-base-7.2.13+deb14-arm64|7.2.13-1|qcom/sm8550-qrd.dtb=dtb/sm8550-qrd.dtb qcom/x1e80100-crd.dtb=dtb/x1e80100-crd.dtb qcom/x1e80100-crd-el2.dtb=dtb/x1e80100-crd-el2.dtb qcom/apq8016-sbc.dtb=dtb/apq8016-sbc.dtb qcom/sc7180-trogdor-lazor-r3.dtb=dtb/sc7180-trogdor-lazor-r3.dtb qcom/sc7280-herobrine-crd.dtb=dtb/sc7280-herobrine-crd.dtb"
)
# --all: whole packages, whatever version the index has; "files" names what
# is unpacked: dtb (every qcom/*.dtb) or firmware:DIR,... (lib/firmware/DIR).
# bookworm's firmware first: sid's, unpacked over it, dropped some of it
# (sm8250's and sdm845's DSPs, venus-5.2).
all_packages=(
  "bookworm|non-free-firmware|amd64|firmware-qcom-soc||firmware:qcom"
  "sid|non-free-firmware|amd64|firmware-qcom-soc||firmware:qcom"
  "sid|non-free-firmware|amd64|firmware-atheros||firmware:ath11k"
  "sid|main|arm64|linux-base-7.2.13+deb14-arm64||dtb"
)

work="$(mktemp -d /tmp/pild-realdata.XXXXXX)"
trap 'rm -rf "$work"' EXIT

download() {  # download URI FILE [SHA256]: through apt's acquire system
  "$helper" -o APT::Sandbox::User=root -o quiet=1 download-file "$1" "$2" \
    ${3:+"SHA256:$3"} >"$work/download.log" 2>&1 || {
    echo "fetch-realdata: cannot download $1:" >&2
    cat "$work/download.log" >&2
    return 1
  }
}

base_of() {  # the archive a suite lives in
  if [[ $1 == *-security ]]; then echo "$security"; else echo "$mirror"; fi
}

index() {  # suite component arch -> path of the uncompressed Packages file
  local suite=$1 component=$2 arch=$3 base
  base="$(base_of "$suite")"
  local file="$work/Packages-$suite-$component-$arch"
  if [[ ! -f $file ]]; then
    if [[ -z $base ]]; then
      : >"$file"
    else
      download "$base/dists/$suite/$component/binary-$arch/Packages.xz" "$file.xz"
      "$helper" cat-file "$file.xz" >"$file"
    fi
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

fetch() {  # fetch ENTRY: downloads and unpacks a package into $unpacked
  IFS='|' read -r suites component arch package version files <<<"$1"
  local found="" suite packages_file filename sha deb
  for suite in $suites; do
    packages_file="$(index "$suite" "$component" "$arch")"
    filename="$(stanza_field "$packages_file" "$package" "$version" Filename)"
    if [[ -n $filename ]]; then
      sha="$(stanza_field "$packages_file" "$package" "$version" SHA256)"
      found="$suite"
      break
    fi
  done
  if [[ -z $found ]]; then
    echo "fetch-realdata: $package ${version:-(any version)} is not in $suites" \
      "at $mirror any more; get its files another way" >&2
    exit 1
  fi
  echo "fetch-realdata: $package from $found ($filename)" >&2
  deb="$work/$(basename "$filename")"
  download "$(base_of "$found")/$filename" "$deb" "$sha"
  unpacked="$work/unpacked-$package"
  dpkg-deb -x "$deb" "$unpacked"
  rm -f "$deb"
  fetched="$package $(basename "$filename" .deb | cut -d_ -f2) $found $sha"
}

if [[ -n $all ]]; then
  rm -rf "$dest/dtb" "$dest/firmware" "$dest/PACKAGES"
  mkdir -p "$dest/dtb/qcom" "$dest/firmware"
  for entry in "${all_packages[@]}"; do
    fetch "$entry"
    if [[ $files == dtb ]]; then
      find "$unpacked" -path '*/qcom/*.dtb' -type f -exec cp -t "$dest/dtb/qcom" {} +
    else
      firmware="$(find "$unpacked" -type d -path '*/lib/firmware' | head -1)"
      IFS=, read -ra dirs <<<"${files#firmware:}"
      for dir in "${dirs[@]}"; do
        # -a: the package's own symlinks (one image under several names) stay.
        cp -a "$firmware/$dir" "$dest/firmware/"
      done
    fi
    echo "$fetched" >>"$dest/PACKAGES"
    rm -rf "$unpacked"
  done
  echo "fetch-realdata: $(find "$dest/dtb/qcom" -name '*.dtb' | wc -l) device trees," \
    "$(find "$dest/firmware" -type f | wc -l) firmware files in $dest" >&2
  exit 0
fi

mkdir -p "$dest"
for entry in "${packages[@]}"; do
  fetch "$entry"
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
  rm -rf "$unpacked"
done

cp "$root/tools/realdata.sha256" "$dest/SHA256SUMS"
(cd "$dest" && sha256sum -c --quiet SHA256SUMS)
echo "fetch-realdata: all files verified in $dest" >&2
