#!/usr/bin/env bash
# bench/peer: omnitune against PyTorch eager (Google's gemma_pytorch) on the same weights, the same
# ids and the same work, interleaved on this machine (bench/peer/README.md has the procedure):
#   1. the peer (bench_gemma_pytorch.py) runs, timed, and exports the model it timed as an HF
#      directory with the exact ids and its reference outputs;
#   2. peer_bench (omnitune's Gemma3Model, nn/ and generate()) checks its logits and loss against
#      those outputs, then times the same workloads; then peer, omnitune, ... (P C P C);
#   3. summarize.py prints one table: each rate, each program's fraction of its own same-run peak,
#      and omnitune / peer, next to the goals of issue 18.
# Needs Debian's python3-torch (1.13, the libtorch_cpu omnitune links) and a gemma_pytorch
# checkout at commit 014acb7ac4563a5f77c76d7ff98f31b568c16508 (its gemma/ package is enough).
# Usage: run.sh --gemma-pytorch DIR [--out DIR] [--pairs N] [--threads N] [--unfused] [--quick] [BUILD_DIR]
#   --out DIR   where the export, each run's JSON and log, and summary.txt go (default: a new
#               runs/bench-peer-<date-time> folder; an existing folder with results is refused)
#   --pairs N   peer/omnitune pairs (default 2)
#   --unfused   each round also runs omnitune with its fused CPU kernels off (P C U P C U): what
#               the kernels bring, measured in the same run (a column of the table)
#   --quick     one repetition of each workload and one generation (a check of the setup, not a
#               measurement)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bench/peer"
gp="" out="" pairs=2 threads=2 quick=0 unfused=0 build="$root/build/cpu"
while [ $# -gt 0 ]; do
  case "$1" in
    --gemma-pytorch) gp=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --unfused) unfused=1; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1 (--help)" >&2; exit 2 ;;
    *) build=$1; shift ;;
  esac
done
[ -n "$gp" ] || gp=${GEMMA_PYTORCH_DIR:-}
if [ -z "$gp" ] || [ ! -f "$gp/gemma/gemma3_model.py" ]; then
  echo "run.sh: --gemma-pytorch DIR must be a gemma_pytorch checkout (DIR/gemma/gemma3_model.py); got '${gp}'" >&2; exit 2
fi
case "$pairs" in ''|*[!0-9]*|0) echo "run.sh: --pairs must be a positive integer, got '$pairs'" >&2; exit 2 ;; esac
bench=$build/bench/peer_bench
[ -x "$bench" ] || { echo "run.sh: $bench not built (cmake --build $build --target peer_bench)" >&2; exit 1; }
py=/usr/bin/python3
"$py" -c "import torch, numpy" 2>/dev/null || {
  echo "run.sh: $py has no torch: apt-get install python3-torch python3-numpy (Debian's torch 1.13)" >&2; exit 1; }
[ -n "$out" ] || out="$root/runs/bench-peer-$(date +%Y%m%d-%H%M%S)"
if [ -e "$out/summary.txt" ] || [ -e "$out/export" ]; then
  echo "run.sh: $out already holds results; choose another --out" >&2; exit 1
fi
mkdir -p "$out"
# Same threads and BLAS pool in both programs: torch never sizes OpenBLAS's pool (fp32 matmuls),
# so both processes start with these set; bf16 runs in oneDNN, which follows the thread count.
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
reps=(); [ $quick -eq 1 ] && reps=(--reps 1 --gen-reps 1 --peak-reps 2)

peer() {  # peer N [--export DIR]
  local n=$1; shift
  echo "== peer run $n ($(date +%H:%M:%S))"
  "$py" "$here/bench_gemma_pytorch.py" --gemma-pytorch "$gp" \
    --gemma-pytorch-rev 014acb7ac4563a5f77c76d7ff98f31b568c16508 --threads "$threads" \
    --json "$out/peer-$n.json" "${reps[@]}" "$@" >"$out/peer-$n.log" 2>&1 || {
    echo "run.sh: the peer failed; its log: $out/peer-$n.log" >&2; tail -20 "$out/peer-$n.log" >&2; exit 1; }
}
ours() {  # ours NAME N [peer_bench flags]
  local name=$1 n=$2; shift 2
  echo "== $name run $n ($(date +%H:%M:%S))"
  "$bench" "$out/export" --threads "$threads" --json "$out/$name-$n.json" "${reps[@]}" "$@" >"$out/$name-$n.log" 2>&1 || {
    echo "run.sh: peer_bench failed; its log: $out/$name-$n.log" >&2; tail -20 "$out/$name-$n.log" >&2; exit 1; }
  grep -E "check|greedy" "$out/$name-$n.log" | sed 's/^/   /'
}
round() {  # round N: omnitune (and unfused) after the peer
  ours omnitune "$1"
  [ $unfused -eq 0 ] || ours unfused "$1" --unfused
}

peer 1 --export "$out/export"
round 1
for n in $(seq 2 "$pairs"); do
  peer "$n"
  round "$n"
done
peer_json=() ours_json=() unfused_json=()
for n in $(seq 1 "$pairs"); do
  peer_json+=("$out/peer-$n.json"); ours_json+=("$out/omnitune-$n.json"); unfused_json+=("$out/unfused-$n.json")
done
extra=(); [ $unfused -eq 0 ] || extra=(--unfused "${unfused_json[@]}")
"$py" "$here/summarize.py" --peer "${peer_json[@]}" --omnitune "${ours_json[@]}" "${extra[@]}" | tee "$out/summary.txt"
echo "results: $out (summary.txt, each run's JSON and log, the export)"
