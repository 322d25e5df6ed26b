// MobileNetV5 forward, following timm's blocks (gemma-spec D.10).
#include "model/mobilenet_v5.h"

#include <cmath>

#include "core/error.h"

namespace omnitune {
namespace {

at::Tensor rms_norm_channels(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor y = x * at::rsqrt(x.pow(2).mean(1, /*keepdim=*/true) + eps);
  return w.defined() ? y * w.view({1, -1, 1, 1}) : y;
}

// TF 'same' padding: total max((ceil(n / s) - 1) * s + k - n, 0), the smaller half first.
std::vector<int64_t> same_padding(int64_t h, int64_t w, int64_t k, int64_t s) {
  auto total = [&](int64_t n) { return std::max<int64_t>((n + s - 1) / s * s - s + k - n, 0); };
  const int64_t ph = total(h), pw = total(w);
  return {pw / 2, pw - pw / 2, ph / 2, ph - ph / 2};
}

bool has(const TensorShapes& s, const std::string& name) { return s.count(name) != 0; }

bool has_prefix(const TensorShapes& s, const std::string& p) {
  auto it = s.lower_bound(p);
  return it != s.end() && it->first.compare(0, p.size(), p) == 0;
}

const std::vector<int64_t>& shape_of(const TensorShapes& s, const std::string& name) {
  auto it = s.find(name);
  OT_REQUIRE(it != s.end(), "MobileNetV5: the checkpoint has no tensor '", name, "'");
  return it->second;
}

// A conv(+norm) module from the checkpoint: its weight shape gives widths, kernel and groups.
MnConvNorm conv_from(const TensorShapes& s, const std::string& conv, const std::string& norm, int64_t stride,
                     bool act) {
  MnConvNorm c;
  c.conv = conv;
  c.norm = norm;
  c.shape = shape_of(s, conv + ".weight");
  OT_REQUIRE(c.shape.size() == 4 && c.shape[2] == c.shape[3], "MobileNetV5: '", conv, ".weight' is not a square conv kernel");
  c.bias = has(s, conv + ".bias");
  c.stride = stride;
  c.act = act;
  c.groups = c.shape[1] == 1 && c.shape[0] > 1 && c.shape[2] > 1 ? c.shape[0] : 1;  // depthwise
  if (!norm.empty()) shape_of(s, norm + ".weight");
  return c;
}

}  // namespace

at::Tensor MnConvNorm::forward(const at::Tensor& x, double eps) const {
  const int64_t k = shape[2];
  at::Tensor h;
  if (stride == 1) {
    h = at::conv2d(x, weight, bias_t, at::IntArrayRef{1}, at::IntArrayRef{(k - 1) / 2}, at::IntArrayRef{1}, groups);
  } else {
    h = at::constant_pad_nd(x, same_padding(x.size(2), x.size(3), k, stride));
    h = at::conv2d(h, weight, bias_t, at::IntArrayRef{stride}, at::IntArrayRef{0}, at::IntArrayRef{1}, groups);
  }
  if (!norm.empty()) h = rms_norm_channels(h, norm_weight, eps);
  return act ? at::gelu(h, "tanh") : h;
}

void MnConvNorm::collect_params(ParamList& out) {
  out.push_back({conv + ".weight", &weight, shape});
  if (bias) out.push_back({conv + ".bias", &bias_t, {shape[0]}});
  if (!norm.empty()) out.push_back({norm + ".weight", &norm_weight, {shape[0]}, ParamCentre::One});
}

at::Tensor MnBlock::forward(const at::Tensor& x, double eps) const {
  at::Tensor h;
  if (kind == Kind::Attention) {
    const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
    at::Tensor n = rms_norm_channels(x, norm_weight, eps);
    at::Tensor qh = q->forward(n, eps).reshape({B, heads, key_dim, H * W}).transpose(-1, -2);  // [B, h, L, kd]
    at::Tensor kx = k_down ? k_down->forward(n, eps) : n, vx = v_down ? v_down->forward(n, eps) : n;
    at::Tensor kh = k->forward(kx, eps).flatten(2).transpose(1, 2).unsqueeze(1);  // [B, 1, P, kd]
    at::Tensor vh = v->forward(vx, eps).flatten(2).transpose(1, 2).unsqueeze(1);  // [B, 1, P, vd]
    at::Tensor attn = at::softmax(at::matmul(qh * std::pow(double(key_dim), -0.5), kh.transpose(-1, -2)), -1);
    at::Tensor ctx = at::matmul(attn, vh).transpose(1, 2).reshape({B, H, W, heads * value_dim}).permute({0, 3, 1, 2});
    h = o->forward(ctx, eps);
  } else {
    h = x;
    for (const MnConvNorm& c : convs) h = c.forward(h, eps);
  }
  if (has_gamma) h = h * gamma.view({1, -1, 1, 1});
  return skip ? h + x : h;
}

void MnBlock::collect_params(ParamList& out) {
  if (kind == Kind::Attention) {
    out.push_back({name + ".norm.weight", &norm_weight, {channels}, ParamCentre::One});
    for (auto* c : {q.get(), k_down.get(), k.get(), v_down.get(), v.get(), o.get()})
      if (c) c->collect_params(out);
  } else {
    for (MnConvNorm& c : convs) c.collect_params(out);
  }
  if (has_gamma) out.push_back({name + ".layer_scale.gamma", &gamma, {channels}});
}

namespace {

// timm's make_divisible: to a multiple of 8, never more than 10% below the value.
int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t n = std::max<int64_t>(divisor, int64_t(v + divisor / 2.0) / divisor * divisor);
  if (double(n) < 0.9 * v) n += divisor;
  return n;
}

}  // namespace

