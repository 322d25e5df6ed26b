#!/usr/bin/env bash
# The SLURM templates on a real SLURM: starts a throw-away cluster on this machine (munged,
# slurmctld, 2 slurmd = 2 nodes with 2 CPUs and 2 fake GPUs each, partitions cpu and gpu), then
#   - sbatch --wait scripts/slurm/preprocess.sh on 2 tasks across the 2 nodes: the shards equal a
#     local single-rank run's, the run dir holds the resolved config, the job log and rank logs;
#   - sbatch --wait scripts/slurm/generate.sh with the tiny model on 2 tasks across the 2 nodes
#     (srun --mpi=pmix): the answers JSONL equals a local single-rank run byte for byte, the
#     evaluation is written, the NCCL defaults are exported on the GPU partition;
#   - the same template from an interactive allocation (salloc): a rerun that generates nothing;
#   - sbatch --wait scripts/slurm/finetune.sh (tiny LoRA recipe) on 2 tasks across the 2 nodes:
#     losses bit-identical to a local 2-rank mpirun, checkpoint, PEFT export, run dir contents;
#   - SIGUSR1 to a running finetune.sh job: checkpoint, exit 2, requeue, the requeued job continues
#     from LATEST and its losses equal an uninterrupted run bit for bit;
#   - SIGUSR1 to a running generate.sh job (as --signal=USR1@T sends): the ranks stop, the job
#     requeues itself and finishes only the rest, equal to an uninterrupted run;
#   - DRY_RUN=1: the exact srun lines of all three templates, with the pyxis flags when
#     CONTAINER_IMAGE is set (generate, finetune, preprocess) and without (preprocess);
# and stops exactly the daemons it started. Needs root (the daemons run as root); without root it
# fails, unless OMNITUNE_SKIP_SLURM=1 (local development only: exit 77, reported as skipped).
# Prints "N passed, M failed". Usage: slurm_e2e.sh BIN_DIR SRC_DIR
set -u
bin=$(cd "$1" && pwd); src=$(cd "$2" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  if [ "${OMNITUNE_SKIP_SLURM:-0}" = 1 ]; then echo "SKIPPED: not root and OMNITUNE_SKIP_SLURM=1"; exit 77; fi
  echo "FAIL: the SLURM test starts slurmctld/slurmd/munged and must run as root (CI does);"
  echo "      for local development without root set OMNITUNE_SKIP_SLURM=1 to skip it explicitly"
  exit 1
fi
t_start=$(date +%s)
work=$(mktemp -d /tmp/omnitune-slurm-test.XXXXXX)
chmod 755 "$work"
pass=0; fail=0
check() { local name=$1; shift; if "$@"; then echo "PASS: $name"; pass=$((pass + 1)); else echo "FAIL: $name"; fail=$((fail + 1)); fi; }
started=0
finish() {
  if [ "$started" = 1 ]; then bash "$here/stop-slurm.sh" >"$work/stop.log" 2>&1 || cat "$work/stop.log"; fi
  if [ "$fail" -ne 0 ]; then
    for f in "$work"/*.log "$work"/*.out "$work"/runs/*/job.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 25 "$f"; }; done
  fi
  rm -rf "$work"
}
trap finish EXIT

# One SLURM test at a time on a machine: the cluster's config and ports are host-wide.
exec 9>/run/lock/omnitune-slurm-test.lock
flock -w 900 9 || { echo "FAIL: another SLURM test holds /run/lock/omnitune-slurm-test.lock"; exit 1; }

SLURM_LOCAL_NODES=2 SLURM_LOCAL_CPUS=2 SLURM_LOCAL_GPUS=2 SLURM_LOCAL_PARTITION=cpu,gpu \
  bash "$here/start-slurm.sh" >"$work/start.log" 2>&1
rc=$?
started=1
check "local SLURM cluster starts (2 nodes idle)" test "$rc" -eq 0 -a "$(sinfo -h -N -p cpu -t idle -o %N 2>/dev/null | sort -u | wc -l)" -eq 2
if [ "$rc" -ne 0 ]; then cat "$work/start.log"; echo "$pass passed, $((fail)) failed"; exit 1; fi

