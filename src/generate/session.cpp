// GenerationSession: model loading (base checkpoint, then the adapter's LoRA weights), prompt
// encoding, image loading and batched generation, shared by both front ends of omnitune-generate.
#include "generate/session.h"

#include <ATen/core/grad_mode.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "data/loader.h"
#include "media/image_decode.h"
#include "media/image_resize.h"
#include "model/hf_config_json.h"
#include "model/hf_loader.h"
#include "model/peft_adapter.h"

namespace omnitune {
namespace {

at::ScalarType pick_dtype(const std::string& setting, const std::string& model_dir) {
  if (setting == "float32") return at::kFloat;
  if (setting == "bfloat16") return at::kBFloat16;
  OT_REQUIRE(setting == "auto", "dtype must be auto, float32 or bfloat16, not '", setting, "'");
  std::ifstream in(model_dir + "/config.json");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  std::string td = j.is_object() ? j.value("torch_dtype", std::string("bfloat16")) : "bfloat16";
  return td == "float32" ? at::kFloat : at::kBFloat16;
}

}  // namespace

GenerationSession::GenerationSession(const SessionOptions& opt)
    : model_dir_(opt.model_dir), device_(opt.device) {
  OT_REQUIRE(!opt.model_dir.empty(), "no model directory given");
  auto t0 = std::chrono::steady_clock::now();
  const bool gemma3n = hf_config_model_type(opt.model_dir) == "gemma3n";
  // With an adapter: LoRA layers where its target_modules say, weights from the adapter directory.
  std::optional<PeftAdapter> adapter;
  if (!opt.adapter_dir.empty()) adapter = peft_adapter_load(opt.adapter_dir);
  const LinearFactory factory =
      adapter ? peft_adapter_factory(*adapter, dense_linear_factory()) : dense_linear_factory();
  HfLoadOptions lo;
  lo.dtype = dtype_ = pick_dtype(opt.dtype, opt.model_dir);
  lo.device = opt.device;
  ParamList params;
  std::string describe_model;
  int64_t image_tokens = 0, audio_tokens = 0;
  if (gemma3n) {
    model3n_ = gemma3n_model_for_checkpoint(opt.model_dir, factory);
    cfg3n_ = model3n_->config();
    model3n_->attention_impl = attention_resolve(attention_impl_from_string(opt.attention));
    params = model3n_->params();
    const Gemma3nModel* m = model3n_.get();
    lo.known_unused = [m](const std::string& n) { return m->unused_checkpoint_tensor(n); };
    describe_model = gemma3n_config_describe(cfg3n_) + "; attention " + attention_impl_name(model3n_->attention_impl);
    architecture_ = "Gemma3nForConditionalGeneration";
    image_tokens = model3n_->vision() ? cfg3n_.vision_soft_tokens_per_image : 0;
    audio_tokens = cfg3n_.audio_soft_tokens_per_image;
    stop_ids_ = {cfg3n_.text.eos_token_id};
  } else {
    cfg_ = gemma3_config_load(opt.model_dir);
    model_ = std::make_unique<Gemma3Model>(cfg_, factory);
    model_->attention_impl = attention_resolve(attention_impl_from_string(opt.attention));
    params = model_->params();
    describe_model = gemma3_config_describe(cfg_) + "; attention " + attention_impl_name(model_->attention_impl);
    architecture_ = cfg_.architecture;
    image_tokens = cfg_.has_vision ? cfg_.mm_tokens_per_image : 0;
    stop_ids_ = cfg_.eos_token_ids;
  }
  ParamList base;
  for (auto& p : params)
    if (!is_lora_param(p.name)) base.push_back(p);
  HfLoadReport rep = hf_load_checkpoint(opt.model_dir, base, lo);
  if (adapter) {
    peft_adapter_load_weights(*adapter, params, lo.dtype);
    for (auto& p : params)  // adapter weights are read on the CPU
      if (is_lora_param(p.name) && p.tensor->defined() && p.tensor->device() != opt.device)
        *p.tensor = p.tensor->to(opt.device);
    OT_LOG_INFO("LoRA adapter ", opt.adapter_dir, " (r ", adapter->lora.rank, ", alpha ", adapter->lora.alpha, ")");
  }
  tokenizer_path_ = opt.tokenizer_path.empty() ? opt.model_dir + "/tokenizer.model" : opt.tokenizer_path;
  sp_ = std::make_unique<SentencePiece>(tokenizer_path_);
  tpl_ = std::make_unique<GemmaChatTemplate>(*sp_, ChatTemplateOptions{image_tokens, audio_tokens});
  stop_ids_.push_back(tpl_->end_of_turn_id());
  pad_id_ = sp_->pad_id() >= 0 ? sp_->pad_id() : 0;
  description_ = str_cat(describe_model, "; ", rep.tensors, " tensors loaded in ",
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), " s");
}

bool GenerationSession::has_vision() const {
  return model3n_ ? model3n_->vision() != nullptr : cfg_.has_vision;
}

