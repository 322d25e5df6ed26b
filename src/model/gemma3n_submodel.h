// MatFormer sub-model extraction for Gemma 3n (gemma-spec D.5): slices a checkpoint into a smaller
// one by keeping the first I'_l rows of each layer's gate/up projections and the first I'_l columns
// of its down projection, and optionally dropping whole layers (their per-layer-embedding slices
// too). The result is an ordinary Hugging Face directory (config.json edited, side files copied)
// that omnitune loads and runs. What is verified: widths-only slicing equals the original model
// with the dropped MLP units removed (exactly, on layers without activation sparsity: sparsity
// statistics are taken over the kept units); the output loads and runs. Not verified: that the
// `e2b` preset reproduces Google's released E2B weights.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace omnitune {

struct Gemma3nSubmodelSpec {
  std::vector<int64_t> ffn;          // MLP width per kept layer; one value = every kept layer; empty = unchanged
  std::vector<int64_t> skip_layers;  // layer indices of the input model to drop
  std::string preset;                // "e2b" when parsed from the preset (checked against the input)
};

// "e2b" (from an E4B checkpoint: MLP width 8192, KV-shared layers 20-24 dropped -> 30 layers, 10
// KV-shared, the E2B shape) or "ffn=W[,W...];skip=i[,i...]" (either part optional).
Gemma3nSubmodelSpec gemma3n_submodel_spec_parse(const std::string& text);

struct Gemma3nSubmodelReport {
  int64_t layers_in = 0, layers_out = 0;
  int64_t bytes_in = 0, bytes_out = 0;  // tensor payload
};

// Reads the Gemma 3n checkpoint in `in_dir`, writes the sub-model to `out_dir` (created).
Gemma3nSubmodelReport gemma3n_extract_submodel(const std::string& in_dir, const std::string& out_dir,
                                               const Gemma3nSubmodelSpec& spec, int64_t max_shard_bytes);

}  // namespace omnitune
