// The preset configs. Presets follow gemma-spec A.1 / B.1 (4b: hidden 2560, 34 layers, vocab 262208,
// SigLIP 27 layers); tiny ones keep every part of the real architecture at a few thousand weights.
#include "model/gemma3_presets.h"

#include "core/error.h"

namespace omnitune {

std::string gemma3_preset_config_json(const std::string& p) {
  if (p == "4b")
    return R"({"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","torch_dtype":"bfloat16",
      "text_config":{"model_type":"gemma3_text","hidden_size":2560,"intermediate_size":10240,"num_hidden_layers":34,
      "num_attention_heads":8,"num_key_value_heads":4,"head_dim":256,"sliding_window":1024,
      "rope_scaling":{"factor":8.0,"rope_type":"linear"}},
      "vision_config":{"model_type":"siglip_vision_model","hidden_size":1152,"image_size":896,"intermediate_size":4304,
      "num_attention_heads":16,"num_hidden_layers":27,"patch_size":14,"vision_use_head":false},
      "mm_tokens_per_image":256,"eos_token_id":[1,106]})";
  if (p == "1b")
    return R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","torch_dtype":"bfloat16",
      "hidden_size":1152,"intermediate_size":6912,"num_hidden_layers":26,"num_attention_heads":4,"num_key_value_heads":1,
      "head_dim":256,"sliding_window":512,"vocab_size":262144,"max_position_embeddings":32768})";
  if (p == "bench-1024")
    return R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","torch_dtype":"float32",
      "hidden_size":1024,"intermediate_size":4096,"num_hidden_layers":4,"num_attention_heads":8,"num_key_value_heads":4,
      "head_dim":128,"sliding_window":512,"vocab_size":8192,"query_pre_attn_scalar":128})";
  if (p == "tiny")
    return R"({"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text","torch_dtype":"float32",
      "hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
      "head_dim":16,"sliding_window":8,"vocab_size":512,"query_pre_attn_scalar":16})";
  // A tiny vision-language model with every part of the real one (SigLIP, projector pooling,
  // sliding and global layers) at a size that trains in seconds on a CPU.
  if (p == "tiny-vlm")
    return R"({"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","torch_dtype":"float32",
      "text_config":{"model_type":"gemma3_text","hidden_size":64,"intermediate_size":128,"num_hidden_layers":4,
      "num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,"sliding_window":16,"sliding_window_pattern":2,
      "vocab_size":512,"query_pre_attn_scalar":16,"rope_scaling":{"factor":8.0,"rope_type":"linear"}},
      "vision_config":{"model_type":"siglip_vision_model","hidden_size":32,"intermediate_size":64,"num_hidden_layers":2,
      "num_attention_heads":4,"image_size":64,"patch_size":8,"vision_use_head":false},
      "mm_tokens_per_image":16,"boi_token_index":255999,"eoi_token_index":256000,"image_token_index":262144,
      "eos_token_id":[1,106]})";
  // A ~30M-parameter VLM: mid-size for CPU benchmarks of the trainer (bench/train_bench.sh).
  if (p == "small-vlm")
    return R"({"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","torch_dtype":"float32",
      "text_config":{"model_type":"gemma3_text","hidden_size":512,"intermediate_size":2048,"num_hidden_layers":8,
      "num_attention_heads":8,"num_key_value_heads":4,"head_dim":64,"sliding_window":64,"sliding_window_pattern":4,
      "vocab_size":512,"query_pre_attn_scalar":64,"rope_scaling":{"factor":8.0,"rope_type":"linear"}},
      "vision_config":{"model_type":"siglip_vision_model","hidden_size":256,"intermediate_size":1024,"num_hidden_layers":4,
      "num_attention_heads":4,"image_size":64,"patch_size":8,"vision_use_head":false},
      "mm_tokens_per_image":16,"boi_token_index":255999,"eoi_token_index":256000,"image_token_index":262144,
      "eos_token_id":[1,106]})";
  OT_FAIL("unknown preset '", p, "': use 4b, 1b, bench-1024, tiny, tiny-vlm or small-vlm");
}


}  // namespace omnitune