# Inputs, as the quickstart makes them.
export OMP_NUM_THREADS=1
"$bin/omnitune-make-sample" --out "$work/sample" >"$work/sample.log" 2>&1
"$bin/omnitune-init-model" --preset tiny-vlm --out "$work/model" --tokenizer "$work/sample/tokenizer/tokenizer.model" \
  --dtype float32 >"$work/init.log" 2>&1
export SAMPLE_DIR="$work/sample" MODEL_DIR="$work/model" OMNITUNE_BIN_DIR="$bin" RUN_ROOT="$work/runs"
pre_args=(--preprocess.split validation --preprocess.input "$work/sample/validation.jsonl" --preprocess.samples_per_shard 4)
cd "$src" || exit 1  # jobs are submitted from the repository root, as users do

# ---- preprocessing: 2 tasks across the 2 nodes of the cpu partition
SHARDS_DIR="$work/shards" CONFIG=configs/preprocess_sample.yaml \
  sbatch --wait --parsable --nodes=2 --ntasks-per-node=1 --cpus-per-task=1 --time=10 --output="$work/pre-%j.out" \
  scripts/slurm/preprocess.sh "${pre_args[@]}" >"$work/pre-submit.log" 2>&1
rc=$?
pre_job=$(head -1 "$work/pre-submit.log" | tr -dc '0-9')
check "preprocess.sh: sbatch --wait exits 0" test "$rc" -eq 0
SHARDS_DIR="$work/shards-local" mpirun -np 1 "$bin/omnitune-preprocess" --config configs/preprocess_sample.yaml \
  "${pre_args[@]}" >"$work/pre-local.log" 2>&1
check "preprocess.sh: 16 samples in 4 shards, the same shards (SHA-256) as a local single-rank run" python3 - \
  "$work/shards/validation/manifest.json" "$work/shards-local/validation/manifest.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["counts"]["samples"] == 16 and a["counts"]["shards"] == 4, a["counts"]
key = lambda m: [(s["file"], s["samples"], s["sha256"]) for s in m["shards"]]
assert key(a) == key(b), (key(a), key(b))
PY
pre_run="$work/runs/preprocess-$pre_job"
check "preprocess.sh: run dir has the resolved config, the job log with the srun line, both ranks' logs" \
  sh -c "grep -q 'samples_per_shard: 4' '$pre_run/config.yaml' && grep -q 'run: srun --mpi=pmix' '$pre_run/job.log' \
         && test -s '$pre_run/logs/rank0.log' -a -e '$pre_run/logs/rank1.log' && grep -q '^SLURM_NTASKS=2' '$pre_run/env.txt'"
check "preprocess.sh: one task on each of the 2 nodes" \
  sh -c "grep -q '^SLURM_JOB_NUM_NODES=2' '$pre_run/env.txt' && grep -q 'on 2 rank(s)' '$work/pre-$pre_job.out'"

# ---- generation: 2 tasks across the 2 nodes of the gpu partition (fake GPUs: CPU LibTorch)
export SHARDS_DIR="$work/shards"
GENERATE_OUT="$work/gen/slurm.jsonl" CONFIG=configs/generate_sample.yaml \
  sbatch --wait --parsable --nodes=2 --ntasks-per-node=1 --gpus-per-node=1 --cpus-per-task=1 --time=10 \
  --output="$work/gen-%j.out" scripts/slurm/generate.sh --generate.batch_size 2 >"$work/gen-submit.log" 2>&1
rc=$?
gen_job=$(head -1 "$work/gen-submit.log" | tr -dc '0-9')
check "generate.sh: sbatch --wait exits 0" test "$rc" -eq 0
mpirun -np 1 "$bin/omnitune-generate" --config configs/generate_sample.yaml --generate.batch_size 2 \
  --generate.output "$work/gen/local.jsonl" >"$work/gen-local.log" 2>&1
check "generate.sh: 16 answers, byte-identical to a local single-rank run" \
  sh -c "test \$(wc -l < '$work/gen/slurm.jsonl') -eq 16 && cmp '$work/gen/slurm.jsonl' '$work/gen/local.jsonl'"
