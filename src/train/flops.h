// Model FLOPs of a training step, for MFU (PaLM appendix B / llm.c convention): 6 x matmul
// parameters x tokens for the language model (forward 2, backward 4: 2 for activation gradients,
// 2 for weight gradients, which frozen LoRA base weights skip: 4x then; activation recompute is not
// counted: MFU measures model work, not hardware work), plus attention scores and values,
// 12 x (heads x head_dim) x (query, key) pairs per layer, counted per sequence (causal: query i
// sees i keys, a sliding layer at most its window; the bidirectional image-token blocks are
// counted as causal), plus the vision tower per image (2x its parameters x patches when frozen, 6x
// when trained). Gemma 3n: the decoder's matmuls (per-layer widths, K/V only on layers that own
// them, Laurel, per-layer-input gate and projection, AltUp projections, PLE projection) and
// attention; its MobileNetV5 and Conformer towers are not counted (MFU of 3n runs is a lower bound).
#pragma once

#include <cstdint>

#include "model/gemma3_config.h"
#include "model/gemma3n_config.h"

namespace omnitune {

struct StepShape {
  int64_t tokens = 0;       // real (unpadded) input tokens in the global batch
  int64_t sequences = 0;    // samples in the global batch
  int64_t images = 0;       // images in the global batch
  bool vision_trained = false;
  bool lm_weights_trained = true;  // false under LoRA: frozen base weights need no weight gradients (4x, not 6x)
  // Causal (query, key) pairs summed over the global batch's sequences, for full-attention and for
  // sliding layers (causal_attention_pairs). Negative: estimated from tokens / sequences as if all
  // sequences had the average length (which undercounts a batch of mixed lengths).
  double pairs_global = -1, pairs_sliding = -1;
};

// (query, key) pairs of one causal sequence of `length` tokens where each query sees at most
// `window` keys (itself included); window <= 0 = unlimited.
double causal_attention_pairs(int64_t length, int64_t window);

double train_step_flops(const Gemma3Config& cfg, const StepShape& s);
double train_step_flops(const Gemma3nConfig& cfg, const StepShape& s);

// A matmul probe: achieved FLOP/s of this process for [n x n] x [n x n] in `dtype` (the CPU
// "peak" MFU is measured against, as bench/ does; ~0.2 s).
double measure_matmul_flops(at::ScalarType dtype, int64_t n = 512);

// Peak resident set size of this process in bytes (getrusage).
int64_t peak_rss_bytes();

}  // namespace omnitune
