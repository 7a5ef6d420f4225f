#!/usr/bin/env bash
# The demo behind `./bazelw run //:demo`: pild on the embedded sim board,
# driven with pilctl as a user would. It boots the Iris video codec step by
# step on an SM8550-style board where Linux owns the SMMU, stops it, then
# shows what a missing Map does.
#
#   ./bazelw run //:demo [-- --realdata=DIR]
#
# Firmware: images signed by pild's TEST-ONLY root for every coprocessor of
# the board; with the real data (default ../shared/realdata beside the
# workspace, or --realdata=DIR) the codec boots Qualcomm's real vpu30_p4.
set -euo pipefail

runfiles="${BASH_SOURCE[0]}.runfiles/pild"
[[ -d "$runfiles" ]] || runfiles="$PWD"
pild="$runfiles/server/pild"
pilctl="$runfiles/client/pilctl"
pilimage="$runfiles/tools/pilimage"
testkeys="$runfiles/platform/image/testkeys"

realdata="${BUILD_WORKSPACE_DIRECTORY:-$PWD}/../shared/realdata"
for arg in "$@"; do
  case "$arg" in
    --realdata=*) realdata="${arg#--realdata=}" ;;
    *) echo "demo: unknown argument $arg" >&2; exit 2 ;;
  esac
done

bold=$'\e[1m' dim=$'\e[2m' reset=$'\e[0m'
[[ -t 1 ]] || bold="" dim="" reset=""
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$reset"; }
say() { printf '  %s\n' "$@"; }
shown() {  # prints a command line (program by its name)
  local words=("${1##*/}" "${@:2}")
  printf '%s$ %s%s\n' "$dim" "${words[*]}" "$reset"
}
show() {  # prints a command, then runs it
  shown "$@"
  "$@"
}

work="$(mktemp -d /tmp/pild-demo.XXXXXX)"
pids=()
power_off_sim() {  # DIR: the pilsim beside the pild socket in DIR
  local sim_pid
  sim_pid="$(cat "$1/pilsim.sock.pid" 2>/dev/null)" || return 0
  kill -TERM "$sim_pid" 2>/dev/null || return 0
  for _ in $(seq 100); do [[ -e "$1/pilsim.sock" ]] || break; sleep 0.05; done
}
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  power_off_sim "$work/el2"
  power_off_sim "$work/el1"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM PIPE

start_pild() {  # DIR ARGS...: pild listening on DIR/pild.sock
  local dir="$1"
  shift
  mkdir -p "$dir"
  printf '%s$ pild --listen=unix:%s --audit-db=%s %s &%s\n' "$dim" \
    "$dir/pild.sock" "$dir/audit.db" "$*" "$reset"
  "$pild" --listen="unix:$dir/pild.sock" --audit-db="$dir/audit.db" "$@" \
    2>"$dir/pild.log" &
  pids+=("$!")
  for _ in $(seq 100); do
    "$pilctl" --server="unix:$dir/pild.sock" --timeout=200ms list >/dev/null 2>&1 && break
    sleep 0.1
  done
  sed 's/^/  /' "$dir/pild.log"
}

stop_pild() {  # DIR PID
  printf '%s$ kill -TERM %s%s\n' "$dim" "$2" "$reset"
  kill -TERM "$2"
  wait "$2" && say "pild exited cleanly"
  power_off_sim "$1"
}

# ---------------------------------------------------------------------------
step "Firmware for the board, in a firmware directory pild reads from"
firmware="$work/firmware"
sign() {  # NAME BASE SPAN SW_ID SEED: a test-signed image placed at BASE
  mkdir -p "$(dirname "$firmware/$1")"
  "$pilimage" synth --base="$2" --size="$3" --seed="$5" "$work/image.elf"
  "$pilimage" sign --keys="$testkeys" --version=6 --sw-id="$4" \
    "$work/image.elf" "$firmware/$1"
}
sign qcom/sm8550/adsp.mbn 0x9ea00000 0x200000 0x4 1
sign qcom/sm8550/adsp_dtb.mbn 0x9e980000 0x40000 0x53 2
sign qcom/sm8550/cdsp.mbn 0x9c900000 0x200000 0x17 3
sign qcom/sm8550/cdsp_dtb.mbn 0x9e900000 0x40000 0x52 4
if [[ -f "$realdata/firmware/qcom/vpu/vpu30_p4.mbn" ]]; then
  mkdir -p "$firmware/qcom/vpu"
  cp "$realdata/firmware/qcom/vpu/vpu30_p4.mbn" "$firmware/qcom/vpu/"
  video_image="Qualcomm's real vpu30_p4.mbn (from $realdata)"
