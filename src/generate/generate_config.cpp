// Schema entries and typed settings of batch generation (one place for names, defaults, docs).
#include "generate/generate_config.h"

#include "core/error.h"

namespace omnitune {

void register_generate_config(ConfigSchema& s) {
  // model.path has the trainer's name and doc (one reference table for both tools).
  s.add({"model.path", ConfigType::String, "''",
         "Hugging Face model directory (config.json, *.safetensors, tokenizer.model)", {}});
  s.add({"generate.input", ConfigType::String, "''",
         "what to answer: a preprocessed split directory (manifest.json of omnitune-preprocess) or a JSONL "
         "file of {\"id\", \"question\", \"image\", \"answer\" (optional), \"case_id\", \"mode\"} lines", {}});
  s.add({"generate.output", ConfigType::String, "''",
         "answers as one JSONL in input order; per-rank part files in <output>.parts/ (a rerun skips what "
         "they hold), the evaluation in <output>.eval.json", {}});
  s.add({"generate.adapter", ConfigType::String, "''",
         "PEFT LoRA adapter directory applied on model.path (omnitune-export peft, or HF PEFT); '' = none", {}});
  s.add({"generate.tokenizer", ConfigType::String, "''", "tokenizer.model to use; '' = the model directory's", {}});
  s.add({"generate.max_new_tokens", ConfigType::Int, "128", "new tokens per answer at most (the stop token included)", {}});
  s.add({"generate.batch_size", ConfigType::Int, "8",
         "prompts per forward pass on one rank; prompts are sorted by length first so a batch pads little", {}});
  s.add({"generate.greedy", ConfigType::Bool, "true", "argmax decoding; false = sampling with the keys below", {}});
  s.add({"generate.temperature", ConfigType::Float, "1.0", "sampling temperature (> 0)", {}});
  s.add({"generate.top_k", ConfigType::Int, "64", "sampling: keep the k best tokens; <= 0 = off", {}});
  s.add({"generate.top_p", ConfigType::Float, "0.95", "sampling: nucleus probability mass; >= 1 = off", {}});
  s.add({"generate.seed", ConfigType::Int, "0",
         "sampling seed; batch b uses seed + b, so answers do not depend on the number of ranks", {}});
  s.add({"generate.system", ConfigType::String, "''",
         "system prompt for JSONL input (shards already hold their whole prompt)", {}});
  s.add({"generate.image_root", ConfigType::String, "''",
         "directory that relative image paths of a JSONL input are resolved against; '' = the JSONL's directory", {}});
  s.add({"generate.dtype", ConfigType::String, "auto", "weights and activations: auto = config.json torch_dtype",
         {"auto", "float32", "bfloat16"}});
  s.add({"generate.attention", ConfigType::String, "auto",
         "attention kernel; auto = sdpa where this LibTorch has it, else chunked (the model's log line names it)",
         {"auto", "reference", "chunked", "sdpa"}});
  s.add({"generate.evaluate", ConfigType::Bool, "true",
         "score the answers against the references (exact match, token F1, BLEU-4, ROUGE-L; overall and per "
         "mode) into <output>.eval.json", {}});
}

GenerateSettings generate_settings_from(const Config& c) {
  GenerateSettings g;
  g.model_path = c.get_string("model.path");
  g.adapter = c.get_string("generate.adapter");
  g.tokenizer = c.get_string("generate.tokenizer");
  g.input = c.get_string("generate.input");
  g.output = c.get_string("generate.output");
  g.image_root = c.get_string("generate.image_root");
  g.system = c.get_string("generate.system");
  g.dtype = c.get_string("generate.dtype");
  g.attention = c.get_string("generate.attention");
  g.max_new_tokens = c.get_int("generate.max_new_tokens");
  g.batch_size = c.get_int("generate.batch_size");
  g.sampling.greedy = c.get_bool("generate.greedy");
  g.sampling.temperature = c.get_float("generate.temperature");
  g.sampling.top_k = c.get_int("generate.top_k");
  g.sampling.top_p = c.get_float("generate.top_p");
  const int64_t seed = c.get_int("generate.seed");
  g.evaluate = c.get_bool("generate.evaluate");
  OT_REQUIRE(!g.model_path.empty(), "model.path is not set: give the Hugging Face model directory (--model.path DIR)");
  OT_REQUIRE(!g.input.empty(), "generate.input is not set: give a preprocessed split directory or a prompts JSONL");
  OT_REQUIRE(!g.output.empty(), "generate.output is not set: give the answers JSONL to write");
  OT_REQUIRE(g.max_new_tokens > 0, "generate.max_new_tokens must be > 0, not ", g.max_new_tokens);
  OT_REQUIRE(g.batch_size > 0, "generate.batch_size must be > 0, not ", g.batch_size);
  OT_REQUIRE(g.sampling.temperature > 0, "generate.temperature must be > 0 (set generate.greedy true for argmax)");
  OT_REQUIRE(seed >= 0, "generate.seed must be >= 0, not ", seed);
  g.sampling.seed = static_cast<uint64_t>(seed);
  return g;
}

}  // namespace omnitune