TensorShapes mobilenet_v5_300m_layout(const std::string& prefix, double mult) {
  // One string per block, timm's notation: er/uir/mqa, a = dw_start kernel, k = dw_mid (uir) or
  // KV down-sampling (mqa) kernel, s = stride, e = expansion, h = heads, v = KV stride, d = key/value
  // dim, c = output channels (scaled by the multiplier).
  std::vector<std::vector<std::string>> stages = {
      {"er_k3_s2_e4_c128", "er_k3_s1_e4_c128", "er_k3_s1_e4_c128"},
      {"uir_a3_k5_s2_e6_c256", "uir_a5_k0_s1_e4_c256", "uir_a3_k0_s1_e4_c256", "uir_a5_k0_s1_e4_c256",
       "uir_a3_k0_s1_e4_c256"},
      {"uir_a5_k5_s2_e6_c640"},
      {"uir_a5_k5_s2_e6_c1280"}};
  for (int i = 0; i < 7; ++i) stages[2].push_back("uir_a5_k0_s1_e4_c640");
  stages[2].push_back("uir_a0_k0_s1_e1_c640");
  for (int i = 0; i < 14; ++i) {
    stages[2].push_back("mqa_k3_h12_v2_s1_d64_c640");
    stages[2].push_back("uir_a0_k0_s1_e2_c640");
  }
  for (int i = 0; i < 19; ++i) {
    stages[3].push_back("mqa_k3_h16_v1_s1_d96_c1280");
    stages[3].push_back("uir_a0_k0_s1_e2_c1280");
  }
  auto field = [](const std::string& b, char key) {
    for (size_t p = b.find('_'); p != std::string::npos; p = b.find('_', p + 1))
      if (b[p + 1] == key) return int64_t(std::stoll(b.substr(p + 2)));
    return int64_t(0);
  };
  TensorShapes s;
  auto conv = [&](const std::string& name, std::vector<int64_t> shape, const std::string& norm) {
    s[name + ".weight"] = shape;
    if (!norm.empty()) s[norm + ".weight"] = {shape[0]};
  };
  const int64_t stem = mult < 1.0 ? 64 : make_divisible(64 * mult);  // timm fixes the stem below 1x
  conv(prefix + ".conv_stem.conv", {stem, 3, 3, 3}, prefix + ".conv_stem.bn");
  s[prefix + ".conv_stem.conv.bias"] = {stem};
  int64_t in = stem;
  std::vector<int64_t> stage_out;
  for (size_t st = 0; st < stages.size(); ++st) {
    for (size_t i = 0; i < stages[st].size(); ++i) {
      const std::string& b = stages[st][i];
      const std::string n = prefix + ".blocks." + std::to_string(st) + "." + std::to_string(i);
      const int64_t out = make_divisible(double(field(b, 'c')) * mult);
      if (b.rfind("er_", 0) == 0) {
        const int64_t mid = make_divisible(double(in * field(b, 'e')));
        const int64_t k = field(b, 'k');
        conv(n + ".conv_exp", {mid, in, k, k}, n + ".bn1");
        conv(n + ".conv_pwl", {out, mid, 1, 1}, n + ".bn2");
      } else if (b.rfind("uir_", 0) == 0) {
        const int64_t a = field(b, 'a'), k = field(b, 'k'), mid = make_divisible(double(in * field(b, 'e')));
        if (a) conv(n + ".dw_start.conv", {in, 1, a, a}, n + ".dw_start.bn");
        conv(n + ".pw_exp.conv", {mid, in, 1, 1}, n + ".pw_exp.bn");
        if (k) conv(n + ".dw_mid.conv", {mid, 1, k, k}, n + ".dw_mid.bn");
        conv(n + ".pw_proj.conv", {out, mid, 1, 1}, n + ".pw_proj.bn");
        s[n + ".layer_scale.gamma"] = {out};
      } else {
        const int64_t h = field(b, 'h'), d = field(b, 'd'), k = field(b, 'k');
        s[n + ".norm.weight"] = {in};
        conv(n + ".attn.query.proj", {h * d, in, 1, 1}, "");
        for (const char* kv : {"key", "value"}) {
          if (field(b, 'v') > 1) conv(n + ".attn." + kv + ".down_conv", {in, 1, k, k}, n + ".attn." + kv + ".norm");
          conv(n + ".attn." + kv + ".proj", {d, in, 1, 1}, "");
        }
        conv(n + ".attn.output.proj", {out, h * d, 1, 1}, "");
        s[n + ".layer_scale.gamma"] = {out};
      }
      in = out;
    }
    stage_out.push_back(in);
  }
  const int64_t fused = stage_out[2] + stage_out[3], mid = make_divisible(double(fused * 2));
  conv(prefix + ".msfa.ffn.pw_exp.conv", {mid, fused, 1, 1}, prefix + ".msfa.ffn.pw_exp.bn");
  conv(prefix + ".msfa.ffn.pw_proj.conv", {2048, mid, 1, 1}, prefix + ".msfa.ffn.pw_proj.bn");
  s[prefix + ".msfa.norm.weight"] = {2048};
  return s;
}

