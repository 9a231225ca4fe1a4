#!/usr/bin/env bash
# Runs every test suite (Swift unit and integration tests, the packaged zip, the deploy scripts), keeps each one's
# output under .build/test-logs/, and ends with one line "N passed, N failed" over all of them.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
logs="$root/.build/test-logs"
mkdir -p "$logs"
total_passed=0
total_failed=0
failed_suites=()

# Adds a suite's counts; a suite that exits non-zero without a failure count still counts as one failure.
record() {
  local name=$1 status=$2 passed=$3 failed=$4
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  [ "$failed" -eq 0 ] || failed_suites+=("$name (log: ${logs#"$root"/}/$name.log)")
  echo "== $name: $passed passed, $failed failed"
}

run_swift() {
  local status=0 passed failed
  echo "== swift test (unit and integration tests)"
  (cd "$root" && swift build --build-tests) >"$logs/swift-build.log" 2>&1 || { tail -40 "$logs/swift-build.log"; record swift-build 1 0 1; return; }
  rm -f "$logs"/swift*.xml
  (cd "$root" && swift test --skip-build --xunit-output "$logs/swift.xml" 2>&1) | tee "$logs/swift.log" | grep -E "✘|Test run with|error:" || true
  status=${PIPESTATUS[0]}
  # Counted from the xUnit report, not the console: console lines can be lost when the pipe is full.
  local report="$logs/swift-swift-testing.xml"
  if ! read -r passed failed < <(python3 - "$report" 2>/dev/null <<'PY'
import sys, xml.etree.ElementTree as ET
cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
bad = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(len(cases) - bad, bad)
PY
  ); then passed=0 failed=1; fi
  record swift "$status" "$passed" "$failed"
}

# Shell suites print "N passed, N failed" as their last line.
run_shell() {
  local name=$1 script=$2 status=0 line passed=0 failed=0
  echo "== $name"
  "$script" >"$logs/$name.log" 2>&1 || status=$?
  grep -E "^not ok|FAIL" "$logs/$name.log" | head -20 || true
  line=$(grep -E "^[0-9]+ passed, [0-9]+ failed" "$logs/$name.log" | tail -1 || true)
  if [ -n "$line" ]; then
    passed=${line%% passed*}
    failed=${line#*, }; failed=${failed%% failed*}
  fi
  record "$name" "$status" "$passed" "$failed"
}

main() {
  run_swift
  run_shell double-tests "$root/Tests/doubles/run.sh"
  run_shell package-tests "$root/Tests/package/run.sh"
  run_shell tick-tests "$root/Tests/tick/run.sh"
  run_shell flex-tests "$root/Tests/flex/run.sh"
  run_shell audit-tests "$root/Tests/audit/run.sh"
  run_shell posture-tests "$root/Tests/posture/run.sh"
  run_shell flex-policy-tests "$root/Tests/flexpolicy/run.sh"
  run_shell e2e-tests "$root/Tests/e2e/run.sh"
  run_shell script-tests "$root/Tests/scripts/run.sh"
  run_shell fuzz-tests "$root/Tests/Fuzz/run.sh"
  if [ "${#failed_suites[@]}" -gt 0 ]; then
    printf 'failed: %s\n' "${failed_suites[@]}"
  fi
  echo "$total_passed passed, $total_failed failed"
  [ "$total_failed" -eq 0 ]
}

main "$@"
