#!/usr/bin/env python3
"""The config audit: every key of every program's schema does something.

For each program that takes a config (its keys come from its own --help-config), every key must
have an entry in audit_table() below, and the entry must hold:
  differs(...)  the program run on the sample set as the scenario has it and again with the key
                changed produces something different in the named observations (losses, one
                metric, files, checkpoint tensors, shard contents, answers, log lines, exit
                status), while two runs of the unchanged scenario produce the same (the control:
                an observation that moves by itself proves nothing);
  refuses(...)  with the key changed the program stops with an error naming the problem (keys
                whose only other values are wrong on this machine, e.g. cuda without a GPU).
A key without an entry, an entry for a key that no longer exists, or a change that produces the
same observations fails the audit: a key that is accepted but does nothing cannot land (issue 26).
Nothing compared is a place where a program writes its own config back (the run's config.yaml, a
manifest's "config", a checkpoint's meta.json, config hashes and the file hashes that cover
them), so no key passes by being echoed; log lines count only where the line reports what the
program did (the mesh it built, the kernel it runs, the threads it got), with times and rates
masked.

Usage: config_audit.py BIN_DIR SRC_DIR [--only PROGRAM:KEY[,...]] [--keep]
Prints one line per key and "N passed, M failed"; exits 1 when any failed.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

PROGRAMS = ["train", "preprocess", "generate", "inspect"]
RUN_TIMEOUT_S = 180  # per program run; a run that hangs fails its entry instead of the suite


# ---------------------------------------------------------------- entries

class Entry:
    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


def differs(scenario, value, observe, base=(), env=None, prepare=None, during=None, why=""):
    """Changing the key to `value` changes the `observe`d outputs of `scenario` (both runs exit 0).
    `base`: extra overrides of both runs; `prepare(cwd)`: makes inputs in the run folder first;
    `during(proc, cwd)`: acts on the running program (e.g. stops a rank)."""
    return Entry("differs", scenario=scenario, value=value, observe=observe, base=tuple(base), env=env or {},
                 prepare=prepare, during=during, why=why, expect_rc0=during is None)


def refuses(scenario, value, message, base=(), env=None, why=""):
    """With the key at `value` the program exits non-zero with `message` in its output."""
    return Entry("refuses", scenario=scenario, value=value, message=message, base=tuple(base), env=env or {},
                 why=why)


# ---------------------------------------------------------------- running programs

class Ctx:
    pass


C = Ctx()  # bin, src, work, data paths; filled in main()


def program_cmd(program, ranks):
    exe = os.path.join(C.bin, "omnitune-" + program)
    if ranks == 1:
        return [exe]
    return ["mpirun", "-np", str(ranks), "--oversubscribe", exe]


class Scenario:
    def __init__(self, name, program, args, env=None, ranks=1):
        self.name, self.program, self.args, self.env, self.ranks = name, program, list(args), dict(env or {}), ranks


def scenarios():
    d = C.data
    train_common = ["--step_scheduler.max_steps", "3", "--step_scheduler.global_batch_size", "4",
                    "--dataloader.micro_batch_size", "2", "--lr_scheduler.warmup_steps", "1",
                    "--step_scheduler.ckpt_every_steps", "0", "--step_scheduler.val_every_steps", "0",
                    "--logging.log_every_steps", "1", "--train.peak_flops_per_rank", "1e11"]
    train_env = {"MODEL_DIR": f"{d}/model", "SHARDS_DIR": f"{d}/shards", "RUN_DIR": "run"}
    lora = ["--config", f"{C.src}/configs/tiny_lora_sample.yaml"] + train_common
    sft = ["--config", f"{C.src}/configs/tiny_sft_sample.yaml"] + train_common
    gen = ["--config", f"{C.src}/configs/generate_sample.yaml", "--generate.max_new_tokens", "6",
           "--generate.output", "gen/answers.jsonl"]
    gen_env = {"MODEL_DIR": f"{d}/model", "SHARDS_DIR": f"{d}/shards"}
    pre = ["--config", f"{C.src}/configs/preprocess_sample.yaml", "--preprocess.output_dir", "shards",
           "--preprocess.input", f"{d}/sample/train.jsonl"]
    pre_env = {"SAMPLE_DIR": f"{d}/sample", "MODEL_DIR": f"{d}/model"}
    return {s.name: s for s in [
        Scenario("lora", "train", lora, train_env),
        Scenario("lora-2ranks", "train", lora, train_env, ranks=2),
        Scenario("sft", "train", sft, train_env),
        Scenario("lora-3n", "train", ["--config", f"{C.src}/configs/tiny3n_lora_sample.yaml"] + train_common,
                 {"MODEL_DIR": f"{d}/model3n", "SHARDS_DIR": f"{d}/shards3n", "RUN_DIR": "run"}),
        Scenario("preprocess", "preprocess", pre, pre_env),
        Scenario("preprocess-flat-audio", "preprocess",
                 ["--config", f"{C.src}/configs/preprocess_sample.yaml", "--preprocess.output_dir", "shards",
                  "--preprocess.input", f"{d}/flat_audio.jsonl", "--preprocess.format", "medpix_jsonl",
                  "--preprocess.image_dir", f"{d}/sample3n", "--preprocess.columns.audio", "audio"],
                 {"MODEL_DIR": f"{d}/model3n"}),
        Scenario("preprocess-3n", "preprocess",
                 ["--config", f"{C.src}/configs/preprocess_sample_3n.yaml", "--preprocess.output_dir", "shards"],
                 {"SAMPLE_DIR": f"{d}/sample3n", "MODEL_DIR": f"{d}/model3n"}),
        Scenario("generate", "generate", gen, gen_env),
        Scenario("generate-sampling", "generate", gen + ["--generate.greedy", "false"], gen_env),
        Scenario("generate-jsonl", "generate", gen + ["--generate.input", f"{d}/questions/questions.jsonl"], gen_env),
        Scenario("inspect-2ranks", "inspect", ["--config", f"{C.src}/configs/launch_check.yaml"],
                 {"OMNITUNE_LOG_DIR": "logs"}, ranks=2),
        Scenario("inspect", "inspect", ["--config", f"{C.src}/configs/launch_check.yaml"], {"OMNITUNE_LOG_DIR": "logs"}),
    ]}


class Result:
    def __init__(self, rc, log, cwd, fault=None):
        self.rc, self.log, self.cwd = rc, log, cwd
        self.fault = fault  # what during() reported: True when its fault was injected


def run_program(scn, overrides, env_extra, prepare, during, label):
    cwd = os.path.join(C.work, "runs", label)
    shutil.rmtree(cwd, ignore_errors=True)
    os.makedirs(cwd)
    if prepare:
        prepare(cwd)
    env = dict(os.environ)
    env.update(scn.env)
    env.update(env_extra)
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = program_cmd(scn.program, scn.ranks) + scn.args + list(overrides)
    with open(os.path.join(cwd, "..", label + ".log"), "w+b") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        watcher, fault = None, []
        if during:
            watcher = threading.Thread(target=lambda: fault.append(during(proc, cwd, out.name)), daemon=True)
            watcher.start()
        try:
            rc = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timeout"
        if watcher:
            watcher.join(timeout=30)
        out.seek(0)
        log = out.read().decode("utf-8", "replace")
    return Result(rc, log, cwd, fault=bool(fault and fault[0]) if during else None)


# ---------------------------------------------------------------- what is observed

VOLATILE_METRICS = {"step_time_s", "tokens_per_s", "samples_per_s", "mfu", "peak_rss_bytes"}
# What differs between two identical runs: times, rates, measured peaks, scratch paths. Integers
# stay (counts, mesh sizes, threads); every number with a fraction or exponent is masked.
LOG_MASKS = [
    (re.compile(r"^\[[0-9-]+ [0-9:]+\] "), ""),
    (re.compile(r"tfevents\.\d+\.\S+"), "tfevents.#"),
    (re.compile(r"\d+(\.\d+)?(e[-+]?\d+)?( new)? ?(tok/s|tokens/s|/s|GFLOP/s|MB/s|GB/s)"), "#/s"),
    (re.compile(r"\d+\.\d+(e[-+]?\d+)?|\d+e[-+]?\d+"), "#"),
    (re.compile(r"ETA [0-9:]+"), "ETA #"),
    (re.compile(r"/tmp/\S+"), "PATH"),
    (re.compile(r"^ +\d+ +[#\d. ]+$"), "TABLE ROW"),  # omnitune-inspect's bandwidth table
]


def norm_log(log):
    lines = []
    for line in log.splitlines():
        for rx, rep in LOG_MASKS:
            line = rx.sub(rep, line)
        lines.append(line)
    return lines


def walk(cwd):
    for root, dirs, files in os.walk(cwd):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            yield os.path.relpath(p, cwd), p


def obs_files(res):
    return sorted(re.sub(r"tfevents\.\d+\.\S+", "tfevents.#", rel) for rel, _ in walk(res.cwd))


def metrics_rows(res, volatile=VOLATILE_METRICS):
    """Every training metrics row under the run folder (any *.jsonl of step rows)."""
    rows = []
    for rel, p in walk(res.cwd):
        if not rel.endswith(".jsonl"):
            continue
        with open(p) as f:
            file_rows = [json.loads(line) for line in f if line.strip()]
        if file_rows and all("step" in r and "loss" in r for r in file_rows):
            rows += [{k: v for k, v in r.items() if k not in volatile} | {"file": rel} for r in file_rows]
    return rows


def obs_losses(res):
    return [(r.get("step"), r.get("loss"), r.get("lr"), r.get("grad_norm"), r.get("val_loss")) for r in metrics_rows(res)]


def obs_metrics(res):
    return metrics_rows(res)


def safetensors_digest(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in sorted(header.items()):
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = (t["dtype"], tuple(t["shape"]), hashlib.sha256(data[a:b]).hexdigest()[:16])
    return out


def obs_tensors(res):
    return {rel: safetensors_digest(p) for rel, p in walk(res.cwd) if rel.endswith(".safetensors")}


def h5_digest(path):
    import h5py  # Debian's python3-h5py (scripts/install-deps.sh)
    out = {}
    with h5py.File(path, "r") as f:
        out["/attrs"] = {k: repr(v) for k, v in f.attrs.items() if k != "config_sha256"}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                if getattr(data, "dtype", None) is not None and data.dtype.kind == "O":
                    blob = repr(data.tolist()).encode()  # strings: tobytes() would hash pointers
                else:
                    blob = data.tobytes() if hasattr(data, "tobytes") else repr(data).encode()
                out[name] = (str(obj.dtype), obj.shape, obj.compression, obj.compression_opts,
                             hashlib.sha256(blob).hexdigest()[:16])
        f.visititems(visit)
    return out


def obs_shards(res):
    out = {}
    for rel, p in walk(res.cwd):
        if rel.endswith(".h5"):
            out[rel] = h5_digest(p)
        elif rel.endswith("rejects.jsonl"):
            with open(p) as f:
                out[rel] = f.read()
        elif rel.endswith("manifest.json"):
            with open(p) as f:
                m = json.load(f)
            for k in ("config", "config_sha256", "created", "elapsed_s", "timing", "input_sha256"):
                m.pop(k, None)
            for sh in m.get("shards", []):
                sh.pop("sha256", None)  # the file's hash covers its config_sha256 attribute
            out[rel] = m
    return out


def obs_answers(res):
    out = {}
    for rel, p in walk(res.cwd):
        if rel.endswith(".jsonl") and rel.startswith("gen/") and ".parts" not in rel:
            with open(p) as f:
                out[rel] = [json.loads(l) for l in f]
        elif rel.endswith(".eval.json"):
            with open(p) as f:
                e = json.load(f)
            e.pop("config", None)
            out[rel] = e
    return out


def obs_mfu_reference(res):
    """mfu x step time = the step's FLOPs / (peak x ranks): what the MFU is measured against."""
    return [float(f"{r['mfu'] * r['step_time_s']:.6g}") for r in metrics_rows(res, volatile=())]