check "generate.sh: answers in input order" python3 -c "
import json
ids = [json.loads(l)['id'] for l in open('$work/gen/slurm.jsonl')]
assert ids == [f'validation-{i}' for i in range(16)], ids"
check "generate.sh: evaluation JSON written" python3 -c "
import json; e = json.load(open('$work/gen/slurm.jsonl.eval.json')); assert e['items'] == 16 and e['scored'] == 16, e"
check "generate.sh: 2 ranks on 2 nodes wrote part files" \
  sh -c "grep -q '2 rank(s) on 2 node(s)' '$work/gen-$gen_job.out' && test -s '$work/gen/slurm.jsonl.parts/rank-00000.jsonl' -a -s '$work/gen/slurm.jsonl.parts/rank-00001.jsonl'"
check "generate.sh: NCCL defaults exported on a GPU allocation" \
  grep -q "NCCL environment: NCCL_DEBUG=WARN NCCL_IB_TIMEOUT=22" "$work/runs/generate-$gen_job/job.log"
check "preprocess.sh: no NCCL defaults on the CPU partition" grep -q "NCCL environment: (none)" "$pre_run/job.log"

# ---- the same template from an interactive allocation: a rerun has nothing left to generate
GENERATE_OUT="$work/gen/slurm.jsonl" CONFIG=configs/generate_sample.yaml timeout 120 \
  salloc --nodes=1 --ntasks=2 --cpus-per-task=1 --partition=gpu --gpus-per-node=2 --time=10 \
  bash scripts/slurm/generate.sh --generate.batch_size 2 >"$work/salloc.log" 2>&1
rc=$?
check "generate.sh under salloc: exits 0 and skips all 16 finished answers" \
  sh -c "test $rc -eq 0 && grep -q '16 already answered in .*, 0 to generate' '$work/salloc.log' && cmp -s '$work/gen/slurm.jsonl' '$work/gen/local.jsonl'"

# ---- requeue: SIGUSR1 (what #SBATCH --signal=USR1@300 sends before the time limit) stops the ranks
# after their current batch with exit 2; generate.sh requeues the job, which answers the rest.
long=(--generate.batch_size 1 --generate.max_new_tokens 128)
GENERATE_OUT="$work/gen/requeue.jsonl" CONFIG=configs/generate_sample.yaml \
  sbatch --wait --parsable --nodes=1 --ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1 --time=10 \
  --output="$work/requeue-%j.out" scripts/slurm/generate.sh "${long[@]}" >"$work/requeue-submit.log" 2>&1 &
sbatch_pid=$!
for _ in $(seq 1200); do
  [ "$(cat "$work/gen/requeue.jsonl.parts"/rank-*.jsonl 2>/dev/null | wc -l)" -ge 2 ] && break
  kill -0 "$sbatch_pid" 2>/dev/null || break
  sleep 0.05
done
rq_job=$(head -1 "$work/requeue-submit.log" | tr -dc '0-9')
scancel --signal=USR1 "$rq_job"
wait "$sbatch_pid"
rc=$?
mpirun -np 1 "$bin/omnitune-generate" --config configs/generate_sample.yaml "${long[@]}" \
  --generate.output "$work/gen/requeue-local.jsonl" >"$work/requeue-local.log" 2>&1
rq_out="$work/requeue-$rq_job.out"
check "requeue: the stopped step exits 2 and the job requeues itself" \
  sh -c "grep -q 'step exit status 2' '$rq_out' && grep -q 'requeueing job $rq_job (restart 0)' '$rq_out'"
check "requeue: the requeued job answers only the rest and sbatch --wait exits 0" \
  sh -c "test $rc -eq 0 && grep -Eq ' [1-9][0-9]* already answered in .*, [1-9][0-9]* to generate' '$rq_out'"
check "requeue: the answers equal an uninterrupted local run" cmp -s "$work/gen/requeue.jsonl" "$work/gen/requeue-local.jsonl"

# ---- fine-tuning: LoRA with the tiny recipe on 2 tasks across the 2 nodes (fake GPUs: CPU LibTorch).
# --time must exceed finetune.sh's --signal=USR1@600 lead, or SLURM signals the step at its start.
SHARDS_DIR="$work/shards" mpirun -np 1 "$bin/omnitune-preprocess" --config configs/preprocess_sample.yaml \
  >"$work/pre-train.log" 2>&1
