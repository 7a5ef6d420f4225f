#!/usr/bin/env bash
# The demo behind `./bazelw run //:demo`: pild on the embedded sim board,
# driven with pilctl as a user would.
#
#   ./bazelw run //:demo [-- --realdata=DIR]
#
# --realdata: the real firmware and device trees (default
# ../shared/realdata beside the workspace); the demo shows what pild reads
# from the real device trees when they are there.
set -euo pipefail

runfiles="${BASH_SOURCE[0]}.runfiles/pild"
[[ -d "$runfiles" ]] || runfiles="$PWD"
pild="$runfiles/server/pild"
pilctl="$runfiles/client/pilctl"

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
show() {  # prints a command (program by its name), then runs it
  local shown=("${1##*/}" "${@:2}")
  printf '%s$ %s%s\n' "$dim" "${shown[*]}" "$reset"
  "$@"
}

work="$(mktemp -d /tmp/pild-demo.XXXXXX)"
socket="$work/pild.sock"
power_off_sim() {
  local sim_pid
  sim_pid="$(cat "$work/pilsim.sock.pid" 2>/dev/null)" || return 0
  kill -TERM "$sim_pid" 2>/dev/null || return 0
  for _ in $(seq 100); do [[ -e "$work/pilsim.sock" ]] || break; sleep 0.05; done
}
trap 'kill "$pid" 2>/dev/null || true; power_off_sim; rm -rf "$work"' EXIT
trap 'exit 1' INT TERM PIPE

step "Start pild on the sim, the default backend: an SM8550-style board where Linux owns the SMMU"
echo "  (pild starts the simulated SoC, pilsim, in its own process: like hardware, it outlives pild)"
printf '%s$ pild --platform=sim --listen=unix:%s &%s\n' "$dim" "$socket" "$reset"
"$pild" --platform=sim --listen="unix:$socket" 2>"$work/pild.log" &
pid=$!
for _ in $(seq 100); do
  "$pilctl" --server="unix:$socket" --timeout=200ms list >/dev/null 2>&1 && break
  sleep 0.1
done
sed 's/^/  /' "$work/pild.log"
export PILD_SOCKET="$socket"

step "The coprocessors pild discovered in the board's device tree"
show "$pilctl" list

step "The Iris video codec: its firmware (function 0 of iommu-map) fetches with stream 0x19e2"
show "$pilctl" status video

step "The same, for scripts"
adsp_json="$(show "$pilctl" --json status adsp)"
head -22 <<<"$adsp_json"
echo "  ..."

step "Errors carry a stable reason and a documented exit code"
show "$pilctl" status gpu || echo "  (exit code $?)"

if [[ -d "$realdata/dtb" ]]; then
  step "Real device trees, read offline: the X1E80100 CRD with and without a hypervisor"
  show "$pilctl" devicetree "$realdata/dtb/x1e80100-crd.dtb"
  show "$pilctl" devicetree "$realdata/dtb/x1e80100-crd-el2.dtb"
else
  step "No real data at $realdata (pass --realdata=DIR to show real device trees)"
fi

step "Stop pild"
printf '%s$ kill -TERM %s%s\n' "$dim" "$pid" "$reset"
kill -TERM "$pid"
wait "$pid" && echo "  pild exited cleanly; socket removed: $([[ -e $socket ]] && echo no || echo yes)"

step "Power off the simulated SoC"
printf '%s$ kill -TERM $(cat %s)%s\n' "$dim" "$work/pilsim.sock.pid" "$reset"
power_off_sim
echo "  pilsim powered off"
