#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/sha256.h"
#include "nn/tensor_io.h"
#include "parallel/tp_plan.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

const char* kStates[] = {"master", "exp_avg", "exp_avg_sq"};

at::Tensor& state_of(FlatGroup& g, int s) { return s == 0 ? g.shard : s == 1 ? g.exp_avg : g.exp_avg_sq; }

std::string rank_file(int r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "rank_%05d.safetensors", r);
  return buf;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  OT_REQUIRE(in, "cannot read ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Gathers one fixed-size string per rank (SHA-256 hex digests) on every rank.
std::vector<std::string> all_gather_strings(Comm& world, const std::string& mine, size_t width) {
  OT_CHECK(mine.size() <= width, "string too long to gather");
  at::Tensor in = at::zeros({int64_t(width)}, at::kByte);
  std::memcpy(in.data_ptr(), mine.data(), mine.size());
  at::Tensor out = at::zeros({int64_t(width) * world.size()}, at::kByte);
  world.all_gather(in, out);
  std::vector<std::string> all;
  for (int r = 0; r < world.size(); ++r) {
    const char* p = reinterpret_cast<const char*>(out.data_ptr<uint8_t>()) + r * width;
    all.emplace_back(p, strnlen(p, width));
  }
  return all;
}

// Rank 0's string on every rank (length first, then the bytes).
std::string broadcast_string(Comm& world, const std::string& s) {
  at::Tensor n = at::full({1}, static_cast<int64_t>(s.size()), at::kLong);
  world.broadcast(n, 0);
  at::Tensor bytes = at::zeros({std::max<int64_t>(1, n.item<int64_t>())}, at::kByte);
  if (world.rank() == 0 && !s.empty()) std::memcpy(bytes.data_ptr(), s.data(), s.size());
  world.broadcast(bytes, 0);
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), n.item<int64_t>());
}

at::Tensor cpu_rng_state() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

const char* split_name(TpSplit s) { return s == TpSplit::Rows ? "rows" : s == TpSplit::Cols ? "cols" : "replicated"; }

std::vector<int64_t> parse_shape(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string tok;
  while (std::getline(ss, tok, ',')) out.push_back(std::stoll(tok));
  return out;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out;
}

// The complete checkpoints (epoch_E_step_S folders with meta.json) under root, oldest step first.
std::vector<std::pair<int64_t, fs::path>> complete_checkpoints(const fs::path& root) {
  std::vector<std::pair<int64_t, fs::path>> done;
  if (!fs::is_directory(root)) return done;
  const std::regex re("epoch_(\\d+)_step_(\\d+)");
  for (const auto& e : fs::directory_iterator(root)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (e.is_directory() && std::regex_match(name, m, re) && fs::exists(e.path() / "meta.json"))
      done.emplace_back(std::stoll(m[2]), e.path());
  }
  std::sort(done.begin(), done.end());
  return done;
}

void prune(const std::string& root, int keep_last) {
  if (keep_last <= 0) return;
  const auto done = complete_checkpoints(root);
  for (size_t i = 0; i + keep_last < done.size(); ++i) {
    fs::remove_all(done[i].second);
    OT_LOG_INFO("checkpoint: removed ", done[i].second.string(), " (keeping the last ", keep_last, ")");
  }
}

}  // namespace

std::string checkpoint_name(int64_t epoch, int64_t step) {
  return "epoch_" + std::to_string(epoch) + "_step_" + std::to_string(step);
}

