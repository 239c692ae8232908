#!/usr/bin/env bash
# perf_analyzer concurrency sweeps over gRPC, run in the Triton SDK container:
#   docker compose --profile perf run --rm perf         (or: bash perf_analyzer.sh HOST:8001)
# finbert gets real headlines (finbert_perf_input.json, from investiq/data/headlines.txt);
# patchtst gets random windows of 512 closes. Results: CSV files under $PERF_OUT (p50/p95/p99; default
# /tmp/perf; compose mounts benchmarks/results/gpu/perf there).
set -euo pipefail
url=${1:-localhost:8001}
here=$(cd "$(dirname "$0")" && pwd)
out=${PERF_OUT:-/tmp/perf}
mkdir -p "$out"
for c in 1 2 4 8 16 32 64; do
  perf_analyzer -m finbert -u "$url" -i grpc --input-data "$here/finbert_perf_input.json" \
    --concurrency-range "$c" --percentile=99 --measurement-interval 5000 -f "$out/finbert_c$c.csv"
  perf_analyzer -m patchtst -u "$url" -i grpc --shape past_values:512,1 \
    --concurrency-range "$c" --percentile=99 --measurement-interval 5000 -f "$out/patchtst_c$c.csv"
done
echo "results in $out"
