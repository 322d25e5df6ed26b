// Fused CPU kernels: plain loops over rows, fp32 arithmetic, at::parallel_for across rows.
#include "nn/fused_cpu.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <vector>

namespace omnitune {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per parallel_for task: about 32 Ki elements, so small tensors stay on one thread.
int64_t grain_rows(int64_t d) { return std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, d)); }

// The effective gain in fp32: 1 + w (Gemma 3) or w (Gemma 3n).
std::vector<float> gain_of(const at::Tensor& w, int64_t d, bool plus_one) {
  std::vector<float> g(static_cast<size_t>(d), 1.0f);
  const at::Tensor wf = w.to(at::kFloat).contiguous();
  const float* p = wf.data_ptr<float>();
  for (int64_t i = 0; i < d; ++i) g[size_t(i)] = plus_one ? p[i] + 1.0f : p[i];
  return g;
}

// Forward over `rows` rows of d: r[row] = 1 / sqrt(sum(x^2) / d + eps) and y = (x * r) * g,
// rounded once to T (the unfused ops' order: mean, + eps, rsqrt, x * r, * gain, cast).
template <typename T>
void rms_forward(const T* x, const float* g, T* y, float* r, int64_t rows, int64_t d, float eps) {
  at::parallel_for(0, rows, grain_rows(d), [&](int64_t begin, int64_t end) {
    std::vector<float> xf(static_cast<size_t>(d));
    for (int64_t row = begin; row < end; ++row) {
      const T* xr = x + row * d;
      T* yr = y + row * d;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // independent partial sums vectorise
      int64_t i = 0;
      for (; i + 8 <= d; i += 8)
        for (int k = 0; k < 8; ++k) {
          const float v = static_cast<float>(xr[i + k]);
          xf[size_t(i + k)] = v;
          acc[k] += v * v;
        }
      float ss = 0;
      for (; i < d; ++i) {
        const float v = static_cast<float>(xr[i]);
        xf[size_t(i)] = v;
        ss += v * v;
      }
      ss += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      const float rr = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
      r[row] = rr;
      for (int64_t j = 0; j < d; ++j) yr[j] = static_cast<T>((xf[size_t(j)] * rr) * g[j]);
    }
  });
}

// Backward: with xh = x * r and gg = gy * g, dx = r * (gg - xh * sum(gg * xh) / d); dw (when
// wanted, fp32 [d]) += sum over rows of gy * xh.
template <typename T>
void rms_backward(const T* x, const T* gy, const float* g, const float* r, T* dx, float* dw, int64_t rows,
                  int64_t d) {
  std::mutex mu;
  at::parallel_for(0, rows, grain_rows(d), [&](int64_t begin, int64_t end) {
    std::vector<float> xh(static_cast<size_t>(d)), gg(static_cast<size_t>(d));
    std::vector<float> dw_local(dw ? static_cast<size_t>(d) : 0, 0.0f);
    for (int64_t row = begin; row < end; ++row) {
      const T* xr = x + row * d;
      const T* gr = gy + row * d;
      T* dr = dx + row * d;
      const float rr = r[row];
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= d; i += 8)
        for (int k = 0; k < 8; ++k) {
          const int64_t j = i + k;
          const float h = static_cast<float>(xr[j]) * rr, gv = static_cast<float>(gr[j]);
          xh[size_t(j)] = h;
          gg[size_t(j)] = gv * g[j];
          acc[k] += gg[size_t(j)] * h;
          if (dw) dw_local[size_t(j)] += gv * h;
        }
      float dot = 0;
      for (; i < d; ++i) {
        const float h = static_cast<float>(xr[i]) * rr, gv = static_cast<float>(gr[i]);
        xh[size_t(i)] = h;
        gg[size_t(i)] = gv * g[i];
        dot += gg[size_t(i)] * h;
        if (dw) dw_local[size_t(i)] += gv * h;
      }
      dot += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      const float c = dot / static_cast<float>(d);
      for (int64_t j = 0; j < d; ++j) dr[j] = static_cast<T>(rr * (gg[size_t(j)] - xh[size_t(j)] * c));
    }
    if (dw) {
      std::lock_guard<std::mutex> lock(mu);
      for (int64_t j = 0; j < d; ++j) dw[j] += dw_local[size_t(j)];
    }
  });
}

struct FusedRmsNorm : public torch::autograd::Function<FusedRmsNorm> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& w, double eps,
                            bool plus_one) {
    const at::Tensor x = x_in.contiguous();
    const int64_t d = x.size(-1), rows = d > 0 ? x.numel() / d : 0;
    const std::vector<float> g = gain_of(w, d, plus_one);
    at::Tensor y = at::empty_like(x);
    at::Tensor r = at::empty({rows}, x.options().dtype(at::kFloat));
    if (x.scalar_type() == at::kBFloat16)
      rms_forward(x.data_ptr<at::BFloat16>(), g.data(), y.data_ptr<at::BFloat16>(), r.data_ptr<float>(), rows, d,
                  float(eps));
    else
      rms_forward(x.data_ptr<float>(), g.data(), y.data_ptr<float>(), r.data_ptr<float>(), rows, d, float(eps));
    ctx->save_for_backward({x, w, r});
    ctx->saved_data["plus_one"] = plus_one;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& w = saved[1];
    const at::Tensor& r = saved[2];
    const bool plus_one = ctx->saved_data["plus_one"].toBool();
    const at::Tensor gy = grads[0].to(x.scalar_type()).contiguous();
    const int64_t d = x.size(-1), rows = d > 0 ? x.numel() / d : 0;
    const std::vector<float> g = gain_of(w, d, plus_one);
    const bool want_w = ctx->needs_input_grad(1);
    at::Tensor dx = at::empty_like(x);
    at::Tensor dw = want_w ? at::zeros({d}, x.options().dtype(at::kFloat)) : at::Tensor();
    float* dwp = want_w ? dw.data_ptr<float>() : nullptr;
    if (x.scalar_type() == at::kBFloat16)
      rms_backward(x.data_ptr<at::BFloat16>(), gy.data_ptr<at::BFloat16>(), g.data(), r.data_ptr<float>(),
                   dx.data_ptr<at::BFloat16>(), dwp, rows, d);
    else
      rms_backward(x.data_ptr<float>(), gy.data_ptr<float>(), g.data(), r.data_ptr<float>(), dx.data_ptr<float>(), dwp,
                   rows, d);
    return {dx, want_w ? dw.to(w.scalar_type()) : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

bool cpu_float_or_bf16(const at::Tensor& t) {
  return t.device().is_cpu() && (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16);
}

std::atomic<bool> g_fused_on{true};

}  // namespace

void set_fused_cpu_kernels(bool on) { g_fused_on = on; }
bool fused_cpu_kernels() { return g_fused_on; }

bool fused_rms_norm_supported(const at::Tensor& x, const at::Tensor& w) {
  if (!g_fused_on || !x.defined() || x.dim() < 1 || !cpu_float_or_bf16(x)) return false;
  return !w.defined() || (cpu_float_or_bf16(w) && w.dim() == 1 && w.size(0) == x.size(-1));
}

at::Tensor fused_rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool plus_one) {
  // A custom function's inputs must be defined (LibTorch 1.13): no gain = a constant gain of 1.
  if (!w.defined()) return FusedRmsNorm::apply(x, at::ones({x.size(-1)}, x.options().dtype(at::kFloat)), eps, false);
  return FusedRmsNorm::apply(x, w, eps, plus_one);
}

}  // namespace omnitune