ft_args=(--step_scheduler.max_steps 12 --step_scheduler.ckpt_every_steps 6 --step_scheduler.val_every_steps 6)
CONFIG=configs/tiny_lora_sample.yaml \
  sbatch --wait --parsable --nodes=2 --ntasks-per-node=1 --gpus-per-node=1 --cpus-per-task=1 --time=20 \
  --output="$work/ft-%j.out" scripts/slurm/finetune.sh "${ft_args[@]}" >"$work/ft-submit.log" 2>&1
rc=$?
ft_job=$(head -1 "$work/ft-submit.log" | tr -dc '0-9')
ft_run="$work/runs/finetune-$ft_job"
check "finetune.sh: sbatch --wait exits 0" test "$rc" -eq 0
mpirun -np 2 "$bin/omnitune-train" --config configs/tiny_lora_sample.yaml "${ft_args[@]}" \
  --train.run_dir "$work/ft-local" >"$work/ft-local.log" 2>&1
# same_losses A B: the two runs' metrics.jsonl have the same steps and bit-identical losses.
same_losses() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = ([(r["step"], r["loss"]) for r in map(json.loads, open(p))] for p in sys.argv[1:3])
assert a == b and len(a) > 0, (a, b)
PY
}
check "finetune.sh: 12 steps with losses bit-identical to a local 2-rank mpirun" \
  same_losses "$ft_run/metrics.jsonl" "$work/ft-local/metrics.jsonl"
check "finetune.sh: checkpoint LATEST at step 12, PEFT export, resolved config and rank logs in the run dir" \
  sh -c "grep -q '_step_12\$' '$ft_run/checkpoints/LATEST' && test -s '$ft_run/export-peft/adapter_model.safetensors' \
         && grep -q 'max_steps: 12' '$ft_run/config.yaml' && test -s '$ft_run/logs/rank0.log' -a -e '$ft_run/logs/rank1.log' \
         && grep -q 'srun --mpi=pmix' '$ft_run/job.log' && grep -q '^SLURM_JOB_NUM_NODES=2' '$ft_run/env.txt'"

# ---- fine-tuning requeue: SIGUSR1 mid-run -> checkpoint, exit 2, the job requeues itself and the
# requeued job continues from LATEST in the same run dir; the losses equal an uninterrupted run.
rq_ft_args=(--step_scheduler.max_steps 40 --step_scheduler.ckpt_every_steps 0 --step_scheduler.val_every_steps 0
            --checkpoint.export none)
CONFIG=configs/tiny_lora_sample.yaml \
  sbatch --wait --parsable --nodes=1 --ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1 --time=20 \
  --output="$work/ftrq-%j.out" scripts/slurm/finetune.sh "${rq_ft_args[@]}" >"$work/ftrq-submit.log" 2>&1 &
sbatch_pid=$!
ftrq_job=""
for _ in $(seq 1200); do
  [ -n "$ftrq_job" ] || ftrq_job=$(head -1 "$work/ftrq-submit.log" 2>/dev/null | tr -dc '0-9')
  if [ -n "$ftrq_job" ] && [ "$(wc -l <"$work/runs/finetune-$ftrq_job/metrics.jsonl" 2>/dev/null || echo 0)" -ge 3 ]; then break; fi
  kill -0 "$sbatch_pid" 2>/dev/null || break
  sleep 0.05
done
scancel --signal=USR1 "$ftrq_job"
wait "$sbatch_pid"
rc=$?
mpirun -np 2 "$bin/omnitune-train" --config configs/tiny_lora_sample.yaml "${rq_ft_args[@]}" \
  --train.run_dir "$work/ftrq-local" >"$work/ftrq-local.log" 2>&1
ftrq_out="$work/ftrq-$ftrq_job.out"
check "finetune requeue: the signalled step checkpoints and exits 2, the job requeues itself" \
  sh -c "grep -q 'step exit status 2' '$ftrq_out' && grep -q 'requeueing job $ftrq_job (restart 0)' '$ftrq_out'"
check "finetune requeue: the requeued job continues from LATEST and sbatch --wait exits 0" \
  sh -c "test $rc -eq 0 && grep -q 'continuing from checkpoint epoch_[0-9]*_step_[0-9]* (restart 1)' '$ftrq_out' \
         && grep -q '_step_40\$' '$work/runs/finetune-$ftrq_job/checkpoints/LATEST'"