else
  sign qcom/vpu/vpu30_p4.mbn 0x9bb00000 0x200000 0xe 5
  video_image="a test-signed vpu30_p4.mbn (no real data at $realdata)"
fi
rm -f "$work/image.elf"
say "ADSP and CDSP (each with its DTB image): signed by pild's TEST-ONLY root"
say "Iris video codec: $video_image"

# ---------------------------------------------------------------------------
step "Start pild on the sim, the default backend: an SM8550-style board where Linux owns the SMMU"
say "(pild starts the simulated SoC, pilsim, in its own process: like hardware, it outlives pild)"
start_pild "$work/el2" --firmware-path="$firmware"
main_pid="${pids[-1]}"
export PILD_SOCKET="$work/el2/pild.sock"
# Every state change, recorded in the background and shown at the end.
"$pilctl" watch --changes >"$work/watch.log" 2>&1 &
pids+=("$!")

step "The coprocessors pild discovered in the board's device tree"
show "$pilctl" list

step "What pild will load into the codec, validated before any secure-world call"
shown "$pilctl" inspect --firmware=qcom/vpu/vpu30_p4.mbn --coprocessor=video
"$pilctl" inspect --firmware=qcom/vpu/vpu30_p4.mbn --coprocessor=video | head -7
echo "  ... (then every segment, the signers and their certificate chains)"

# ---------------------------------------------------------------------------
step "1. Authenticate: verify, copy the segments into the carveout, hand the metadata to the secure world"
show "$pilctl" authenticate video

step "2. Map: the carveout at IOVA 0 for the codec's firmware stream 0x19e2 (iommu-map function 0)"
show "$pilctl" map video

step "3. Reset: SHM bridge over the carveout only while TZ authenticates, then wait for 'ready'"
show "$pilctl" reset video

step "Running: the hardware as the platform reports it"
shown "$pilctl" status video --hardware
"$pilctl" status video --hardware | grep -E '^(state|image|PAS|SHM|SMMU|  )' 

step "The DSPs in one transaction each (Start = Authenticate + Map + Reset)"
shown "$pilctl" start adsp
"$pilctl" start adsp | head -3
echo "  ..."
shown "$pilctl" start cdsp
"$pilctl" start cdsp | tail -6
show "$pilctl" list

step "Stop the codec: stop request, PAS shutdown, unmap, detach; nothing is left"
show "$pilctl" stop video

# ---------------------------------------------------------------------------
step "What a missing Map does: an EL1 device tree (no firmware streams) on a SoC without a hypervisor"
say "pild reads the device tree of the hypervisor board; the simulated SoC has no hypervisor to map for it."
printf 'hypervisor: false\n' >"$work/no-hypervisor.textproto"
start_pild "$work/el1" --board=sm8550-hyp-sim --profile="$work/no-hypervisor.textproto" \
  --firmware-path="$firmware"
el1_pid="${pids[-1]}"
export PILD_SOCKET="$work/el1/pild.sock"
shown "$pilctl" authenticate video
"$pilctl" authenticate video | head -1
show "$pilctl" map video
set +e
show "$pilctl" reset video
code=$?
set -e
say "(exit code $code)"
step "pild rolled it back: offline, no metadata, bridge or mapping left, and the error kept for later"
shown "$pilctl" status video --hardware
"$pilctl" status video --hardware | grep -E '^(state|last error|PAS|SHM|SMMU|  )' || true

# ---------------------------------------------------------------------------
step "Every transition is recorded: who, what, which image, how it ended"
export PILD_SOCKET="$work/el2/pild.sock"
show "$pilctl" history
say "(the audit trail is a SQLite database, $work/el2/audit.db: it survives pild)"

step "Who pild takes the caller for, and what it may do (root only: no --policy)"
show "$pilctl" info

step "The state changes a watcher saw meanwhile (pilctl watch --changes)"
sed 's/^/  /' "$work/watch.log"

if [[ -d "$realdata/dtb" ]]; then
  step "Real device trees work too: the X1E80100 CRD with Linux at EL2, read offline"
  show "$pilctl" devicetree "$realdata/dtb/x1e80100-crd-el2.dtb"
fi

step "Stop pild (both instances) and power off the simulated SoCs"
stop_pild "$work/el1" "$el1_pid"
stop_pild "$work/el2" "$main_pid"
say "pilsims powered off"