MobileNetV5Encoder::MobileNetV5Encoder(const std::string& prefix, const TensorShapes& s, int64_t resolution,
                                       double eps)
    : prefix_(prefix), eps_(eps), resolution_(resolution) {
  stem_ = conv_from(s, prefix + ".conv_stem.conv", prefix + ".conv_stem.bn", 2, true);
  for (int64_t st = 0; has_prefix(s, prefix + ".blocks." + std::to_string(st) + ".0."); ++st) {
    std::vector<std::unique_ptr<MnBlock>> stage;
    for (int64_t i = 0;; ++i) {
      const std::string b = prefix + ".blocks." + std::to_string(st) + "." + std::to_string(i);
      const int64_t stride = i == 0 ? 2 : 1;
      auto blk = std::make_unique<MnBlock>();
      blk->name = b;
      int64_t in = 0;
      if (has(s, b + ".conv_exp.weight")) {
        blk->kind = MnBlock::Kind::EdgeResidual;
        blk->convs.push_back(conv_from(s, b + ".conv_exp", b + ".bn1", stride, true));
        blk->convs.push_back(conv_from(s, b + ".conv_pwl", b + ".bn2", 1, false));
        in = blk->convs.front().shape[1];
        blk->channels = blk->convs.back().shape[0];
      } else if (has(s, b + ".attn.query.proj.weight")) {
        blk->kind = MnBlock::Kind::Attention;
        const std::string a = b + ".attn";
        blk->q = std::make_unique<MnConvNorm>(conv_from(s, a + ".query.proj", "", 1, false));
        blk->k = std::make_unique<MnConvNorm>(conv_from(s, a + ".key.proj", "", 1, false));
        blk->v = std::make_unique<MnConvNorm>(conv_from(s, a + ".value.proj", "", 1, false));
        blk->o = std::make_unique<MnConvNorm>(conv_from(s, a + ".output.proj", "", 1, false));
        if (has(s, a + ".key.down_conv.weight")) {  // KV down-sampling (stride 2 depthwise conv + norm)
          blk->k_down = std::make_unique<MnConvNorm>(conv_from(s, a + ".key.down_conv", a + ".key.norm", 2, false));
          blk->v_down = std::make_unique<MnConvNorm>(conv_from(s, a + ".value.down_conv", a + ".value.norm", 2, false));
        }
        blk->key_dim = blk->k->shape[0];
        blk->value_dim = blk->v->shape[0];
        blk->heads = blk->q->shape[0] / blk->key_dim;
        OT_REQUIRE(blk->heads * blk->key_dim == blk->q->shape[0] && blk->o->shape[1] == blk->heads * blk->value_dim,
                   "MobileNetV5: ", a, " has inconsistent query/key/value/output widths");
        in = blk->q->shape[1];
        blk->channels = blk->o->shape[0];
        shape_of(s, b + ".norm.weight");
      } else if (has(s, b + ".pw_exp.conv.weight")) {
        blk->kind = MnBlock::Kind::InvertedResidual;
        const bool start = has(s, b + ".dw_start.conv.weight"), mid = has(s, b + ".dw_mid.conv.weight");
        if (start) blk->convs.push_back(conv_from(s, b + ".dw_start.conv", b + ".dw_start.bn", mid ? 1 : stride, false));
        blk->convs.push_back(conv_from(s, b + ".pw_exp.conv", b + ".pw_exp.bn", 1, true));
        if (mid) blk->convs.push_back(conv_from(s, b + ".dw_mid.conv", b + ".dw_mid.bn", stride, true));
        blk->convs.push_back(conv_from(s, b + ".pw_proj.conv", b + ".pw_proj.bn", 1, false));
        OT_REQUIRE(stride == 1 || start || mid, "MobileNetV5: ", b, " must down-sample but has no depthwise conv");
        in = start ? blk->convs.front().shape[0] : blk->convs.front().shape[1];
        blk->channels = blk->convs.back().shape[0];
      } else {
        break;
      }
      OT_REQUIRE(blk->kind != MnBlock::Kind::Attention || stride == 1, "MobileNetV5: ", b,
                 " opens a stage (stride 2) but is an attention block");
      blk->has_gamma = has(s, b + ".layer_scale.gamma");
      blk->skip = in == blk->channels && stride == 1;
      stage.push_back(std::move(blk));
    }
    OT_REQUIRE(!stage.empty(), "MobileNetV5: stage ", st, " has no blocks");
    stages_.push_back(std::move(stage));
  }
  OT_REQUIRE(stages_.size() >= 2, "MobileNetV5: found ", stages_.size(), " stage(s) under ", prefix,
             ".blocks; the fusion adapter needs two");
  msfa_exp_ = conv_from(s, prefix + ".msfa.ffn.pw_exp.conv", prefix + ".msfa.ffn.pw_exp.bn", 1, true);
  msfa_proj_ = conv_from(s, prefix + ".msfa.ffn.pw_proj.conv", prefix + ".msfa.ffn.pw_proj.bn", 1, false);
  const int64_t fused = stages_[stages_.size() - 2].back()->channels + stages_.back().back()->channels;
  OT_REQUIRE(msfa_exp_.shape[1] == fused, "MobileNetV5: the fusion adapter takes ", msfa_exp_.shape[1],
             " channels but the last two stages give ", fused);
  out_channels_ = msfa_proj_.shape[0];
  shape_of(s, prefix + ".msfa.norm.weight");
}

