#!/usr/bin/env bash
# Under --config=tsan: ThreadSanitizer reports the canary's unlocked race,
# and sees absl::Mutex order the locked one (no report). Elsewhere the
# canary is not instrumented and the test says so and fails.
set -uo pipefail
canary="$1"
out="$TEST_TMPDIR/out"
"$canary" race >"$out" 2>&1
status=$?
if ! grep -q "WARNING: ThreadSanitizer: data race" "$out"; then
  echo "FAIL: no ThreadSanitizer report for an unlocked race (exit $status):"
  cat "$out"
  echo "(run it as ./bazelw test --config=tsan //tests/tsan:canary_test)"
  exit 1
fi
"$canary" locked >"$out" 2>&1
status=$?
if [[ $status -ne 0 ]] || grep -q "ThreadSanitizer" "$out"; then
  echo "FAIL: ThreadSanitizer does not see absl::Mutex (exit $status):"
  cat "$out"
  echo "(is Debian's Abseil rebuilt with TSan first on LD_LIBRARY_PATH?)"
  exit 1
fi
echo "ok: the race is reported, the locked updates are not"
