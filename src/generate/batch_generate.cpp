// Batch generation: plan, per-rank work, part files, merge, evaluation. Ranks synchronise only
// through MPI_Ibarrier polled with a short sleep: a rank that finished early waits without
// spinning a core that an oversubscribed CPU run needs, and without the collective watchdog
// (the ranks' shares can differ by minutes on a large split).
#include "generate/batch_generate.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "dist/mpi_check.h"
#include "dist/stop_signal.h"
#include "eval/vqa_metrics.h"
#include "generate/prompt_source.h"
#include "generate/result_store.h"
#include "generate/session.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

void wait_for_all_ranks() {
  MPI_Request req;
  MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &req));
  int done = 0;
  while (true) {
    MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string abs_path(const std::string& p) { return p.empty() ? p : fs::absolute(p).lexically_normal().string(); }

// What decides an answer's content: a rerun with other values must not reuse old answers.
// (batch_size only changes rounding, and is left out so a rerun may change it.)
std::string settings_fingerprint(const GenerateSettings& s) {
  nlohmann::ordered_json j;
  j["model"] = abs_path(s.model_path);
  j["adapter"] = abs_path(s.adapter);
  j["tokenizer"] = abs_path(s.tokenizer);
  j["input"] = abs_path(s.input);
  j["system"] = s.system;
  j["dtype"] = s.dtype;
  j["max_new_tokens"] = s.max_new_tokens;
  j["greedy"] = s.sampling.greedy;
  if (!s.sampling.greedy) {
    j["temperature"] = s.sampling.temperature;
    j["top_k"] = s.sampling.top_k;
    j["top_p"] = s.sampling.top_p;
    j["seed"] = s.sampling.seed;
  }
  return j.dump();
}

std::string answer_line(const PromptItem& it, const Answer& a) {
  nlohmann::ordered_json j;
  j["id"] = it.id;
  j["case_id"] = it.case_id;
  j["mode"] = it.mode;
  j["question"] = it.question;
  j["reference"] = it.reference;
  j["generated"] = a.text;
  j["prompt_tokens"] = static_cast<int64_t>(it.ids.size());
  j["generated_tokens"] = a.new_tokens;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string eta_text(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

std::vector<std::vector<int64_t>> plan_batches(const std::vector<int64_t>& lengths, int64_t batch_size) {
  OT_CHECK(batch_size > 0, "plan_batches: batch_size ", batch_size);
  std::vector<int64_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<int64_t>> batches;
  for (size_t i = 0; i < order.size(); i += static_cast<size_t>(batch_size))
    batches.emplace_back(order.begin() + i, order.begin() + std::min(order.size(), i + static_cast<size_t>(batch_size)));
  return batches;
}

BatchGenerateOutcome run_batch_generation(const GenerateSettings& s, int world_rank, int dp_rank, int dp_size,
                                          const at::Device& device) {
  const bool root = world_rank == 0;
  BatchGenerateOutcome out;
  SessionOptions so;
  so.model_dir = s.model_path;
  so.adapter_dir = s.adapter;
  so.tokenizer_path = s.tokenizer;
  so.dtype = s.dtype;
  so.attention = s.attention;
  so.device = device;
  GenerationSession session(so);
  OT_LOG_INFO(session.describe());
  PromptSource source(s, session);
  const auto& items = source.items();
  out.items = static_cast<int64_t>(items.size());

  ResultStore store(s.output, world_rank);
  if (root) store.prepare(settings_fingerprint(s));
  wait_for_all_ranks();
  store.repair_own();
  wait_for_all_ranks();  // no rank reads a part file another is still repairing
  std::set<std::string> done;
  {
    std::set<std::string> ids;
    for (const auto& it : items) ids.insert(it.id);
    for (const auto& [id, line] : store.load_all())
      if (ids.count(id)) done.insert(id);
  }
  out.already_done = static_cast<int64_t>(done.size());
  wait_for_all_ranks();  // every rank has read the part files before any rank appends to them

  std::vector<int64_t> lengths;
  for (const auto& it : items) lengths.push_back(static_cast<int64_t>(it.ids.size()));
  const auto batches = plan_batches(lengths, s.batch_size);
  std::vector<int64_t> mine;  // batches of this rank that still miss answers
  int64_t my_missing = 0;
  for (size_t b = static_cast<size_t>(dp_rank); b < batches.size(); b += static_cast<size_t>(dp_size)) {
    int64_t missing = 0;
    for (int64_t i : batches[b]) missing += done.count(items[i].id) ? 0 : 1;
    if (missing > 0) {
      mine.push_back(static_cast<int64_t>(b));
      my_missing += missing;
    }
  }
  if (root)
    OT_LOG_INFO(items.size(), " ", source.kind() == "shards" ? "samples" : "prompts", " from ", s.input, " in ",
                batches.size(), " batches of up to ", s.batch_size, " over ", dp_size, " rank(s); ", done.size(),
                " already answered in ", store.parts_dir(), ", ", items.size() - done.size(), " to generate");

  const auto t0 = std::chrono::steady_clock::now();
  BatchTiming timing;
  for (size_t k = 0; k < mine.size(); ++k) {
    if (stop_requested()) {
      OT_LOG_WARN("stop requested (signal ", stop_signal_number(), "): leaving ", mine.size() - k,
                  " batch(es) of this rank for a rerun");
      break;
    }
    const auto& batch = batches[static_cast<size_t>(mine[k])];
    std::vector<PromptTokens> prompts;
    for (int64_t i : batch) prompts.push_back(source.prompt(items[i]));
    SamplingOptions sampling = s.sampling;
    sampling.seed = s.sampling.seed + static_cast<uint64_t>(mine[k]);  // per batch: rank-count independent
    const std::vector<Answer> answers = session.generate(prompts, s.max_new_tokens, sampling, &timing);
    std::vector<std::string> lines;
    for (size_t j = 0; j < batch.size(); ++j)
      if (!done.count(items[batch[j]].id)) lines.push_back(answer_line(items[batch[j]], answers[j]));
    store.append(lines);
    out.generated += static_cast<int64_t>(lines.size());
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    OT_LOG_INFO("batch ", k + 1, "/", mine.size(), " of this rank: ", out.generated, "/", my_missing, " answers, ",
                timing.decode_seconds > 0 ? timing.new_tokens / timing.decode_seconds : 0.0, " new tokens/s, ETA ",
                eta_text(elapsed / static_cast<double>(out.generated) * static_cast<double>(my_missing - out.generated)));
  }
  OT_LOG_DEBUG("rank ", world_rank, ": ", out.generated, " answers written to ", store.own_part());
  wait_for_all_ranks();
  if (!root) return out;

  // Rank 0: merge every part file in input order, then score.
  const auto all = store.load_all();
  std::vector<std::string> lines;
  std::vector<VqaExample> examples;
  int64_t missing = 0;
  for (const auto& it : items) {
    auto f = all.find(it.id);
    if (f == all.end()) {
      ++missing;
      continue;
    }
    lines.push_back(f->second);
    const nlohmann::json j = nlohmann::json::parse(f->second);
    examples.push_back({j.value("mode", std::string()), j.value("generated", std::string()),
                        j.value("reference", std::string())});
  }
  if (missing > 0) {
    OT_LOG_WARN(missing, " of ", items.size(), " items have no answer yet (the run was stopped); ", s.output,
                " not written: rerun the same command to finish");
    return out;
  }
  store.write_merged(lines);
  out.complete = true;
  OT_LOG_INFO("wrote ", lines.size(), " answers to ", s.output, " (", items.size() - out.already_done,
              " generated in this run, ", out.already_done, " already done)");
  if (s.evaluate) {
    const VqaSummary summary = vqa_evaluate(examples);
    ResultStore::write_atomic(s.output + ".eval.json", vqa_summary_json(summary));
    std::fprintf(stderr, "%s", vqa_summary_text(summary).c_str());
    OT_LOG_INFO("evaluation written to ", s.output, ".eval.json");
  }
  return out;
}

}  // namespace omnitune
