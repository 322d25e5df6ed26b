// Pipeline phases (every rank runs all of them, on its own shards):
//  1. load rows (text for all rows; embedded media bytes only for this rank's rows); find which
//     of this rank's shards an earlier run completed (shard + verified work record: kept)
//  2. hash the media of this rank's rows (kept shards: their record gives the keys, no file is
//     read); all-gather (row -> keys) so every rank knows where each distinct image or clip
//     lives: in the shard of the first valid row that uses it (its home)
//  3. decode the media homed in this rank's shards that are not kept (threads); all-gather the
//     failures (kept shards: their record gives them), which reject every row using that item
//  4. encode conversations and write this rank's shards and their work records (kept shards:
//     statistics from the record); rank 0 gathers the stats into manifest.json
#include "pipeline/preprocess.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/write_behind.h"
#include "data/shard_format.h"
#include "dist/topology.h"
#include "parquet/parquet_file.h"
#include "pipeline/media_work.h"
#include "pipeline/source.h"
#include "pipeline/work_record.h"
#include "tokenizer/chat_template.h"

namespace omnitune {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kProducer = "omnitune-preprocess 0.1";

// Gathers one string per rank on every rank (rank order).
std::vector<std::string> allgather_strings(const std::string& mine, MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(size), offs(size);
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm);
  int total = 0;
  for (int r = 0; r < size; ++r) {
    offs[r] = total;
    total += lens[r];
  }
  std::string all(total, '\0');
  MPI_Allgatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, comm);
  std::vector<std::string> out;
  for (int r = 0; r < size; ++r) out.push_back(all.substr(offs[r], lens[r]));
  return out;
}

struct ModelInfo {
  std::string family = "gemma3";
  int64_t image_tokens = 0, audio_tokens = 0;  // soft tokens per image / per clip (0: not supported)
  bool vision = false;
  MediaSettings media;  // processor size, audio feature constants, decode limits
  std::string tokenizer_path, tokenizer_sha256;
};

ModelInfo read_model(const PreprocessSettings& s) {
  OT_REQUIRE(!s.model_dir.empty(), "preprocess.model_dir is not set: the model directory decides the image size, ",
             "tokens per image and tokenizer (--preprocess.model_dir DIR)");
  ModelInfo m;
  std::ifstream in(s.model_dir + "/config.json");
  OT_REQUIRE(in.good(), "cannot read ", s.model_dir, "/config.json (preprocess.model_dir)");
  json j = json::parse(in, nullptr, false);
  OT_REQUIRE(j.is_object(), s.model_dir, "/config.json is not valid JSON");
  std::string type = j.value("model_type", "");
  if (type == "gemma3n") m.family = "gemma3n";
  m.vision = j.contains("vision_config");
  if (m.vision) {
    m.image_tokens = j.value("mm_tokens_per_image", j.value("vision_soft_tokens_per_image", 256));
    m.media.image = image_processor_load(s.model_dir);
  }
  // Gemma 3n is the family with an audio tower (188 soft tokens per clip, whatever its length).
  if (m.family == "gemma3n") {
    m.audio_tokens = j.value("audio_soft_tokens_per_image", 188);
    m.media.audio = audio_feature_config_load(s.model_dir);
  }
  m.media.max_image_pixels = s.max_image_pixels;
  m.media.jpeg_dct_scaling = s.jpeg_dct_scaling;
  m.tokenizer_path = s.tokenizer.empty() ? s.model_dir + "/tokenizer.model" : s.tokenizer;
  OT_REQUIRE(fs::exists(m.tokenizer_path), "tokenizer ", m.tokenizer_path,
             " not found: put tokenizer.model in the model directory or set preprocess.tokenizer");
  m.tokenizer_sha256 = sha256_file(m.tokenizer_path);
  return m;
}

