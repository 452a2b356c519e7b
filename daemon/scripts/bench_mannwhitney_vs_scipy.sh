#!/usr/bin/env bash
# Mann-Whitney on 1M vs 1M raw samples: canaryd (criterion) against scipy, on the same data.
#
#   daemon/scripts/bench_mannwhitney_vs_scipy.sh
#
# Needs python3 with scipy and numpy. Honours CARGO_TARGET_DIR (default: target). The data file
# is written once by the Python script and read by both sides.
set -euo pipefail
cd "$(dirname "$0")/../.."
target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
data_file="$(realpath "$target_dir")/mannwhitney_1M_vs_1M.f64"

scipy_output="$(python3 daemon/scripts/bench_scipy_mannwhitney.py "$data_file")"
echo "$scipy_output"
scipy_seconds="$(echo "$scipy_output" | sed -n 's/^scipy_seconds=//p')"

CANARYD_MW_BENCH_DATA="$data_file" cargo bench -p canaryd --bench statistics -- \
    'mann_whitney_samples/1M_vs_1M'
estimates="$target_dir/criterion/mann_whitney_samples/1M_vs_1M/new/estimates.json"
python3 - "$estimates" "$scipy_seconds" <<'PY'
import json, sys
estimates = json.load(open(sys.argv[1]))
ours = estimates["median"]["point_estimate"] / 1e9
scipy_seconds = float(sys.argv[2])
print(f"canaryd mann_whitney_samples: {ours * 1e3:.1f} ms (criterion median)")
print(f"scipy mannwhitneyu:           {scipy_seconds * 1e3:.1f} ms (best of 5)")
print(f"speed-up: {scipy_seconds / ours:.1f}x")
PY