def obs_log(res):
    return norm_log(res.log)


def obs_rc(res):
    return res.rc


OBSERVERS = {"files": obs_files, "losses": obs_losses, "metrics": obs_metrics, "tensors": obs_tensors,
             "shards": obs_shards, "answers": obs_answers, "log": obs_log, "rc": obs_rc,
             "mfu_reference": obs_mfu_reference}


# ---------------------------------------------------------------- preparations and faults

def stop_rank_for(seconds, after):
    """during(): once the program's output matches the regex `after`, stops rank 1 (SIGSTOP) for
    `seconds`: its peers wait in their next collective."""
    def during(proc, cwd, log_path):
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            with open(log_path, "rb") as f:
                if re.search(after, f.read().decode("utf-8", "replace"), re.M):
                    break
            time.sleep(0.01)
        pid = rank_pid(cwd, 1)
        if pid is None or proc.poll() is not None:
            return False
        os.kill(pid, signal.SIGSTOP)
        t_end = time.time() + seconds
        while time.time() < t_end and proc.poll() is None:
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        return True
    return during


def rank_pid(cwd, rank):
    """The pid of the omnitune process of MPI rank `rank` started in `cwd`."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.path.realpath(f"/proc/{pid}/cwd") != os.path.realpath(cwd):
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and b"omnitune" in open(f"/proc/{pid}/cmdline", "rb").read():
                return int(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return None


def prior_run(*overrides):
    """prepare(): the lora scenario run once in the folder first (e.g. stopped at step 1)."""
    def prepare(cwd):
        scn = scenarios()["lora"]
        env = dict(os.environ, **scn.env, OMP_NUM_THREADS="1")
        subprocess.run(program_cmd("train", 1) + scn.args + list(overrides), cwd=cwd, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=RUN_TIMEOUT_S)
    return prepare


def then(*steps):
    def prepare(cwd):
        for s in steps:
            s(cwd)
    return prepare


def corrupt_checkpoint(cwd):
    ckpt = os.path.join(cwd, "run", "checkpoints")
    with open(os.path.join(ckpt, "LATEST")) as f:
        latest = f.read().strip()
    path = os.path.join(ckpt, latest, "rank_00000.safetensors")
    with open(path, "r+b") as f:
        f.seek(-4, os.SEEK_END)
        b = f.read(4)
        f.seek(-4, os.SEEK_END)
        f.write(bytes(x ^ 0x55 for x in b))


def write_file(rel, text):
    def prepare(cwd):
        os.makedirs(os.path.dirname(os.path.join(cwd, rel)) or cwd, exist_ok=True)
        with open(os.path.join(cwd, rel), "w") as f:
            f.write(text)
    return prepare


def rotated_images(src_rel, dst):
    """prepare(): `dst` in the run folder holds the images of data/`src_rel`, each file with the
    next file's content (same names, other pictures)."""
    def prepare(cwd):
        src = os.path.join(C.data, src_rel)
        names = sorted(os.listdir(src))
        out = os.path.join(cwd, dst)
        os.makedirs(out)
        # Same extension only: a .png name must still hold a PNG.
        for ext in {os.path.splitext(n)[1] for n in names}:
            group = [n for n in names if n.endswith(ext)]
            for i, n in enumerate(group):
                shutil.copyfile(os.path.join(src, group[(i + 1) % len(group)]), os.path.join(out, n))
    return prepare


