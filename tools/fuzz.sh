#!/usr/bin/env bash
# Runs the libFuzzer targets under ASan/UBSan for a bounded time.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Default: 60 s for every target in tests/fuzz. With FUZZ_RUNS=N each target
# runs exactly N inputs from seed 1 instead (reproducible; CI uses it;
# service_fuzzer, which makes real gRPC calls, N/10). Each target starts from the
# inputs its replay test uses; new interesting inputs go to a scratch
# directory, and a crash leaves its reproducer there and makes the script
# exit non-zero. Prints per target the executions and their rate. The
# scratch directory is kept when a target found a problem or FUZZ_KEEP=1
# (to add new inputs to the checked-in corpus), removed otherwise.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^    name = "\(.*_fuzzer\)",$/\1/p' tests/fuzz/BUILD.bazel)
fi

query() {  # files of the targets matching a cquery expression
  ./bazelw cquery "$@" --output=starlark \
    --starlark:expr='"\n".join([f.path for f in target.files.to_list()])' 2>/dev/null
}

work="$(mktemp -d /tmp/pild-fuzz.XXXXXX)"
labels=("${targets[@]/#///tests/fuzz:}")
# (gold warns about every ASan symbol; the build log keeps that out of view.)
if ! ./bazelw build --config=fuzz "${labels[@]}" >"$work/build.log" 2>&1 ||
   ! ./bazelw build "${labels[@]/%/_test}" >>"$work/build.log" 2>&1; then
  grep -E 'ERROR|error' "$work/build.log" >&2
  exit 1
fi
execroot="$(./bazelw info execution_root 2>/dev/null)"

status=0
for target in "${targets[@]}"; do
  name="${target%_fuzzer}"
  corpus="$work/$name"
  mkdir -p "$corpus"
  # Start from every input the replay test uses (checked-in corpus, bundled
  # boards, real data, generated images).
  seeds="$work/$name-seeds"
  mkdir -p "$seeds"
  while read -r seed; do
    [[ -n "$seed" ]] && cp -rL "$execroot/$seed" "$seeds/$(echo "$seed" | tr / _)"
  done < <(query "labels(data, //tests/fuzz:${target}_test)")
  binary="$execroot/$(query --config=fuzz "//tests/fuzz:$target")"
  log="$work/$name.log"
  echo "== $target: ${seconds}s from $(find "$seeds" -type f | wc -l) seed inputs" >&2
  if [[ -n "${FUZZ_RUNS:-}" ]]; then
    runs="$FUZZ_RUNS"
    # Real gRPC calls over a socket: about 50 inputs/s under ASan.
    [[ $target == service_fuzzer ]] && runs=$((runs / 10))
    budget=(-runs="$runs" -seed=1)
  else
    budget=(-max_total_time="$seconds")
  fi
  if "$binary" "${budget[@]}" -print_final_stats=1 \
      -artifact_prefix="$work/$name-" "$corpus" "$seeds" >"$log" 2>&1; then
    echo "RESULT $target ok"
  else
    status=1
    echo "RESULT $target fail"
    echo "!! $target found a problem; reproducer and log in $work" >&2
    tail -40 "$log" >&2
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  echo "$target: ${execs:-?} executions (${rate:-?}/s), $(ls "$corpus" | wc -l) new corpus inputs"
done
if [[ $status -ne 0 || ${FUZZ_KEEP:-0} == 1 ]]; then
  echo "scratch: $work" >&2
else
  rm -rf "$work"
fi
exit "$status"
