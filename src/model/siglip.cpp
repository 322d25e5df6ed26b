// SigLIP and projector math. The patch sequence is row-major over the patch grid, which the
// projector's pooling relies on.
#include "model/siglip.h"

#include <cmath>

#include "core/error.h"

namespace omnitune {

at::Tensor SiglipEncoderLayer::forward(const at::Tensor& h_in, AttentionImpl impl) const {
  const int64_t N = h_in.size(0), P = h_in.size(1);
  at::Tensor x = layer_norm1.forward(h_in);
  at::Tensor q = q_proj->forward(x).view({N, P, -1, head_dim}).transpose(1, 2);
  at::Tensor k = k_proj->forward(x).view({N, P, -1, head_dim}).transpose(1, 2);
  at::Tensor v = v_proj->forward(x).view({N, P, -1, head_dim}).transpose(1, 2);
  at::Tensor a = attention(q, k, v, at::Tensor(), 1.0 / std::sqrt(double(head_dim)), impl);  // bidirectional
  at::Tensor h = h_in + out_proj->forward(a.transpose(1, 2).reshape({N, P, -1}));
  at::Tensor m = fc2->forward(at::gelu(fc1->forward(layer_norm2.forward(h)), "tanh"));
  return h + m;
}

void SiglipEncoderLayer::collect_params(ParamList& out) {
  layer_norm1.collect_params(out);
  for (auto* l : {q_proj.get(), k_proj.get(), v_proj.get(), out_proj.get()}) l->collect_params(out);
  layer_norm2.collect_params(out);
  fc1->collect_params(out);
  fc2->collect_params(out);
}

SiglipVisionModel::SiglipVisionModel(const SiglipVisionConfig& cfg, const std::string& prefix,
                                     const LinearFactory& make_linear)
    : cfg_(cfg), prefix_(prefix) {
  OT_REQUIRE(cfg.hidden_act == "gelu_pytorch_tanh", "SigLIP hidden_act '", cfg.hidden_act,
             "' is not supported (Gemma 3 uses gelu_pytorch_tanh)");
  const int64_t C = cfg.hidden_size;
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) {
    auto L = std::make_unique<SiglipEncoderLayer>();
    L->name = prefix + ".encoder.layers." + std::to_string(i);
    L->layer_norm1 = LayerNorm{L->name + ".layer_norm1", C, cfg.layer_norm_eps, {}, {}};
    L->layer_norm2 = LayerNorm{L->name + ".layer_norm2", C, cfg.layer_norm_eps, {}, {}};
    const std::string a = L->name + ".self_attn";
    L->q_proj = make_linear({a + ".q_proj", C, C, true});
    L->k_proj = make_linear({a + ".k_proj", C, C, true});
    L->v_proj = make_linear({a + ".v_proj", C, C, true});
    L->out_proj = make_linear({a + ".out_proj", C, C, true});
    L->fc1 = make_linear({L->name + ".mlp.fc1", C, cfg.intermediate_size, true});
    L->fc2 = make_linear({L->name + ".mlp.fc2", cfg.intermediate_size, C, true});
    L->head_dim = C / cfg.num_attention_heads;
    layers_.push_back(std::move(L));
  }
  post_layernorm = LayerNorm{prefix + ".post_layernorm", C, cfg.layer_norm_eps, {}, {}};
}

at::Tensor SiglipVisionModel::forward(const at::Tensor& pixel_values, AttentionImpl impl) const {
  OT_REQUIRE(pixel_values.dim() == 4 && pixel_values.size(1) == cfg_.num_channels &&
                 pixel_values.size(2) == cfg_.image_size && pixel_values.size(3) == cfg_.image_size,
             "pixel_values must be [N, ", cfg_.num_channels, ", ", cfg_.image_size, ", ", cfg_.image_size,
             "] for this model, got ", pixel_values.sizes());
  at::Tensor x = pixel_values.to(patch_weight.scalar_type());
  x = at::conv2d(x, patch_weight, patch_bias, {cfg_.patch_size, cfg_.patch_size});  // [N, C, g, g]
  x = x.flatten(2).transpose(1, 2);                                                  // [N, g*g, C]
  x = x + position_embedding.unsqueeze(0);
  for (const auto& L : layers_) x = L->forward(x, impl);
  return post_layernorm.forward(x);
}

void SiglipVisionModel::collect_params(ParamList& out) {
  const int64_t C = cfg_.hidden_size, p = cfg_.patch_size;
  out.push_back({prefix_ + ".embeddings.patch_embedding.weight", &patch_weight, {C, cfg_.num_channels, p, p}});
  out.push_back({prefix_ + ".embeddings.patch_embedding.bias", &patch_bias, {C}});
  out.push_back({prefix_ + ".embeddings.position_embedding.weight", &position_embedding, {cfg_.num_patches(), C}});
  for (auto& L : layers_) L->collect_params(out);
  post_layernorm.collect_params(out);
}

at::Tensor Gemma3Projector::forward(const at::Tensor& vision) const {
  const int64_t N = vision.size(0), P = vision.size(1), C = vision.size(2);
  const int64_t side = static_cast<int64_t>(std::llround(std::sqrt(double(P))));
  const int64_t out_side = static_cast<int64_t>(std::llround(std::sqrt(double(tokens_per_image))));
  const int64_t kernel = side / out_side;
  at::Tensor x = vision.transpose(1, 2).reshape({N, C, side, side});
  x = at::avg_pool2d(x, {kernel, kernel}, {kernel, kernel});
  x = x.flatten(2).transpose(1, 2);  // [N, tokens, C]
  x = mm_soft_emb_norm.forward(x);
  return at::matmul(x, mm_input_projection_weight).to(vision.scalar_type());
}

void Gemma3Projector::collect_params(ParamList& out) {
  out.push_back({name + ".mm_input_projection_weight", &mm_input_projection_weight, {vision_hidden, text_hidden}});
  mm_soft_emb_norm.collect_params(out);
}

}  // namespace omnitune
