#!/usr/bin/env python3
"""Time scipy.stats.mannwhitneyu on the data the Rust bench `mann_whitney_samples/1M_vs_1M` uses.

    python3 daemon/scripts/bench_scipy_mannwhitney.py DATA_FILE [--repeats 5]

Writes DATA_FILE first if it does not exist: 1,000,000 baseline and 1,000,000 canary log-normal
latencies (median 100 ms, sigma 0.5, canary 2% slower; numpy default_rng seed 20261122), as
little-endian u64 n_baseline, u64 n_canary, then the f64 values (baseline first). The Rust bench
reads the same file through CANARYD_MW_BENCH_DATA. Prints the best and median wall time of
`mannwhitneyu(canary, baseline, method="asymptotic", use_continuity=True,
alternative="greater")` and, last, a line `scipy_seconds=<best>` for the driver script.
"""

import argparse
import os
import statistics
import time

import numpy as np
import scipy
from scipy import stats

N = 1_000_000
SEED = 20261122


def write_data(path):
    rng = np.random.default_rng(SEED)
    baseline = 100.0 * np.exp(0.5 * rng.standard_normal(N))
    canary = 1.02 * 100.0 * np.exp(0.5 * rng.standard_normal(N))
    with open(path, "wb") as handle:
        handle.write(np.array([N, N], dtype="<u8").tobytes())
        handle.write(baseline.astype("<f8").tobytes())
        handle.write(canary.astype("<f8").tobytes())


def read_data(path):
    raw = np.fromfile(path, dtype="<u8", count=2)
    n_baseline, n_canary = int(raw[0]), int(raw[1])
    values = np.fromfile(path, dtype="<f8", offset=16)
    assert values.size == n_baseline + n_canary, "truncated data file"
    return values[:n_baseline], values[n_baseline:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_file")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not os.path.exists(args.data_file):
        write_data(args.data_file)
    baseline, canary = read_data(args.data_file)
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = stats.mannwhitneyu(
            canary, baseline, method="asymptotic", use_continuity=True, alternative="greater"
        )
        timings.append(time.perf_counter() - start)
    print(f"scipy {scipy.__version__}, numpy {np.__version__}: mannwhitneyu "
          f"{baseline.size} baseline vs {canary.size} canary")
    print(f"U_canary={result.statistic!r} p_greater={result.pvalue!r}")
    print(f"best {min(timings) * 1e3:.1f} ms, median {statistics.median(timings) * 1e3:.1f} ms "
          f"over {len(timings)} runs")
    print(f"scipy_seconds={min(timings)!r}")


if __name__ == "__main__":
    main()