check "finetune requeue: 40 steps, losses bit-identical to an uninterrupted run" \
  same_losses "$work/runs/finetune-$ftrq_job/metrics.jsonl" "$work/ftrq-local/metrics.jsonl"

# ---- DRY_RUN: the exact srun lines, with and without a container image
has_line() { printf '%s\n' "$1" | grep -qxF -- "$2"; }  # has_line TEXT LINE: LINE is one of TEXT's lines
dry() { env -u SLURM_JOB_ID -u OMNITUNE_BIN_DIR -u CONFIG DRY_RUN=1 RUN_ROOT=/runs "$@" 2>"$work/dry.err"; }
out=$(dry CONTAINER_IMAGE=/images/omnitune+cuda.sqsh MOUNTS=/lustre/data:/data:ro bash scripts/slurm/generate.sh \
  --generate.adapter "runs/my lora/export-peft")
want="srun --mpi=pmix --kill-on-bad-exit=1 --container-image=/images/omnitune+cuda.sqsh --container-mounts=$src:$src,/lustre/data:/data:ro --container-workdir=$src --no-container-mount-home /opt/omnitune/bin/omnitune-generate --config configs/generate_medpix.yaml --logging.rank_files true --logging.dir /runs/generate-dryrun/logs --generate.adapter 'runs/my lora/export-peft'"
check "DRY_RUN generate.sh with CONTAINER_IMAGE: the exact srun line with the pyxis flags" \
  has_line "$out" "$want"
check "DRY_RUN: the resolved-config step runs one task in the same container" \
  has_line "$out" \
  "srun --mpi=pmix --kill-on-bad-exit=1 --ntasks=1 --nodes=1 ${want#srun --mpi=pmix --kill-on-bad-exit=1 } --print-config > /runs/generate-dryrun/config.yaml"
out=$(dry SRUN_MPI=pmi2 CONFIG=/cfg/pre.yaml OMNITUNE_BIN_DIR="$bin" bash scripts/slurm/preprocess.sh --preprocess.split train)
check "DRY_RUN preprocess.sh without an image: host binaries, no pyxis flags, SRUN_MPI honoured" \
  has_line "$out" \
  "srun --mpi=pmi2 --kill-on-bad-exit=1 $bin/omnitune-preprocess --config /cfg/pre.yaml --logging.rank_files true --logging.dir /runs/preprocess-dryrun/logs --preprocess.split train"
out=$(dry CONTAINER_IMAGE=/images/omnitune+cuda.sqsh bash scripts/slurm/finetune.sh --optimizer.lr 2e-4)
check "DRY_RUN finetune.sh with CONTAINER_IMAGE: run dir, resume auto and the user's overrides last" \
  has_line "$out" "srun --mpi=pmix --kill-on-bad-exit=1 --container-image=/images/omnitune+cuda.sqsh --container-mounts=$src:$src --container-workdir=$src --no-container-mount-home /opt/omnitune/bin/omnitune-train --config configs/gemma3_4b_medpix_lora.yaml --logging.rank_files true --logging.dir /runs/finetune-dryrun/logs --train.run_dir /runs/finetune-dryrun --resume auto --optimizer.lr 2e-4"
out=$(dry CONTAINER_IMAGE=/images/omnitune+cpu.sqsh MOUNTS=/lustre:/lustre bash scripts/slurm/preprocess.sh --preprocess.split train)
check "DRY_RUN preprocess.sh with CONTAINER_IMAGE (the CPU image): pyxis flags, binaries in the image" \
  has_line "$out" "srun --mpi=pmix --kill-on-bad-exit=1 --container-image=/images/omnitune+cpu.sqsh --container-mounts=$src:$src,/lustre:/lustre --container-workdir=$src --no-container-mount-home /opt/omnitune/bin/omnitune-preprocess --config configs/preprocess_medpix.yaml --logging.rank_files true --logging.dir /runs/preprocess-dryrun/logs --preprocess.split train"
check "DRY_RUN runs nothing and creates no run directory" test ! -e /runs/generate-dryrun -a ! -e /runs/preprocess-dryrun -a ! -e /runs/finetune-dryrun

elapsed=$(( $(date +%s) - t_start ))
echo "slurm_e2e: ${elapsed} s"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