at::Tensor MobileNetV5Encoder::forward(const at::Tensor& pixels) const {
  at::Tensor x = stem_.forward(pixels, eps_);
  std::vector<at::Tensor> ends;
  for (const auto& stage : stages_) {
    for (const auto& blk : stage) x = blk->forward(x, eps_);
    ends.push_back(x);
  }
  // Fusion: the last stage upsampled (nearest) to the one before, concatenated, a pointwise FFN,
  // then average-pooled to the output resolution and normed.
  at::Tensor hi = ends[ends.size() - 2], lo = ends.back();
  if (lo.size(2) < hi.size(2) || lo.size(3) < hi.size(3)) lo = at::upsample_nearest2d(lo, {hi.size(2), hi.size(3)});
  at::Tensor h = msfa_proj_.forward(msfa_exp_.forward(at::cat({hi, lo}, 1), eps_), eps_);
  const int64_t H = h.size(2), W = h.size(3);
  if (H != resolution_ || W != resolution_) {
    OT_REQUIRE(H % resolution_ == 0 && W % resolution_ == 0, "MobileNetV5: features of ", H, "x", W,
               " do not pool evenly to ", resolution_, "x", resolution_, ": use the processor's image size");
    h = at::avg_pool2d(h, {H / resolution_, W / resolution_}, {H / resolution_, W / resolution_});
  }
  return rms_norm_channels(h, msfa_norm_, eps_);
}

void MobileNetV5Encoder::collect_params(ParamList& out) {
  stem_.collect_params(out);
  for (auto& stage : stages_)
    for (auto& blk : stage) blk->collect_params(out);
  msfa_exp_.collect_params(out);
  msfa_proj_.collect_params(out);
  out.push_back({prefix_ + ".msfa.norm.weight", &msfa_norm_, {out_channels_}, ParamCentre::One});
}

std::string MobileNetV5Encoder::describe() const {
  std::string out;
  for (size_t st = 0; st < stages_.size(); ++st) {
    int64_t er = 0, uir = 0, mqa = 0;
    for (const auto& b : stages_[st])
      (b->kind == MnBlock::Kind::EdgeResidual ? er : b->kind == MnBlock::Kind::Attention ? mqa : uir)++;
    out += str_cat(st ? "; " : "", "stage ", st, ": ", stages_[st].size(), " blocks (", er, " ER, ", uir, " UIR, ",
                   mqa, " MQA), ", stages_[st].back()->channels, " ch");
  }
  return out;
}

}  // namespace omnitune