std::string checkpoint_save(const std::string& root, const TrainerState& state, ShardedEngine& engine,
                            const ShardedAdamW& opt, Comm& world, int keep_last) {
  at::NoGradGuard no_grad;
  engine.synchronize();
  const std::string name = checkpoint_name(state.epoch, state.step);
  const fs::path final_dir = fs::path(root) / name, tmp_dir = fs::path(root) / (".tmp-" + name);
  if (world.rank() == 0) {
    fs::create_directories(root);
    fs::remove_all(tmp_dir);  // leftovers of a crashed attempt at the same step
    fs::create_directories(tmp_dir);
  }
  world.barrier();

  // This rank's pieces. Replicated parameters are written by TP rank 0 only (identical copies).
  const TpGroup& tp = engine.tp();
  const TpDims& cfg = engine.tp_dims();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::map<std::string, std::string> meta;
  for (auto& u : engine.units()) {
    FlatGroup* g = u->trainable();
    if (!g) continue;
    for (const FlatParam& p : g->params()) {
      const TpParamPlan plan = tp_param_plan(cfg, p.name, tp.size);
      const bool replicated = plan.split == TpSplit::Replicated;
      if (replicated && tp.rank != 0) continue;
      meta["param/" + p.name] = std::string(split_name(plan.split)) + ";" + shape_text(p.shape) + ";" +
                                std::to_string(replicated ? 1 : tp.size);
      auto [b, e] = g->shard_range(p);
      if (e <= b) continue;
      const int64_t first = g->shard_offset() + b - p.offset;
      for (int s = 0; s < 3; ++s) {
        const std::string key = std::string(kStates[s]) + "/" + p.name + "@" + std::to_string(replicated ? 0 : tp.rank) +
                                "/" + std::to_string(replicated ? 1 : tp.size) + "+" + std::to_string(first);
        tensors.emplace_back(key, state_of(*g, s).narrow(0, b, e - b));
      }
    }
  }
  tensors.emplace_back("rng/cpu", cpu_rng_state());
  const std::string file = (tmp_dir / rank_file(world.rank())).string();
  safetensors_write(file, tensors, meta);
  const std::vector<std::string> hashes = all_gather_strings(world, sha256_file(file), 64);

  if (world.rank() == 0) {
    nlohmann::json j;
    j["format"] = "omnitune-checkpoint-1";
    j["step"] = state.step;
    j["epoch"] = state.epoch;
    j["consumed"] = state.consumed;
    j["optimizer_steps"] = opt.steps_taken();
    j["bad_steps_in_a_row"] = state.bad_steps_in_a_row;
    j["world_size"] = world.size();
    j["tp"] = tp.size;
    j["config_yaml"] = state.config_yaml;
    j["metrics"] = state.metrics;
    for (int r = 0; r < world.size(); ++r) j["files"][rank_file(r)] = hashes[r];
    write_text_file_atomic((tmp_dir / "meta.json").string(), j.dump(1));
    fs::remove_all(final_dir);
    fs::rename(tmp_dir, final_dir);
    write_text_file_atomic((fs::path(root) / "LATEST").string(), name + "\n");
    prune(root, keep_last);
    OT_LOG_INFO("checkpoint: wrote ", final_dir.string(), " (", world.size(), " rank files)");
  }
  world.barrier();
  return final_dir.string();
}

std::string checkpoint_resolve(const std::string& root, const std::string& path) {
  auto complete = [](const fs::path& d) { return fs::exists(d / "meta.json"); };
  auto from_root = [&](const fs::path& r) -> std::string {
    const fs::path latest = r / "LATEST";
    if (!fs::exists(latest)) {
      // Checkpoints without LATEST (a deleted file, a copy that missed it): never start over them.
      const auto done = complete_checkpoints(r);
      OT_REQUIRE(done.empty(), r.string(), " holds ", done.size(), " checkpoint(s) but no LATEST file: pass --resume ",
                 done.back().second.string(), " to continue from the newest, or move them away to start afresh");
      return "";
    }
    std::string name = read_text(latest.string());
    name.erase(name.find_last_not_of(" \n\r\t") + 1);
    const fs::path d = r / name;
    OT_REQUIRE(complete(d), latest.string(), " names '", name, "', which is missing or incomplete (no meta.json)");
    return d.string();
  };
  if (path == "auto") return fs::exists(root) ? from_root(root) : "";
  OT_REQUIRE(fs::exists(path), "checkpoint ", path, " does not exist");
  if (complete(path)) return path;
  std::string d = from_root(path);
  OT_REQUIRE(!d.empty(), path, " is neither a checkpoint (no meta.json: incomplete?) nor a directory with LATEST");
  return d;
}