def copy_model_with(model_rel, dst, edit):
    """prepare(): a copy of data/`model_rel` at `dst` whose config.json is passed through edit()."""
    def prepare(cwd):
        out = os.path.join(cwd, dst)
        shutil.copytree(os.path.join(C.data, model_rel), out)
        with open(os.path.join(out, "config.json")) as f:
            cfg = json.load(f)
        edit(cfg)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f)
    return prepare


# ---------------------------------------------------------------- the audit table

def audit_table():
    data = C.data
    logging_entries = lambda scn, sfx="": {  # noqa: E731
        "logging.level": differs(scn, "warn", ["log"], why="warn hides the INFO progress lines"),
        "logging.rank_files": differs(scn, "true", ["files"], why="each rank appends to <dir>/rank<N>.log"),
        "logging.dir": differs(scn, "elsewhere", ["files"], base=["--logging.rank_files", "true"]),
    }
    mesh_inspect = {
        "distributed.dp": refuses("inspect-2ranks", "1", "distributed.dp"),
        "distributed.tp": differs("inspect-2ranks", "2", ["log"], why="the groups built and self-tested"),
        "distributed.dp_replicate": differs("inspect-2ranks", "2", ["log"],
                                            why="HSDP: the shard and replica groups are built and self-tested"),
    }
    # SLURM variables of a one-task job step that disagree with MPI about the node index only.
    slurm_env = {"SLURM_STEP_ID": "0", "SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
                 "SLURM_NODEID": "3"}
    runtime = lambda scn: {  # noqa: E731
        "distributed.device": refuses(scn, "cuda", "cuda", why="no CUDA device here; GPU runs: tests/gpu"),
        "distributed.cpu_threads": differs(scn, "2", ["log"], why="intra-op threads the rank runs with"),
        "distributed.slurm_check": refuses(scn.replace("-2ranks", ""), "error", "SLURM and MPI disagree", env=slurm_env,
                                           why="warn (the default) only warns on a SLURM/MPI mismatch"),
    }

    train = {
        "seed": differs("lora", "8", ["losses"], why="LoRA A init and the data order"),
        "resume": differs("lora", "run/checkpoints", ["metric:step"], prepare=prior_run("--train.stop_at_step", "1"),
                          base=["--train.run_dir", "run2"],
                          why="a new run dir continues from the first run's step-1 checkpoint"),
        **logging_entries("lora"),
        "logging.log_every_steps": differs("lora", "2", ["log"]),
        "logging.tensorboard": differs("lora", "false", ["files"]),
        "logging.metrics_file": differs("lora", "m.jsonl", ["files"]),
        "logging.unit_grad_norm_steps": differs("lora", "0", ["metrics"]),
        "distributed.dp": refuses("lora-2ranks", "1", "distributed.dp"),
        "distributed.tp": differs("lora-2ranks", "2", ["tensors", "log"], why="TP slices in the checkpoint"),
        "distributed.dp_replicate": differs("lora-2ranks", "2", ["tensors", "log"],
                                            why="HSDP: each rank file holds a whole replica"),
        **runtime("lora"),
        "distributed.backend": refuses("lora", "nccl", "nccl", why="nccl needs CUDA devices; GPU runs: tests/gpu"),
        "distributed.collective_timeout_s": differs("lora-2ranks", "3", ["rc"], during=stop_rank_for(8, r"step 1/"),
                                                    base=["--step_scheduler.max_steps", "40"],
                                                    why="rank 1 stopped for 8 s: the watchdog ends the job"),
        "distributed.activation_checkpointing": differs("lora", "false", ["metric:recomputed_blocks"]),
        "distributed.reshard_after_forward": differs("lora", "false", ["metric:gathers"]),
        "distributed.prefetch": differs("lora", "false", ["metric:shard_bytes"],
                                        why="the next unit is no longer gathered while the current one computes"),
        "distributed.loss_chunk_tokens": differs("lora", "8", ["metric:loss_chunks"]),
        "model.path": differs("lora", f"{data}/model-seed2", ["losses"]),
        "model.dtype": differs("lora", "bfloat16", ["losses"]),
        "model.attention": differs("lora", "reference", ["log"], why="the kernel the model runs"),
        "step_scheduler.global_batch_size": differs("lora", "8", ["metric:loss_tokens"]),
        "step_scheduler.max_steps": differs("lora", "2", ["metric:step"]),
        "step_scheduler.num_epochs": differs("lora", "2", ["metric:step"], base=["--step_scheduler.max_steps", "-1",
                                                                             "--step_scheduler.global_batch_size", "16"]),
        "step_scheduler.ckpt_every_steps": differs("lora", "1", ["files"]),
        "step_scheduler.val_every_steps": differs("lora", "1", ["metric:val_loss"]),
        "optimizer.betas": differs("lora", "[0.5, 0.9]", ["losses"]),
        "optimizer.eps": differs("lora", "0.1", ["losses"]),
        "optimizer.weight_decay": differs("lora", "0.5", ["losses"]),
        "optimizer.max_grad_norm": differs("lora", "0", ["losses"]),
        "optimizer.lr": differs("lora", "0.05", ["losses"]),
        "peft.method": differs("lora", "none", ["losses"], base=["--checkpoint.export", "none"]),
        "peft.include": differs("lora", "['*v_proj*']", ["losses"],
                                base=["--peft.match_all_linear", "false", "--peft.include", "['*q_proj*']"]),
        "peft.exclude": differs("lora", "['*q_proj*']", ["losses"]),
        "peft.match_all_linear": differs("lora", "false", ["losses"], base=["--peft.include", "['*q_proj*']"]),
        "peft.dim": differs("lora", "4", ["losses"]),
        "peft.alpha": differs("lora", "64", ["losses"]),
        "peft.dropout": differs("lora", "0.3", ["losses"]),
        "freeze_config.freeze_embeddings": differs("sft", "true", ["losses"]),
        "freeze_config.freeze_vision_tower": differs("sft", "false", ["losses"]),
        "freeze_config.freeze_audio_tower": differs("lora-3n", "false", ["log", "tensors"],
                                                    base=["--peft.method", "none", "--checkpoint.export", "none"]),
        "freeze_config.freeze_language_model": differs("sft", "true", ["losses"]),
        "checkpoint.dir": differs("lora", "ckpts", ["files"]),
        "checkpoint.keep_last": differs("lora", "1", ["files"], base=["--step_scheduler.ckpt_every_steps", "1"]),
        "checkpoint.verify": differs("lora", "true", ["rc"],
                                     prepare=then(prior_run("--train.stop_at_step", "1"), corrupt_checkpoint),
                                     base=["--resume", "auto", "--checkpoint.verify", "false"],
                                     why="a damaged checkpoint is used, or refused"),
        "checkpoint.export": differs("lora", "hf", ["files"]),
        "train.run_dir": differs("lora", "other", ["files"]),
        "train.stop_at_step": differs("lora", "2", ["metric:step", "files"]),
        "train.peak_flops_per_rank": differs("lora", "1e12", ["mfu_reference"]),
        "train.max_bad_steps": differs("lora", "1", ["rc"], base=["--optimizer.lr", "1e30", "--step_scheduler.max_steps", "5"],
                                       why="non-finite steps are skipped until this many in a row"),
        "dataset.shards_dir": differs("lora", f"{data}/shards/validation", ["losses"]),
        "dataset.val_shards_dir": differs("lora", "''", ["metric:val_loss"], base=["--step_scheduler.val_every_steps", "1"]),
        "dataloader.micro_batch_size": differs("lora", "1", ["metric:row_tokens"], why="less padding"),
        "dataloader.prefetch": differs("lora", "0", ["log"], base=["--logging.level", "debug"],
                                       why="batches prepared by the loader thread"),
        "dataloader.shuffle": differs("lora", "false", ["losses"]),
        "dataloader.seed": differs("lora", "99", ["losses"]),
        "dataloader.group_by_length": differs("lora", "true", ["metric:row_tokens"], why="less padding"),
        "dataloader.pad_to_multiple": differs("lora", "64", ["metric:row_tokens"], why="more padding"),
        "dataloader.drop_last": differs("lora", "false", ["metric:step"],
                                        base=["--step_scheduler.max_steps", "-1", "--step_scheduler.global_batch_size", "20"]),
        "lr_scheduler.kind": differs("lora", "constant", ["losses"]),
        "lr_scheduler.warmup_steps": differs("lora", "2", ["losses"]),
        "lr_scheduler.min_lr": differs("lora", "0.005", ["losses"]),
        "lr_scheduler.warmup_start_factor": differs("lora", "0.5", ["losses"]),
    }

    preprocess = {
        **logging_entries("preprocess"),
        "preprocess.input": differs("preprocess", f"{data}/sample/validation.jsonl", ["shards"]),
        "preprocess.format": differs("preprocess", "messages_jsonl", ["shards"], why="MedPix rows read as messages: rejected"),
        "preprocess.split": differs("preprocess", "other", ["files"]),
        "preprocess.output_dir": differs("preprocess", "out2", ["files"]),
        "preprocess.model_dir": differs("preprocess", "model-4tok", ["shards"],
                                        prepare=copy_model_with("model", "model-4tok",
                                                                lambda c: c.update(mm_tokens_per_image=4))),
        "preprocess.tokenizer": differs("preprocess", f"{data}/tokenizer-b/tokenizer.model", ["shards"]),
        "preprocess.image_dir": differs("preprocess", "img2", ["shards"], prepare=rotated_images("sample/images", "img2")),
        "preprocess.audio_dir": differs("preprocess-3n", "aud2", ["shards"],
                                        prepare=rotated_images("sample3n/spoken", "aud2/spoken")),
        "preprocess.system_prompt": differs("preprocess", "Answer briefly.", ["shards"]),
        "preprocess.columns.question": differs("preprocess", "answer", ["shards"]),
        "preprocess.columns.answer": differs("preprocess", "question", ["shards"]),
        "preprocess.columns.image": differs("preprocess-flat-audio", "''", ["shards"]),
        "preprocess.columns.audio": differs("preprocess-flat-audio", "''", ["shards"]),
        "preprocess.columns.case_id": differs("preprocess", "''", ["shards"]),
        "preprocess.columns.mode": differs("preprocess", "''", ["shards"]),
        "preprocess.columns.id": differs("preprocess", "image_id", ["shards"], why="duplicate ids are rejected"),
        "preprocess.max_length": differs("preprocess", "96", ["shards"]),
        "preprocess.overlong": differs("preprocess", "truncate_answer", ["shards"], base=["--preprocess.max_length", "96"]),
        "preprocess.samples_per_shard": differs("preprocess", "5", ["files"]),
        "preprocess.on_error": differs("preprocess", "fail", ["rc"], base=["--preprocess.input", "bad.jsonl"],
                                       prepare=write_file("bad.jsonl", open(os.path.join(data, "sample", "train.jsonl")).read()
                                                          + '{"question":"q","answer":"a","image_id":"missing.png"}\n'),
                                       why="a row with a missing image: skipped into rejects.jsonl, or the run fails"),
        "preprocess.max_image_pixels": differs("preprocess", "1000", ["shards"]),
        "preprocess.jpeg_dct_scaling": differs("preprocess", "true", ["shards"], base=["--preprocess.image_dir", f"{data}/big_images"]),
        "preprocess.image_compression": differs("preprocess", "gzip", ["shards"]),
        "preprocess.image_compression_level": differs("preprocess", "9", ["shards"],
                                                      base=["--preprocess.image_compression", "gzip"]),
        "preprocess.threads": differs("preprocess", "1", ["log"], why="decode threads"),
    }

    generate = {
        **logging_entries("generate"),
        **runtime("generate"),
        "model.path": differs("generate", f"{data}/model-seed2", ["answers"]),
        "generate.input": differs("generate", f"{data}/shards/train", ["answers"]),
        "generate.output": differs("generate", "gen/other.jsonl", ["files"]),
        "generate.adapter": differs("generate", f"{data}/adapter", ["answers"]),
        "generate.tokenizer": differs("generate-jsonl", f"{data}/tokenizer-b/tokenizer.model", ["answers"]),
        "generate.max_new_tokens": differs("generate", "2", ["answers"]),
        "generate.batch_size": differs("generate", "1", ["log"], why="forward passes (batches) run"),
        "generate.greedy": differs("generate", "false", ["answers"]),
        "generate.temperature": differs("generate-sampling", "0.1", ["answers"]),
        "generate.top_k": differs("generate-sampling", "1", ["answers"]),
        "generate.top_p": differs("generate-sampling", "0.1", ["answers"]),
        "generate.seed": differs("generate-sampling", "5", ["answers"]),
        "generate.system": differs("generate-jsonl", "Answer in one word.", ["answers"]),
        "generate.image_root": differs("generate-jsonl", "img2", ["answers"],
                                       prepare=rotated_images("sample/images", "img2/images")),
        "generate.dtype": differs("generate", "bfloat16", ["answers"]),
        "generate.attention": differs("generate", "reference", ["log"], why="the kernel the model runs"),
        "generate.evaluate": differs("generate", "false", ["files"]),
    }

    inspect = {
        **logging_entries("inspect-2ranks"),
        "logging.rank_files": differs("inspect-2ranks", "false", ["files"], why="the launch check's recipe sets true"),
        **mesh_inspect,
        **runtime("inspect-2ranks"),
        "distributed.backend": refuses("inspect-2ranks", "nccl", "nccl", why="nccl needs CUDA devices; GPU runs: tests/gpu"),
        "distributed.collective_timeout_s": differs("inspect-2ranks", "3", ["rc"], during=stop_rank_for(8, r"^.*mesh "),
                                                    why="rank 1 stopped for 8 s in the self-test: the watchdog ends the job"),
    }
    return {"train": train, "preprocess": preprocess, "generate": generate, "inspect": inspect}


