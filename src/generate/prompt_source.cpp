// Reading generation inputs. Shard metadata and tokens come from ShardReader (no pixels are read
// while listing); pixels come from ShardDataset, the trainer's loader, so an image is normalised
// exactly as in training.
#include "generate/prompt_source.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "core/sha256.h"
#include "data/loader.h"
#include "data/shard_format.h"

namespace fs = std::filesystem;

namespace omnitune {
namespace {

// The text of the last user turn of a prompt: the text tokens between the last <start_of_turn>
// before the prompt's last <end_of_turn> and that <end_of_turn>, minus the role line.
std::string question_of(const std::vector<int32_t>& ids, const std::vector<uint8_t>& types, const SentencePiece& sp,
                        const GemmaChatTemplate& tpl) {
  const int32_t sot = sp.piece_to_id("<start_of_turn>"), eot = tpl.end_of_turn_id();
  const int32_t boi = sp.piece_to_id("<start_of_image>"), eoi = sp.piece_to_id("<end_of_image>");
  int64_t end = static_cast<int64_t>(ids.size()) - 1;
  while (end >= 0 && ids[end] != eot) --end;
  if (end < 0) return "";
  int64_t begin = end - 1;
  while (begin >= 0 && ids[begin] != sot) --begin;
  std::vector<int32_t> text;
  for (int64_t t = begin + 1; t < end; ++t)
    if ((types.empty() || types[t] == kTokenText) && ids[t] != boi && ids[t] != eoi && ids[t] != tpl.bos_id())
      text.push_back(ids[t]);
  std::string s = sp.decode(text);
  const size_t nl = s.find('\n');  // "user\n..."
  return chat_trim(nl == std::string::npos ? s : s.substr(nl + 1));
}

std::string json_string(const nlohmann::json& j, const char* key, const std::string& where, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    OT_REQUIRE(!required, where, ": missing \"", key, "\"");
    return "";
  }
  if (j[key].is_string()) return j[key].get<std::string>();
  if (j[key].is_number_integer()) return std::to_string(j[key].get<int64_t>());
  OT_FAIL(where, ": \"", key, "\" must be a string");
}

}  // namespace

PromptSource::PromptSource(const GenerateSettings& settings, const GenerationSession& session) : session_(session) {
  const std::string& in = settings.input;
  if (fs::is_directory(in)) {
    read_shards(in);
  } else {
    OT_REQUIRE(fs::is_regular_file(in), "generate.input ", in,
               " does not exist: give a preprocessed split directory (with manifest.json) or a prompts JSONL file");
    read_jsonl(in, settings);
  }
  OT_REQUIRE(!items_.empty(), "generate.input ", in, " holds no items");
  std::set<std::string> seen;
  for (const auto& it : items_)
    OT_REQUIRE(seen.insert(it.id).second, "generate.input ", in, ": id '", it.id,
               "' appears twice (ids key the answers and the resume)");
}

PromptSource::~PromptSource() = default;

void PromptSource::read_shards(const std::string& dir) {
  kind_ = "shards";
  const SentencePiece& sp = session_.tokenizer();
  const GemmaChatTemplate& tpl = session_.chat_template();
  // Validates the manifest, the schema and that the shards were made with this model's tokenizer.
  shards_ = std::make_unique<ShardDataset>(dir, sha256_file(session_.tokenizer_path()));
  std::ifstream mf(fs::path(dir) / "manifest.json");
  const nlohmann::json m = nlohmann::json::parse(mf, nullptr, false);
  int64_t index = 0;
  for (const auto& entry : m["shards"]) {
    auto reader = ShardReader::open((fs::path(dir) / entry["file"].get<std::string>()).string());
    for (int64_t i = 0; i < reader->num_samples(); ++i, ++index) {
      ShardSample s = reader->sample(i);
      size_t first = 0;
      while (first < s.loss_mask.size() && s.loss_mask[first] == 0) ++first;
      OT_REQUIRE(first > 0 && first < s.loss_mask.size(), reader->path(), ", sample ", i, " (", s.id,
                 ") has no answer tokens: generation needs a prompt followed by an answer");
      OT_REQUIRE(s.media.empty() || session_.has_vision() || session_.has_audio(), reader->path(), ", sample ", i,
                 " (", s.id, ") has media but the model is text-only (", session_.architecture(),
                 "): use the model the shards were made for");
      PromptItem it;
      it.id = s.id;
      it.case_id = s.case_id;
      it.mode = s.mode;
      it.sample = index;
      it.ids.assign(s.ids.begin(), s.ids.begin() + first);
      it.token_type.assign(s.token_type.begin(), s.token_type.begin() + first);
      std::vector<int32_t> answer;
      for (size_t t = first; t < s.ids.size() && s.loss_mask[t]; ++t)
        if (s.ids[t] != tpl.end_of_turn_id()) answer.push_back(s.ids[t]);
      it.reference = sp.decode(answer);
      it.question = question_of(it.ids, it.token_type, sp, tpl);
      items_.push_back(std::move(it));
    }
  }
  OT_REQUIRE(index == shards_->size(), dir, ": the manifest lists ", shards_->size(), " samples but the shards hold ",
             index, " (re-run omnitune-preprocess)");
}

void PromptSource::read_jsonl(const std::string& file, const GenerateSettings& settings) {
  kind_ = "jsonl";
  const fs::path root = settings.image_root.empty() ? fs::path(file).parent_path() : fs::path(settings.image_root);
  std::ifstream in(file);
  OT_REQUIRE(in.good(), "cannot read generate.input ", file);
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = file + ":" + std::to_string(n);
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    OT_REQUIRE(j.is_object(), where, ": not a JSON object (each line: {\"id\", \"question\", \"image\", \"answer\"})");
    PromptItem it;
    it.id = json_string(j, "id", where, true);
    it.question = json_string(j, "question", where, true);
    it.reference = json_string(j, "answer", where, false);
    it.case_id = json_string(j, "case_id", where, false);
    it.mode = json_string(j, "mode", where, false);
    const std::string image = json_string(j, "image", where, false);
    if (!image.empty()) {
      fs::path p(image);
      if (p.is_relative()) p = root / p;
      OT_REQUIRE(fs::is_regular_file(p), where, ": image ", p.string(), " not found",
                 settings.image_root.empty() ? " (relative paths are resolved against the JSONL's directory; "
                                               "set generate.image_root to change that)" : "");
      it.images.push_back(p.string());
    }
    const std::string audio = json_string(j, "audio", where, false);  // Gemma 3n: a clip asked about
    if (!audio.empty()) {
      fs::path p(audio);
      if (p.is_relative()) p = root / p;
      OT_REQUIRE(fs::is_regular_file(p), where, ": audio ", p.string(), " not found");
      it.audio.push_back(p.string());
    }
    ChatEncoding e = session_.encode_prompt(settings.system, it.question, it.images, it.audio);
    it.ids = std::move(e.ids);
    it.token_type = std::move(e.token_type);
    items_.push_back(std::move(it));
  }
}

PromptTokens PromptSource::prompt(const PromptItem& item) const {
  PromptTokens p{item.ids, item.token_type, {}, {}};
  if (item.sample >= 0) {
    shards_->sample(item.sample, &p.pixels, &p.audio);
  } else {
    std::vector<at::Tensor> imgs;
    for (const auto& f : item.images) imgs.push_back(session_.load_image(f));
    if (!imgs.empty()) p.pixels = at::stack(imgs);
    for (const auto& f : item.audio) p.audio.push_back(session_.load_audio(f));
  }
  return p;
}

}  // namespace omnitune