TrainerState checkpoint_load(const std::string& dir, ShardedEngine& engine, ShardedAdamW& opt, Comm& world,
                             bool verify) {
  at::NoGradGuard no_grad;
  const nlohmann::json j = nlohmann::json::parse(read_text((fs::path(dir) / "meta.json").string()));
  OT_REQUIRE(j.value("format", "") == "omnitune-checkpoint-1", dir, "/meta.json: not an omnitune checkpoint");
  const int saved_world = j.at("world_size").get<int>();
  // Integrity first: rank 0 checks every file, then everyone learns the verdict together.
  std::string bad;
  if (verify && world.rank() == 0) {
    for (auto& [file, hash] : j.at("files").items()) {
      const std::string path = (fs::path(dir) / file).string();
      if (!fs::exists(path)) bad = path + " is missing";
      else if (sha256_file(path) != hash.get<std::string>()) bad = path + " is corrupt (SHA-256 differs from meta.json)";
      if (!bad.empty()) break;
    }
  }
  bad = broadcast_string(world, bad);
  OT_REQUIRE(bad.empty(), "checkpoint ", dir, ": ", bad, "; resume from an earlier checkpoint (--resume PATH)");

  // Index every piece of every rank file: (state, param) -> [(tp rank, tp size, first, file, name)].
  std::vector<SafetensorsFile> files;
  for (int r = 0; r < saved_world; ++r) files.push_back(SafetensorsFile::open((fs::path(dir) / rank_file(r)).string()));
  struct Piece {
    int tp_rank, tp_size;
    int64_t first;
    const SafetensorsFile* file;
    std::string key;
  };
  std::map<std::string, std::vector<Piece>> pieces;
  std::map<std::string, std::string> param_meta;
  const std::regex key_re("([a-z_]+)/(.+)@(\\d+)/(\\d+)\\+(\\d+)");
  for (const auto& f : files) {
    for (const auto& [k, v] : f.metadata())
      if (k.rfind("param/", 0) == 0) param_meta[k.substr(6)] = v;
    for (const auto& key : f.names()) {
      std::smatch m;
      if (!std::regex_match(key, m, key_re)) continue;
      pieces[std::string(m[1]) + "/" + std::string(m[2])].push_back(
          {std::stoi(m[3]), std::stoi(m[4]), std::stoll(m[5]), &f, key});
    }
  }

  const TpGroup& tp = engine.tp();
  const TpDims& cfg = engine.tp_dims();
  for (auto& u : engine.units()) {
    FlatGroup* g = u->trainable();
    if (!g) continue;
    for (const FlatParam& p : g->params()) {
      auto [b, e] = g->shard_range(p);
      auto it = param_meta.find(p.name);
      OT_REQUIRE(it != param_meta.end(), "checkpoint ", dir, " has no parameter ", p.name,
                 " (was it frozen in the run that wrote it? trainable parameters must match)");
      std::stringstream ms(it->second);
      std::string split, shape, tps;
      std::getline(ms, split, ';');
      std::getline(ms, shape, ';');
      std::getline(ms, tps, ';');
      const std::vector<int64_t> saved_local = parse_shape(shape);
      const int saved_tp = std::stoi(tps);
      int64_t local_numel = 1;
      for (int64_t d : saved_local) local_numel *= d;
      for (int s = 0; s < 3; ++s) {
        // Reassemble the full tensor from each saved TP rank's pieces, then slice for this mesh.
        std::vector<at::Tensor> parts;
        for (int t = 0; t < saved_tp; ++t) {
          at::Tensor local = at::empty({local_numel}, at::kFloat);
          int64_t covered = 0;
          for (const Piece& pc : pieces[std::string(kStates[s]) + "/" + p.name]) {
            if (pc.tp_rank != t) continue;
            at::Tensor src = safetensors_read(*pc.file, pc.key);
            local.narrow(0, pc.first, src.numel()).copy_(src);
            covered += src.numel();
          }
          OT_REQUIRE(covered == local_numel, "checkpoint ", dir, ": ", kStates[s], " of ", p.name, " (tp rank ", t,
                     ") has ", covered, " of ", local_numel, " elements: a rank file is incomplete");
          parts.push_back(local.view(saved_local));
        }
        const int64_t dim = split == "cols" ? 1 : 0;
        at::Tensor full = split == "replicated" ? parts[0] : at::cat(parts, dim);
        at::Tensor mine =
            tp_slice(tp_param_plan(cfg, p.name, tp.size), full, tp.rank, tp.size).contiguous().reshape({-1});
        OT_REQUIRE(mine.numel() == p.numel, "checkpoint ", dir, ": ", p.name, " has a different shape than the model");
        if (e > b) {
          const int64_t first = g->shard_offset() + b - p.offset;
          state_of(*g, s).narrow(0, b, e - b).copy_(mine.narrow(0, first, e - b));
        }
      }
    }
  }
  opt.set_steps_taken(j.at("optimizer_steps").get<int64_t>());

  // RNG: each rank its own when the world is the same; otherwise reseed deterministically.
  if (saved_world == world.size()) {
    at::Tensor st = safetensors_read(files[world.rank()], "rng/cpu");
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(st);
  } else {
    if (world.rank() == 0)
      OT_LOG_WARN("checkpoint ", dir, " was written by ", saved_world, " ranks, this job has ", world.size(),
                  ": weights, optimizer, data position and LoRA dropout masks (per sample) resume exactly; the per-rank "
                  "CPU random stream is reseeded");
    at::manual_seed(static_cast<uint64_t>(j.at("step").get<int64_t>()) * 1000003ULL + world.rank());
  }

  TrainerState state;
  state.step = j.at("step").get<int64_t>();
  state.epoch = j.at("epoch").get<int64_t>();
  state.consumed = j.at("consumed").get<int64_t>();
  state.optimizer_steps = j.at("optimizer_steps").get<int64_t>();
  state.bad_steps_in_a_row = j.value("bad_steps_in_a_row", int64_t(0));
  state.config_yaml = j.value("config_yaml", "");
  state.metrics = j.value("metrics", nlohmann::json::array());
  return state;
}

}  // namespace omnitune