# ---------------------------------------------------------------- data

def make_data():
    d = C.data
    os.makedirs(d, exist_ok=True)
    b = C.bin
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def sh(*cmd, **kw):
        subprocess.run(list(cmd), check=True, env=kw.pop("env", env), stdout=subprocess.DEVNULL,
                       stderr=subprocess.STDOUT, timeout=300, **kw)

    sh(f"{b}/omnitune-make-sample", "--out", f"{d}/sample")
    sh(f"{b}/omnitune-make-sample", "--out", f"{d}/sample3n", "--spoken", "1")
    tok = f"{d}/sample/tokenizer/tokenizer.model"
    sh(f"{b}/omnitune-init-model", "--preset", "tiny-vlm", "--out", f"{d}/model", "--tokenizer", tok, "--dtype", "float32")
    sh(f"{b}/omnitune-init-model", "--preset", "tiny-vlm", "--out", f"{d}/model-seed2", "--tokenizer", tok,
       "--dtype", "float32", "--seed", "2")
    sh(f"{b}/omnitune-init-model", "--preset", "tiny-3n", "--out", f"{d}/model3n",
       "--tokenizer", f"{d}/sample3n/tokenizer/tokenizer.model", "--dtype", "float32")
    for split in ("train", "validation"):
        sh(f"{b}/omnitune-preprocess", "--config", f"{C.src}/configs/preprocess_sample.yaml",
           "--preprocess.split", split, "--preprocess.input", f"{d}/sample/{split}.jsonl",
           env=dict(env, SAMPLE_DIR=f"{d}/sample", MODEL_DIR=f"{d}/model", SHARDS_DIR=f"{d}/shards"))
    for split in ("train", "validation"):
        sh(f"{b}/omnitune-preprocess", "--config", f"{C.src}/configs/preprocess_sample_3n.yaml",
           "--preprocess.split", split, "--preprocess.input", f"{d}/sample3n/spoken_{split}.jsonl",
           env=dict(env, SAMPLE_DIR=f"{d}/sample3n", MODEL_DIR=f"{d}/model3n", SHARDS_DIR=f"{d}/shards3n"))
    # A second tokenizer: the same pieces in another order would be too subtle; the sample
    # tokenizer of another make-sample seed splits text differently.
    sh(f"{b}/omnitune-make-sample", "--out", f"{d}/sample-b", "--seed", "5")
    os.makedirs(f"{d}/tokenizer-b", exist_ok=True)
    shutil.copyfile(f"{d}/sample-b/tokenizer/tokenizer.model", f"{d}/tokenizer-b/tokenizer.model")
    # Flat MedPix rows with an audio column, from the spoken messages rows.
    with open(f"{d}/flat_audio.jsonl", "w") as out, open(f"{d}/sample3n/spoken_train.jsonl") as f:
        for line in f:
            r = json.loads(line)
            user, answer = r["messages"][0]["content"], r["messages"][1]["content"][0]["text"]
            image = next(c["image"] for c in user if c["type"] == "image")
            audio = next(c["audio"] for c in user if c["type"] == "audio")
            out.write(json.dumps({"question": "Listen.", "answer": answer, "image_id": image, "audio": audio,
                                  "case_id": r["case_id"], "mode": r["mode"]}) + "\n")
    # JPEGs much larger than the model's 64 px, for DCT-scaled decoding.
    from PIL import Image  # Debian's python3-pil
    os.makedirs(f"{d}/big_images", exist_ok=True)
    for n in os.listdir(f"{d}/sample/images"):
        im = Image.open(f"{d}/sample/images/{n}").convert("RGB").resize((512, 512), Image.BICUBIC)
        im.save(f"{d}/big_images/{n}", format="JPEG", quality=90)
    # JSONL questions for omnitune-generate, images relative to the JSONL's folder.
    os.makedirs(f"{d}/questions", exist_ok=True)
    shutil.copytree(f"{d}/sample/images", f"{d}/questions/images")
    with open(f"{d}/questions/questions.jsonl", "w") as out, open(f"{d}/sample/validation.jsonl") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            out.write(json.dumps({"id": f"q{i}", "question": r["question"], "image": "images/" + r["image_id"],
                                  "answer": r["answer"]}) + "\n")
    # A LoRA adapter for generate.adapter: the lora scenario's export.
    scn = scenarios()["lora"]
    sh(*(program_cmd("train", 1) + scn.args + ["--train.run_dir", f"{d}/adapter-run"]), env=dict(env, **scn.env))
    shutil.copytree(f"{d}/adapter-run/export-peft", f"{d}/adapter")