// The settings that shape the shards' content; a shard from an earlier run is reused only when
// this hash matches.
std::string content_hash(const PreprocessSettings& s, const ModelInfo& m, int64_t rows) {
  json j{{"producer", kProducer}, {"input", fs::absolute(s.input).string()}, {"input_bytes", fs::file_size(s.input)},
         {"rows", rows}, {"split", s.split}, {"tokenizer", m.tokenizer_sha256}, {"image_tokens", m.image_tokens},
         {"audio_tokens", m.audio_tokens}, {"h", m.media.image.height}, {"w", m.media.image.width},
         {"max_length", s.max_length}, {"overlong", s.overlong}, {"per_shard", s.samples_per_shard},
         {"system", s.system_prompt},
         {"columns", {s.col_question, s.col_answer, s.col_image, s.col_case_id, s.col_mode, s.col_id, s.col_audio}},
         {"image_dir", s.image_dir}, {"audio_dir", s.audio_dir}, {"max_pixels", s.max_image_pixels},
         {"format", s.format}, {"dct", s.jpeg_dct_scaling}, {"family", m.family}, {"deflate", s.image_deflate_level}};
  if (m.audio_tokens > 0) {
    const AudioFeatureConfig& a = m.media.audio;
    j["audio"] = {a.sample_rate, a.mel_bins, a.frame_length, a.hop_length, a.fft_length, a.preemphasis,
                  a.min_freq, a.max_freq, a.mel_floor, a.max_samples, a.pad_to_multiple_of};
  }
  return sha256_hex(j.dump());
}

std::string shard_name(int64_t k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05lld.h5", static_cast<long long>(k));
  return buf;
}