ChatEncoding GenerationSession::encode_prompt(const std::string& system, const std::string& text,
                                              const std::vector<std::string>& image_files,
                                              const std::vector<std::string>& audio_files) const {
  OT_REQUIRE(image_files.empty() || has_vision(), model_dir_, " is a text-only model (", architecture_,
             "): it cannot take --image");
  OT_REQUIRE(audio_files.empty() || has_audio(), model_dir_, " has no audio tower (", architecture_,
             "): --audio needs a Gemma 3n model");
  std::vector<ChatMessage> msgs;
  if (!system.empty()) msgs.push_back({"system", {{ChatItem::Kind::Text, system}}});
  ChatMessage user{"user", {}};
  for (const auto& img : image_files) user.content.push_back({ChatItem::Kind::Image, img});
  for (const auto& clip : audio_files) user.content.push_back({ChatItem::Kind::Audio, clip});
  user.content.push_back({ChatItem::Kind::Text, text});
  msgs.push_back(user);
  return tpl_->encode(msgs, true);
}

ShardAudio GenerationSession::load_audio(const std::string& path) const {
  OT_REQUIRE(has_audio(), model_dir_, " has no audio tower (", architecture_, "): it cannot take audio");
  if (!audio_cfg_) audio_cfg_ = audio_feature_config_load(model_dir_);
  AudioFeatures f = audio_clip_features(decode_audio_file(path), path, *audio_cfg_);
  return ShardAudio{f.frames, f.bins, std::move(f.values)};
}

at::Tensor GenerationSession::load_image(const std::string& path) const {
  OT_REQUIRE(has_vision(), model_dir_, " is a text-only model (", architecture_, "): it cannot take images");
  // Full-size decode (no DCT scaling) so pixels match Pillow, the HF processor's backend; gray
  // sources are resized single-channel and widened afterwards (the same bytes, a third the work).
  Image img = decode_image_file(path, DecodeOptions{});
  if (!processor_) processor_ = image_processor_load(model_dir_);
  const ImageProcessorConfig& pc = *processor_;
  if (img.width != pc.width || img.height != pc.height) img = resize_bilinear(img, pc.width, pc.height);
  img = to_rgb(img);
  std::vector<float> chw = image_processor_normalize(img.pixels.data(), img.width, img.height, pc);
  return at::from_blob(chw.data(), {3, pc.height, pc.width}, at::kFloat).clone();
}

std::vector<Answer> GenerationSession::generate(const std::vector<PromptTokens>& prompts, int64_t max_new_tokens,
                                                const SamplingOptions& sampling, BatchTiming* timing) const {
  OT_CHECK(!prompts.empty(), "generate: empty batch");
  const int64_t B = static_cast<int64_t>(prompts.size());
  int64_t T = 0;
  for (const auto& p : prompts) T = std::max<int64_t>(T, static_cast<int64_t>(p.ids.size()));
  // Left padding (HF generate()): every row's last prompt token sits at column T-1.
  at::Tensor ids = at::full({B, T}, pad_id_, at::kLong);
  at::Tensor mask = at::zeros({B, T}, at::kLong), types = at::zeros({B, T}, at::kLong);
  std::vector<at::Tensor> pixels;
  auto ids_a = ids.accessor<int64_t, 2>(), mask_a = mask.accessor<int64_t, 2>(), types_a = types.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[b];
    const int64_t n = static_cast<int64_t>(p.ids.size()), off = T - n;
    for (int64_t t = 0; t < n; ++t) {
      ids_a[b][off + t] = p.ids[t];
      mask_a[b][off + t] = 1;
      types_a[b][off + t] = t < static_cast<int64_t>(p.token_type.size()) ? p.token_type[t] : 0;
    }
    if (p.pixels.defined()) pixels.push_back(p.pixels.dim() == 3 ? p.pixels.unsqueeze(0) : p.pixels);
  }
  GenerateRequest req;
  req.input_ids = ids.to(device_);
  req.attention_mask = mask.to(device_);
  if (!pixels.empty()) {
    req.pixel_values = at::cat(pixels).to(device_, dtype_);
    req.token_type_ids = types.to(device_);
  }
  // Audio clips (batch-major, prompt order) zero-padded to the longest, padding frames flagged.
  std::vector<ShardAudio> clips;
  for (const auto& p : prompts) clips.insert(clips.end(), p.audio.begin(), p.audio.end());
  if (!clips.empty()) {
    OT_REQUIRE(model3n_, model_dir_, " has no audio tower: prompts with audio need a Gemma 3n model");
    at::Tensor feats, pad;
    collate_audio(clips, clips[0].bins, feats, pad);
    req.audio_features = feats.to(device_, dtype_);
    req.audio_pad = pad.to(device_);
  }
  req.max_new_tokens = max_new_tokens;
  req.stop_ids = stop_ids_;
  req.pad_id = pad_id_;
  at::NoGradGuard no_grad;
  GenerateResult g = model3n_ ? omnitune::generate(*model3n_, req, sampling) : omnitune::generate(*model_, req, sampling);

  at::Tensor tokens = g.tokens.to(at::kCPU);
  auto tok = tokens.accessor<int64_t, 2>();
  std::vector<Answer> out(B);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int32_t> answer;
    for (int64_t t = 0; t < g.lengths[b]; ++t) {
      const int64_t id = tok[b][t];
      bool stop = false;
      for (int64_t s : stop_ids_) stop = stop || s == id;
      if (!stop) answer.push_back(static_cast<int32_t>(id));
    }
    out[b].text = sp_->decode(answer);
    out[b].new_tokens = g.lengths[b];
  }
  if (timing) {
    timing->prefill_tokens += g.prefill_tokens;
    timing->prefill_seconds += g.prefill_seconds;
    timing->decode_seconds += g.decode_seconds;
    for (auto l : g.lengths) timing->new_tokens += l;
  }
  return out;
}

}  // namespace omnitune
