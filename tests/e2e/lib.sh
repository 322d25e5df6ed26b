# Shared by the end-to-end test scripts (sourced): a scratch directory removed on exit (kept when
# KEEP_WORK is set), PASS/FAIL counting, and the closing line ctest reads.
#   source "$(dirname "$0")/../e2e/lib.sh"   ...   check "name" command args...   ...   finish
# shellcheck shell=bash
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then echo "PASS: $name"; pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi; }
finish() { echo "$pass passed, $fail failed"; test "$fail" -eq 0; }
# sample_shards PRESET PREPROCESS_CONFIG INPUT_PREFIX [make-sample args...]: the quickstart's data
# in $work: a sample set, a tiny random-weight model of PRESET with the sample tokenizer, and the
# train and validation splits ($work/sample/<INPUT_PREFIX><split>.jsonl) preprocessed by
# configs/PREPROCESS_CONFIG into $work/shards, with $mpi. Needs $bin, $src and $mpi.
# shellcheck disable=SC2154  # $bin, $src and $mpi are set by the sourcing script
sample_shards() {
  local preset=$1 config=$2 prefix=$3 split; shift 3
  "$bin/omnitune-make-sample" --out "$work/sample" "$@" >"$work/sample.log" 2>&1
  "$bin/omnitune-init-model" --preset "$preset" --out "$work/model" --tokenizer "$work/sample/tokenizer/tokenizer.model" \
    --dtype float32 >"$work/init.log" 2>&1
  for split in train validation; do
    # shellcheck disable=SC2086  # $mpi is a command line
    SAMPLE_DIR="$work/sample" MODEL_DIR="$work/model" SHARDS_DIR="$work/shards" \
      $mpi "$bin/omnitune-preprocess" --config "$src/configs/$config" --preprocess.split "$split" \
      --preprocess.input "$work/sample/$prefix$split.jsonl" >"$work/pre-$split.log" 2>&1
  done
}
