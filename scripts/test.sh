#!/usr/bin/env bash
# Runs the whole test suite on real PostgreSQL. With no WAYMARK_TEST_DATABASE_URL the test process
# starts its own private cluster (initdb into a temporary folder, loopback only) and removes it at exit;
# a watcher process stops and removes it even when the test process crashes or is killed, and the
# `waymark` processes tests start end with it, so there is nothing to clean up here.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

# The API's contract is checked by schemathesis (ContractFuzzTests), from PyPI.
if ! command -v st >/dev/null 2>&1 || ! st --version 2>/dev/null | grep -q "version 4\."; then
    echo "installing schemathesis (the API contract's checker) with pip" >&2
    python3 -m pip install --quiet --disable-pip-version-check "schemathesis>=4.32,<5" >&2
fi

# The console's browser tests (ConsoleBrowserTests) drive Debian's chromium with Selenium from PyPI;
# the operations kit's tests (DeployKitTests) check deploy/prometheus with promtool, from Debian's prometheus.
tools_missing=()
command -v chromium >/dev/null 2>&1 || tools_missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || tools_missing+=(chromium-driver)
command -v promtool >/dev/null 2>&1 || tools_missing+=(prometheus)
if [ ${#tools_missing[@]} -gt 0 ]; then install_debian_packages "${tools_missing[@]}"; fi
if ! python3 -c "import selenium" >/dev/null 2>&1; then
    echo "installing selenium (the console's browser tests) with pip" >&2
    python3 -m pip install --quiet --disable-pip-version-check "selenium>=4.20,<5" >&2
fi

# Style first: the toolchain's formatter, with the repository's .swift-format, must find nothing.
swift format lint --strict --recursive Sources Tests Package.swift

swift build --build-tests
log=$(mktemp)
status=0
# A test that hangs must not eat CI's time silently: past the limit the run is stopped and the
# tests that started and never ended are named.
limit=${WAYMARK_TEST_TIME_LIMIT:-1500}
# Swift Testing starts every test at once unless told otherwise. On two cores that opened more
# connections than the private server takes (800), once no test blocked the pool's threads; 48 at a
# time keep them near 350 and the whole run as short.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-48}"
timeout --kill-after=30 "$limit" swift test --skip-build "$@" 2>&1 | tee "$log" || status=$?
# The API against its contract (schemathesis) runs alone afterwards: it keeps both cores busy,
# which would starve the timing of the tests beside it. Only in a whole run (no filter given).
if [ $# -eq 0 ] && [ "$status" -eq 0 ]; then
    fuzz_log=$(mktemp)
    WAYMARK_CONTRACT_FUZZ=1 timeout --kill-after=30 600 swift test --skip-build --filter ContractFuzzTests 2>&1 | tee "$fuzz_log" || status=$?
    fuzz_failed=$(grep -Ec '^✘ Test ".*" failed' "$fuzz_log" || true)
    if [ "$fuzz_failed" -gt 0 ]; then echo "the API failed its contract check (schemathesis)" >&2; fi
    grep -Eq 'Test run with [1-9][0-9]* tests?' "$fuzz_log" || { echo "the contract check did not run" >&2; status=1; }
    rm -f "$fuzz_log"
fi
# The console in chromium, the demo as the main job, the operations kit and every bench at its
# smallest sizes run after the rest too, for the same reason (WAYMARK_ALONE_TESTS=1).
if [ $# -eq 0 ] && [ "$status" -eq 0 ]; then
    alone_log=$(mktemp)
    WAYMARK_ALONE_TESTS=1 timeout --kill-after=30 900 swift test --skip-build --filter "ConsoleBrowserTests|DemoCommandTests|DeployKitTests|BenchSmokeTests" 2>&1 \
        | tee "$alone_log" || status=$?
    if grep -Eq '^✘ Test ".*" failed' "$alone_log"; then echo "the browser, demo, deploy-kit or bench tests failed" >&2; status=1; fi
    grep -Eq 'Test run with [4-9][0-9]* tests?|Test run with [1-9][0-9]+ tests?' "$alone_log" || { echo "the browser, demo, deploy-kit and bench tests did not run" >&2; status=1; }
    rm -f "$alone_log"
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "the test run passed its limit of $limit seconds (WAYMARK_TEST_TIME_LIMIT); still running then:" >&2
    started=$(sed -n 's/^[^ ]* Test "\(.*\)" started\.$/\1/p' "$log" | sort -u)
    ended=$(sed -En 's/^[^ ]* Test "(.*)" (passed|failed|with|skipped).*/\1/p' "$log" | sort -u)
    comm -23 <(echo "$started") <(echo "$ended") | sed 's/^/  /' >&2
fi

# One plain closing line with the counts, after the XCTest and Swift Testing summaries.
total=$(grep -Eo 'Test run with [0-9]+ tests?' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)
failed=$(grep -Ec '^✘ Test ".*" failed' "$log" || true)
rm -f "$log"
if [ -n "$total" ]; then
    echo "$((total - failed)) passed, $failed failed"
fi
if [ "$status" -eq 0 ] && [ -z "$total" ]; then
    echo "no tests ran" >&2
    exit 1
fi
exit "$status"