# ---------------------------------------------------------------- checking

def short(v, n=70):
    t = repr(v)
    return t if len(t) <= n else t[:n] + "..."


def first_difference(a, b):
    """Where two observations first differ, in a few words (for the audit's PASS lines)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return f"{k}: " + first_difference(a.get(k), b.get(k))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return f"[{i}] " + first_difference(x, y)
        if len(a) != len(b):
            extra = a[len(b):] if len(a) > len(b) else b[len(a):]
            return f"{len(a)} -> {len(b)} items ({'-' if len(a) > len(b) else '+'}{short(extra[0])})"
    if isinstance(a, str) and isinstance(b, str):
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        start = max(0, i - 25)
        return f"...{short(a[start:], 60)} -> ...{short(b[start:], 60)}"
    return f"{short(a)} -> {short(b)}"


def schema_keys(program):
    out = subprocess.run([os.path.join(C.bin, "omnitune-" + program), "--help-config"], check=True,
                         capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", out, re.M)]


_base_cache = {}


def observer(name):
    """A named observation; metric:<field> is one field of every training metrics row."""
    if name.startswith("metric:"):
        field = name.split(":", 1)[1]
        return lambda res: [r.get(field) for r in metrics_rows(res)]
    return OBSERVERS[name]


def check_entry(program, key, e, label):
    """Returns (ok, detail)."""
    scn = scenarios()[e.scenario]
    assert scn.program == program, (program, key, e.scenario)
    override = ["--" + key, e.value]
    if e.kind == "refuses":
        res = run_program(scn, list(e.base) + override, e.env, None, None, label)
        if res.rc == 0 or res.rc == "timeout":
            return False, f"{key}={e.value} was not refused (rc {res.rc})"
        if e.message not in res.log:
            return False, f"refused, but the output does not mention '{e.message}': {res.log.strip()[-300:]}"
        line = next((l for l in res.log.splitlines() if e.message in l), "")
        return True, "refused: " + norm_log(line)[0][:160]
    cache_key = (e.scenario, e.base, tuple(sorted(e.env.items())), e.prepare, e.during)
    cacheable = e.prepare is None and e.during is None
    if cacheable and cache_key in _base_cache:
        base, control = _base_cache[cache_key]
    else:
        base = run_program(scn, list(e.base), e.env, e.prepare, e.during, label + ".base")
        # The control: the same run again. An observation that differs between two identical runs
        # proves nothing (timing leaking into it); runs with a fault injected are not repeated.
        control = None if e.during else run_program(scn, list(e.base), e.env, e.prepare, None, label + ".control")
        if cacheable:
            _base_cache[cache_key] = (base, control)
    if base.rc != 0:
        return False, f"the scenario's own run failed (rc {base.rc}): {base.log.strip()[-400:]}"
    if e.during and not base.fault:
        return False, "the fault was not injected into the scenario's run (no rank 1 to stop, or it had ended)"
    if control is not None:
        for o in e.observe:
            a, b = observer(o)(base), observer(o)(control)
            if a != b:
                return False, f"{o} differs between two identical runs of the scenario: {first_difference(a, b)}"
    pert = run_program(scn, list(e.base) + override, e.env, e.prepare, e.during, label)
    if e.during and not pert.fault:
        return False, f"the fault was not injected into the run with {key}={e.value}"
    if e.expect_rc0 and pert.rc != 0 and "rc" not in e.observe:
        return False, f"{key}={e.value} failed (rc {pert.rc}): {pert.log.strip()[-400:]}"
    changed = []
    for o in e.observe:
        a, b = observer(o)(base), observer(o)(pert)
        if a != b:
            changed.append(f"{o} ({first_difference(a, b)})")
    if not changed:
        return False, f"{key}={e.value} changed none of {', '.join(e.observe)}"
    return True, f"={e.value}" + (f" [{e.why}]" if e.why else "") + ": " + "; ".join(changed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bin_dir")
    ap.add_argument("src_dir")
    ap.add_argument("--only", default="", help="PROGRAM:KEY[,...] to check only these (data is still made)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder and print it")
    a = ap.parse_args()
    C.bin, C.src = os.path.abspath(a.bin_dir), os.path.abspath(a.src_dir)
    C.work = tempfile.mkdtemp(prefix="omnitune-config-audit.")
    C.data = os.path.join(C.work, "data")
    os.environ["AUDIT_DATA"] = C.data
    passed = failed = 0
    try:
        make_data()
        table = audit_table()
        only = {tuple(s.split(":", 1)) for s in a.only.split(",") if s}
        for program in PROGRAMS:
            keys = schema_keys(program)
            entries = table[program]
            for stale in sorted(set(entries) - set(keys)):
                if only and (program, stale) not in only:
                    continue
                print(f"FAIL: {program} {stale}: audited but not in the schema (remove the entry)")
                failed += 1
            for key in keys:
                if only and (program, key) not in only:
                    continue
                e = entries.get(key)
                if e is None:
                    ok, detail = False, "no audit entry: add one to tests/audit/config_audit.py"
                else:
                    t0 = time.time()
                    ok, detail = check_entry(program, key, e, f"{program}.{key}")
                    detail += f" [{time.time() - t0:.1f} s]"
                print(f"{'PASS' if ok else 'FAIL'}: {program} {key} {detail}", flush=True)
                passed += ok
                failed += not ok
    finally:
        if a.keep:
            print("scratch kept in", C.work)
        else:
            shutil.rmtree(C.work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