MediaKind kind_of(const std::string& key) { return key.rfind("audio:", 0) == 0 ? MediaKind::Audio : MediaKind::Image; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs fn(i) for i in [0, n) on `threads` threads; the first exception is rethrown.
void parallel_for(int64_t n, int threads, const std::function<void(int64_t)>& fn) {
  std::atomic<int64_t> next{0};
  std::exception_ptr err;
  std::mutex mu;
  auto worker = [&] {
    for (int64_t i; (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> l(mu);
        if (!err) err = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (err) std::rethrow_exception(err);
}

// Lets parallel workers run one step each in index order (a worker waits for the step before
// its own), so images enter a shard in slot order whichever thread decodes first: the file's bytes
// do not depend on timing. The turn passes on even when a step throws.
class InOrder {
 public:
  template <typename F>
  void run(int64_t i, F&& step) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return next_ == i; });
    struct Pass {
      InOrder& o;
      ~Pass() {
        ++o.next_;
        o.cv_.notify_all();
      }
    } pass{*this};
    step();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t next_ = 0;
};

struct Progress {
  std::string what;
  int64_t total;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now(), last = start;
  bool ended = false;  // the final line is printed once
  void tick(int64_t done, bool root) {
    auto now = std::chrono::steady_clock::now();
    if (!root || ended || (std::chrono::duration<double>(now - last).count() < 2.0 && done < total)) return;
    ended = done >= total;
    last = now;
    double s = std::chrono::duration<double>(now - start).count();
    double rate = s > 0 ? done / s : 0;
    OT_LOG_INFO(what, ": ", done, "/", total, " (", static_cast<int64_t>(rate), "/s on rank 0, ETA ",
                rate > 0 ? static_cast<int64_t>((total - done) / rate) : 0, " s)");
  }
};

// The header of shard k of n, made anew by this run.
ShardHeader new_shard_header(const PreprocessSettings& s, const ModelInfo& model, const std::string& config_sha256,
                             int64_t k, int64_t n) {
  ShardHeader hdr;
  hdr.shard_index = k;
  hdr.num_shards = n;
  hdr.split = s.split;
  hdr.model_family = model.family;
  hdr.tokenizer_sha256 = model.tokenizer_sha256;
  hdr.producer = kProducer;
  hdr.config_sha256 = config_sha256;
  const ImageProcessorConfig& proc = model.media.image;
  hdr.image_height = proc.height;
  hdr.image_width = proc.width;
  hdr.rescale_factor = image_processor_effective_rescale(proc);  // 1 when do_rescale is false
  hdr.do_normalize = proc.do_normalize ? 1 : 0;
  hdr.image_mean = {proc.mean[0], proc.mean[1], proc.mean[2]};
  hdr.image_std = {proc.std[0], proc.std[1], proc.std[2]};
  hdr.image_deflate_level = s.image_deflate_level;
  return hdr;
}

}  // namespace

PreprocessSummary preprocess_run(const PreprocessSettings& s, const Config& cfg, MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const bool root = rank == 0;
  OT_REQUIRE(s.samples_per_shard > 0, "preprocess.samples_per_shard must be positive");
  OT_REQUIRE(s.max_length > 0, "preprocess.max_length must be positive");
  auto t0 = std::chrono::steady_clock::now();
  const ModelInfo model = read_model(s);
  SentencePiece sp(model.tokenizer_path);
  GemmaChatTemplate tpl(sp, {model.image_tokens, model.audio_tokens});
  const fs::path out_dir = fs::path(s.output_dir) / s.split;
  if (root) fs::create_directories(out_dir);
  MPI_Barrier(comm);

  // 1. Rows. Parquet knows its row count up front, which decides the shards before reading bytes.
  int64_t n_rows_hint = -1;
  if (fs::path(s.input).extension() == ".parquet") n_rows_hint = parquet::ParquetFile::open(s.input).num_rows();
  const int64_t S = s.samples_per_shard;
  auto mine = [&](int64_t row) { return n_rows_hint < 0 || (row / S) % size == rank; };
  SourceTable table = load_source(s, mine);
  const int64_t n_rows = static_cast<int64_t>(table.rows.size());
  const int64_t n_shards = std::max<int64_t>(1, (n_rows + S - 1) / S);
  auto owner = [&](int64_t shard) { return static_cast<int>(shard % size); };
  if (root) OT_LOG_INFO("preprocess ", s.split, ": ", n_rows, " rows (", table.format, ") -> ", n_shards,
                        " shard(s) of up to ", S, " rows on ", size, " rank(s)");
  const std::string chash = content_hash(s, model, n_rows);
  if (model.audio_tokens == 0) {
    // Decided before any audio is read, so the reason is the same whatever the clip holds.
    for (SourceRow& r : table.rows)
      for (const MediaSource& m : r.media)
        if (r.error.empty() && m.kind == MediaKind::Audio)
          r.error = "model family " + model.family + " has no audio tower: audio items need a Gemma 3n model " +
                    "(model_type gemma3n in " + s.model_dir + "/config.json)";
  }
  // Resume: my shards that an earlier run with the same settings completed, with their records.
  std::map<int64_t, json> kept;
  std::map<int64_t, std::string> kept_sha;
  for (int64_t k = rank; k < n_shards; k += size) {
    std::string sha;
    auto rec = work_record_load_verified(out_dir / shard_name(k), chash, k, n_shards, sha);
    const int64_t r0 = k * S, r1 = std::min(n_rows, r0 + S);
    if (!rec || static_cast<int64_t>((*rec)["rows"].size()) != r1 - r0) continue;
    kept[k] = std::move(*rec);
    kept_sha[k] = sha;
  }
  const double t_load = seconds_since(t0);

  // 2. Media keys of my rows (kept shards: from their records); keep the bytes of items whose home
  //    may be mine.
  t0 = std::chrono::steady_clock::now();
  std::map<std::string, std::string> bytes_by_key;
  std::map<int64_t, json> my_entries;  // row -> {row, keys, error?}: what a work record stores
  Progress hashing{"hashing media", n_rows};
  for (SourceRow& r : table.rows) {
    const int64_t shard = r.row / S;
    if (owner(shard) != rank) continue;
    if (kept.count(shard)) {
      for (MediaSource& m : r.media) std::string().swap(m.bytes);  // embedded bytes are not needed
      continue;
    }
    json entry{{"row", r.row}};
    json keys = json::array();
    if (r.error.empty()) {
      for (MediaSource& m : r.media) {
        try {
          std::string b = media_bytes(m);
          OT_REQUIRE(!b.empty(), m.what, " is empty (0 bytes)");
          std::string key = media_key(m.kind, sha256_hex(b));
          bytes_by_key.emplace(key, std::move(b));
          std::string().swap(m.bytes);
          keys.push_back(key);
        } catch (const Error& e) {
          entry["error"] = e.what();
          break;
        }
      }
    }
    entry["keys"] = keys;
    my_entries[r.row] = entry;
    hashing.tick(r.row + 1, root);
  }
  for (const auto& [k, rec] : kept)
    for (const json& e : rec["rows"]) my_entries[e.at("row").get<int64_t>()] = e;
  json my_keys = json::array();
  for (const auto& [row, e] : my_entries) my_keys.push_back(e);
  for (const std::string& part : allgather_strings(my_keys.dump(), comm)) {
    for (const json& e : json::parse(part)) {
      SourceRow& r = table.rows.at(e["row"].get<int64_t>());
      if (e.contains("error") && r.error.empty()) r.error = e["error"].get<std::string>();
      OT_REQUIRE(e["keys"].size() <= r.media.size(), "the work record of row ", r.row, " names more media than ", s.input,
                 " has: the input changed since the earlier run; delete ", out_dir.string(), " and run again");
      size_t k = 0;
      for (const json& key : e["keys"]) r.media[k++].key = key.get<std::string>();
    }
  }
  // Homes: the shard of the first valid row using each item.
  std::map<std::string, int64_t> home;
  std::vector<std::string> home_order;  // first-use order
  for (const SourceRow& r : table.rows) {
    if (!r.error.empty()) continue;
    for (const MediaSource& m : r.media)
      if (home.emplace(m.key, r.row / S).second) home_order.push_back(m.key);
  }
  const double t_hash = seconds_since(t0);

  // 3-4. Shards are made in waves of one shard per rank (shards w*size .. w*size+size-1): decode
  //    the items homed in my shard of the wave (not kept) with threads, each image going into the
  //    shard file as soon as it and the ones before it are decoded; share the failures; then
  //    encode the rows and finish the shard. Rows only use items homed in their own or earlier
  //    shards, so after a wave every failure and slot its rows need is known. A rank holds the
  //    images its threads have in flight (and a shard's audio features), whatever the dataset size.
  const int threads = s.threads > 0 ? static_cast<int>(s.threads) : topology_from_mpi(comm).cpus;
  std::map<std::string, std::string> what_of;
  for (const SourceRow& r : table.rows)
    for (const MediaSource& m : r.media)
      if (!m.key.empty()) what_of.emplace(m.key, m.what);
  std::map<int64_t, std::vector<std::string>> homed_in;  // shard -> its items, in first-use order
  for (const std::string& key : home_order) homed_in[home[key]].push_back(key);
  int64_t my_items = 0;
  for (int64_t k = rank; k < n_shards; k += size)
    if (!kept.count(k)) my_items += static_cast<int64_t>(homed_in[k].size());
  Progress decoding{"decoding media", my_items};
  Progress writing{"writing shards", n_shards};
  int64_t decoded[2] = {0, 0}, done = 0;
  std::map<std::string, std::string> bad;
  std::map<std::string, int64_t> slot;
  std::map<std::pair<int64_t, MediaKind>, int64_t> per_shard;
  json my_stats = json::array();
  double t_decode = 0, t_images = 0, t_write = 0, t_hdf5 = 0, t_checksum = 0;  // summed over waves, for the timing line
  const int64_t n_waves = (n_shards + size - 1) / size;
  WriteBehind write_behind;  // shards go to disk as they finish and leave the page cache
  for (int64_t wave = 0; wave < n_waves; ++wave) {
    t0 = std::chrono::steady_clock::now();
    const int64_t k = wave * size + rank;  // my shard in this wave (none when k >= n_shards)
    const bool have = k < n_shards;
    const fs::path file = out_dir / shard_name(k);
    std::vector<std::string> to_decode;
    std::unique_ptr<ShardWriter> w;  // my shard, when it is made anew
    if (have && !kept.count(k)) {
      to_decode = homed_in[k];
      w = std::make_unique<ShardWriter>(file.string(), new_shard_header(s, model, chash, k, n_shards));
    }
    std::vector<ShardAudio> clips(to_decode.size());
    std::vector<int64_t> image_slot(to_decode.size(), -1);  // where the writer put each image
    std::vector<std::string> failures(to_decode.size());
    std::atomic<int64_t> done_here{0};
    InOrder in_order;
    parallel_for(static_cast<int64_t>(to_decode.size()), threads, [&](int64_t i) {
      const std::string& key = to_decode[i];
      ShardImage image;
      std::exception_ptr fatal;  // not a bad item: rethrown after this item's turn has passed
      try {
        if (kind_of(key) == MediaKind::Image) {
          image = process_image(bytes_by_key.at(key), media_key_sha(key), what_of.at(key), model.media);
          if (s.image_deflate_level > 0) shard_image_deflate(image, s.image_deflate_level);
        } else {
          clips[i] = process_audio(bytes_by_key.at(key), what_of.at(key), model.media);
        }
      } catch (const Error& e) {
        failures[i] = e.what();
      } catch (...) {
        fatal = std::current_exception();
      }
      ++done_here;
      in_order.run(i, [&] {
        if (fatal || !failures[i].empty() || kind_of(key) != MediaKind::Image) return;
        const auto tw = std::chrono::steady_clock::now();
        image_slot[i] = w->add_image(image);
        t_images += seconds_since(tw);
      });
      if (fatal) std::rethrow_exception(fatal);
    });
    done += done_here;
    decoding.tick(done, root);
    for (const std::string& key : to_decode) bytes_by_key.erase(key);
    json my_bad = json::object();
    for (size_t i = 0; i < to_decode.size(); ++i) {
      decoded[static_cast<int>(kind_of(to_decode[i]))]++;
      if (!failures[i].empty()) my_bad[to_decode[i]] = failures[i];
    }
    if (have && kept.count(k))
      for (auto& [key, why] : kept[k]["bad"].items()) my_bad[key] = why;
    size_t newly_bad = 0;
    for (const std::string& part : allgather_strings(my_bad.dump(), comm)) {
      const json parsed = json::parse(part);  // named: items() of a temporary would dangle
      for (auto& [key, why] : parsed.items()) newly_bad += bad.emplace(key, why.get<std::string>()).second ? 1 : 0;
    }
    // Rows of this wave's and later shards using a failed item are rejected for its reason (rows
    // of earlier shards cannot use it: an item is homed in the shard of its first row).
    for (int64_t row = wave * size * S; newly_bad > 0 && row < n_rows; ++row) {
      SourceRow& r = table.rows[row];
      for (const MediaSource& m : r.media)
        if (r.error.empty() && bad.count(m.key)) r.error = bad[m.key];
    }
    // Slots: the items of each kind homed in each shard of the wave, in first-use order, failures
    // excluded.
    std::map<int64_t, json> stored_in;  // shard of this wave -> the keys it stores, in slot order per kind
    for (int64_t j = wave * size; j < std::min(n_shards, (wave + 1) * size); ++j) {
      stored_in[j] = json::array();
      for (const std::string& key : homed_in[j]) {
        if (bad.count(key)) continue;
        slot[key] = per_shard[{j, kind_of(key)}]++;
        stored_in[j].push_back(key);
      }
    }
    if (have && kept.count(k))
      OT_REQUIRE(kept[k].value("media", json::array()) == stored_in[k], "the work record of ", shard_name(k),
                 " disagrees with the media its rows use now: the input changed since the earlier run; delete ",
                 out_dir.string(), " and run again");
    t_decode += seconds_since(t0);
    if (!have) continue;

    // Encode and write my shard (a kept shard: statistics from its record).
    t0 = std::chrono::steady_clock::now();
    std::map<std::string, size_t> index_of;
    for (size_t i = 0; i < to_decode.size(); ++i)
      if (failures[i].empty()) index_of[to_decode[i]] = i;
    json st{{"index", k}, {"file", shard_name(k)}, {"rejects", json::array()}, {"prompt_tokens", json::array()},
            {"answer_tokens", json::array()}, {"modes", json::object()}};
    const int64_t r0 = k * S, r1 = std::min(n_rows, r0 + S);
    const bool reused = kept.count(k) > 0;
    std::string sha;
    if (reused) {
      st = kept[k]["stats"];
      sha = kept_sha[k];
      for (const json& rj : st["rejects"])
        OT_REQUIRE(s.on_error != "fail", s.input, " row ", rj["row"].get<int64_t>(), ": ", rj["reason"].get<std::string>(),
                   " (preprocess.on_error=fail)");
    } else {
      for (const json& key_json : stored_in[k]) {
        const std::string key = key_json.get<std::string>();
        const size_t i = index_of.at(key);
        const int64_t got = kind_of(key) == MediaKind::Image ? image_slot[i] : w->add_audio(std::move(clips[i]));
        OT_CHECK(got == slot.at(key), "slot of ", key, " in ", shard_name(k));
      }
      for (int64_t row = r0; row < r1; ++row) {
        SourceRow& r = table.rows[row];
        auto reject = [&](const std::string& why) {
          OT_REQUIRE(s.on_error != "fail", s.input, " row ", row, ": ", why, " (preprocess.on_error=fail)");
          st["rejects"].push_back({{"row", row}, {"id", r.id}, {"reason", why}});
        };
        if (!r.error.empty()) {
          reject(r.error);
          continue;
        }
        ChatEncoding e;
        try {
          e = tpl.encode(r.messages, false);
        } catch (const Error& err) {
          reject(err.what());
          continue;
        }
        if (e.target_tokens == 0) {
          reject("no assistant answer to train on");
          continue;
        }
        if (static_cast<int64_t>(e.ids.size()) > s.max_length) {
          const std::string why = str_cat("over-length: ", e.ids.size(), " tokens > max_length ", s.max_length);
          OT_REQUIRE(s.overlong != "fail", s.input, " row ", row, ": ", why, " (preprocess.overlong=fail)");
          if (s.overlong == "drop" || e.prompt_tokens >= s.max_length) {
            reject(why);
            continue;
          }
          // A multi-turn conversation can have images or clips after the first answer: cutting
          // into their soft tokens would leave a sample whose media no longer match its tokens.
          bool cuts_media = false;
          for (size_t t = static_cast<size_t>(s.max_length); t < e.token_type.size() && !cuts_media; ++t)
            cuts_media = e.token_type[t] != kTokenText;
          if (cuts_media) {
            reject(why + " and truncating would cut an image or audio item after the first answer");
            continue;
          }
          e.ids.resize(s.max_length);
          e.loss_mask.resize(s.max_length);
          e.token_type.resize(s.max_length);
          st["truncated"] = st.value("truncated", 0) + 1;
        }
        ShardSample smp;
        smp.id = r.id;
        smp.case_id = r.case_id;
        smp.mode = r.mode;
        smp.source_row = row;
        for (const MediaSource& m : r.media) smp.media.push_back({m.kind, home.at(m.key), slot.at(m.key)});
        int64_t targets = 0;
        for (uint8_t l : e.loss_mask) targets += l;
        st["prompt_tokens"].push_back(e.prompt_tokens);
        st["answer_tokens"].push_back(targets);
        const std::string mode = r.mode.empty() ? "(none)" : r.mode;
        st["modes"][mode] = st["modes"].value(mode, 0) + 1;
        smp.ids = std::move(e.ids);
        smp.loss_mask = std::move(e.loss_mask);
        smp.token_type = std::move(e.token_type);
        w->add_sample(std::move(smp));
      }
      auto tw = std::chrono::steady_clock::now();
      w->finish();
      t_hdf5 += seconds_since(tw);
      tw = std::chrono::steady_clock::now();
      sha = sha256_file(file.string());
      t_checksum += seconds_since(tw);
      if (k + size < n_shards) write_behind.finished(file.string());  // my last shard: left to the kernel
      json bad_here = json::object();
      for (const std::string& key : home_order)
        if (home[key] == k && bad.count(key)) bad_here[key] = bad[key];
      json rows = json::array();
      for (int64_t row = r0; row < r1; ++row) rows.push_back(my_entries.at(row));
      work_record_write(file, {{"config_sha256", chash}, {"shard", k}, {"num_shards", n_shards}, {"shard_sha256", sha},
                               {"rows", rows}, {"media", stored_in[k]}, {"bad", bad_here}, {"stats", st}});
    }
    auto rd = ShardReader::open(file.string());
    st["reused"] = reused;
    st["samples"] = rd->header().num_samples;
    st["tokens"] = rd->header().num_tokens;
    st["images"] = rd->header().num_images;
    st["audio"] = rd->header().num_audio;
    st["bytes"] = fs::file_size(file);
    st["sha256"] = sha;
    my_stats.push_back(st);
    writing.tick(k + 1, root);
    t_write += seconds_since(t0);
  }
  if (root)
    OT_LOG_INFO("rank 0 timing: load ", t_load, " s, hash ", t_hash, " s, decode ", t_decode, " s (", decoded[0],
                " images, ", decoded[1], " audio clips, ", threads, " thread(s); image chunks written meanwhile ",
                t_images, " s), encode+write ", t_write,
                " s (HDF5 ", t_hdf5, " s, shard SHA-256 ", t_checksum, " s)");
  int64_t decoded_all[2] = {0, 0};
  MPI_Allreduce(decoded, decoded_all, 2, MPI_INT64_T, MPI_SUM, comm);

  // Rank 0: manifest, rejects, leak report. Everything else waits so the manifest is last.
  std::vector<std::string> parts = allgather_strings(my_stats.dump(), comm);
  PreprocessSummary sum;
  sum.rows = n_rows;
  sum.shards = n_shards;
  sum.images_decoded = decoded_all[0];
  sum.audio_decoded = decoded_all[1];
  std::vector<json> shards;
  for (const std::string& p : parts)
    for (const json& st : json::parse(p)) shards.push_back(st);
  std::sort(shards.begin(), shards.end(), [](const json& a, const json& b) { return a["index"] < b["index"]; });
  json rejects = json::array(), reasons = json::object(), modes = json::object();
  std::vector<int64_t> prompt_lens, answer_lens;
  json shard_list = json::array();
  for (const json& st : shards) {
    for (const json& rj : st["rejects"]) {
      rejects.push_back(rj);
      std::string reason = rj["reason"].get<std::string>();
      std::string kind = reason.substr(0, reason.find(':'));
      reasons[kind] = reasons.value(kind, 0) + 1;
    }
    for (const json& v : st["prompt_tokens"]) prompt_lens.push_back(v.get<int64_t>());
    for (const json& v : st["answer_tokens"]) answer_lens.push_back(v.get<int64_t>());
    for (auto& [m, c] : st["modes"].items()) modes[m] = modes.value(m, 0) + c.get<int64_t>();
    sum.samples += st["samples"].get<int64_t>();
    sum.tokens += st["tokens"].get<int64_t>();
    sum.images += st["images"].get<int64_t>();
    sum.audio += st["audio"].get<int64_t>();
    sum.shards_reused += st["reused"].get<bool>() ? 1 : 0;
    shard_list.push_back({{"file", st["file"]}, {"index", st["index"]}, {"samples", st["samples"]},
                          {"tokens", st["tokens"]}, {"images", st["images"]}, {"audio", st["audio"]}, {"bytes", st["bytes"]},
                          {"sha256", st["sha256"]}, {"truncated", st.value("truncated", 0)}});
  }
  sum.rejected = static_cast<int64_t>(rejects.size());
  sum.manifest = (out_dir / "manifest.json").string();
  if (root) {
    auto histogram = [](const std::vector<int64_t>& v) {
      json h = json::object();
      if (v.empty()) return h;
      std::vector<int64_t> sorted = v;
      std::sort(sorted.begin(), sorted.end());
      h["min"] = sorted.front();
      h["max"] = sorted.back();
      h["p50"] = sorted[sorted.size() / 2];
      h["p95"] = sorted[sorted.size() * 95 / 100];
      json b = json::object();
      for (int64_t x : v) {
        int64_t edge = 1;
        while (edge < x) edge *= 2;
        b["<=" + std::to_string(edge)] = b.value("<=" + std::to_string(edge), 0) + 1;
      }
      h["buckets"] = b;
      return h;
    };
    std::set<std::string> my_split_images;
    int64_t distinct_audio = 0;
    for (const auto& [key, sh] : home) {
      if (bad.count(key)) continue;
      if (kind_of(key) == MediaKind::Image) my_split_images.insert(media_key_sha(key));
      else distinct_audio++;
    }
    // Leak report: images this split shares with other splits already in output_dir.
    json leaks = json::object();
    for (const auto& entry : fs::directory_iterator(s.output_dir)) {
      const fs::path other = entry.path() / "manifest.json";
      if (!entry.is_directory() || entry.path().filename() == s.split || !fs::exists(other)) continue;
      std::ifstream in(other);
      json om = json::parse(in, nullptr, false);
      if (!om.is_object() || !om.contains("image_sha256")) continue;
      int64_t shared = 0;
      for (const json& h : om["image_sha256"]) shared += my_split_images.count(h.get<std::string>());
      if (shared > 0) {
        leaks[entry.path().filename().string()] = shared;
        OT_LOG_WARN("split '", s.split, "' shares ", shared, " image(s) with split '", entry.path().filename().string(),
                    "': an evaluation on one of them sees images trained on in the other");
      }
    }
    json manifest{{"schema_version", kShardSchemaVersion},
                  {"producer", kProducer},
                  {"split", s.split},
                  {"format", table.format},
                  {"input", s.input},
                  {"model_family", model.family},
                  {"tokenizer_sha256", model.tokenizer_sha256},
                  {"config_sha256", chash},
                  {"config", cfg.to_json()},
                  {"image", {{"height", model.media.image.height}, {"width", model.media.image.width},
                             {"tokens_per_image", model.image_tokens}, {"rescale_factor", image_processor_effective_rescale(model.media.image)},
                             {"do_normalize", model.media.image.do_normalize},
                             {"mean", model.media.image.mean}, {"std", model.media.image.std}}},
                  {"counts", {{"rows", n_rows}, {"samples", sum.samples}, {"rejected", sum.rejected},
                              {"tokens", sum.tokens}, {"distinct_images", static_cast<int64_t>(my_split_images.size())},
                              {"distinct_audio", distinct_audio}, {"shards", n_shards}}},
                  {"rejects_by_reason", reasons},
                  {"samples_by_mode", modes},
                  {"prompt_tokens", histogram(prompt_lens)},
                  {"answer_tokens", histogram(answer_lens)},
                  {"shared_images_with_other_splits", leaks},
                  {"shards", shard_list},
                  {"image_sha256", std::vector<std::string>(my_split_images.begin(), my_split_images.end())}};
    if (model.audio_tokens > 0) {
      const AudioFeatureConfig& a = model.media.audio;
      manifest["audio"] = {{"tokens_per_clip", model.audio_tokens}, {"sample_rate", a.sample_rate},
                           {"mel_bins", a.mel_bins}, {"hop_length", a.hop_length}, {"max_samples", a.max_samples}};
    }
    std::ofstream rj(out_dir / "rejects.jsonl.tmp");
    for (const json& r : rejects) rj << r.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    rj.close();
    fs::rename(out_dir / "rejects.jsonl.tmp", out_dir / "rejects.jsonl");
    // Shards (and work records) of an earlier run with more shards would look like part of this
    // one, and temporaries of a killed run are garbage (every rank is done writing): remove them.
    for (const auto& e : fs::directory_iterator(out_dir)) {
      const std::string name = e.path().filename().string();
      const bool ours = name.rfind("shard-", 0) == 0 && name.size() >= 14 && name.find_first_not_of("0123456789", 6) == 11;
      if (!ours) continue;
      const std::string rest = name.substr(11);
      const bool stale = (rest == ".h5" || rest == ".work.json") && std::stoll(name.substr(6, 5)) >= n_shards;
      if (stale || rest.find(".tmp") != std::string::npos) fs::remove(e.path());
    }
    write_text_file_atomic((out_dir / "manifest.json").string(),
                           manifest.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    OT_LOG_INFO("preprocess ", s.split, ": ", sum.samples, " samples (", sum.rejected, " rejected), ", sum.images,
                " distinct images, ", sum.audio, " distinct audio clips, ", sum.tokens, " tokens in ", n_shards,
                " shard(s) (", sum.shards_reused, " reused); decoded ", sum.images_decoded, " image(s) and ",
                sum.audio_decoded, " audio clip(s) -> ", sum.manifest);
  }
  MPI_Barrier(comm);
  return sum;
}

}  // namespace omnitune
