// Comm self-test: values are functions of (rank, index) so every rank knows the exact answer;
// integer-valued floats keep sums exact in every dtype tested.
#include "dist/comm_selftest.h"

#include <chrono>

#include "core/error.h"

namespace omnitune {
namespace {

// value(rank, i) = (rank + 1) * ((i % 7) + 1): small integers, exact in bf16 for the world sizes
// used here.
at::Tensor pattern(int rank, int64_t n, at::ScalarType dt, const at::Device& dev) {
  auto i = at::arange(n, at::TensorOptions().dtype(at::kLong));
  return ((i % 7) + 1).mul(rank + 1).to(dt).to(dev);
}

void expect(SelftestResult& r, bool ok, const std::string& what) {
  r.checks++;
  if (!ok) r.failures.push_back(what);
}

bool same_values(const at::Tensor& a, const at::Tensor& b) {
  return a.cpu().to(at::kDouble).equal(b.cpu().to(at::kDouble));
}

}  // namespace

SelftestResult comm_selftest(Comm& comm, const at::Device& dev) {
  SelftestResult r;
  const int n = comm.size(), me = comm.rank();
  const int64_t len = 1031;  // odd, so chunking and padding bugs show
  const double rank_sum = n * (n + 1) / 2.0;
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16, at::kLong}) {
    std::string tag = str_cat(" [", dt, "]");
    // all_reduce sum and max
    at::Tensor t = pattern(me, len, dt, dev);
    comm.all_reduce(t, ReduceOp::Sum);
    expect(r, same_values(t, pattern(0, len, dt, at::kCPU).to(at::kDouble) * rank_sum),
           "all_reduce sum" + tag);
    t = pattern(me, len, dt, dev);
    comm.all_reduce(t, ReduceOp::Max);
    expect(r, same_values(t, pattern(n - 1, len, dt, at::kCPU)), "all_reduce max" + tag);
    // all_gather: chunk k holds rank k's pattern
    at::Tensor in = pattern(me, len, dt, dev);
    at::Tensor out = at::empty({len * n}, in.options());
    comm.all_gather(in, out);
    bool ok = true;
    for (int k = 0; k < n; ++k)
      ok = ok && same_values(out.slice(0, k * len, (k + 1) * len), pattern(k, len, dt, at::kCPU));
    expect(r, ok, "all_gather" + tag);
    // reduce_scatter: every rank contributes pattern(me) repeated n times; chunk = sum
    at::Tensor full = pattern(me, len, dt, dev).repeat({n});
    at::Tensor part = at::empty({len}, full.options());
    comm.reduce_scatter(full, part, ReduceOp::Sum);
    expect(r, same_values(part, pattern(0, len, dt, at::kCPU).to(at::kDouble) * rank_sum),
           "reduce_scatter" + tag);
    // broadcast from the last rank
    at::Tensor b = pattern(me, len, dt, dev);
    comm.broadcast(b, n - 1);
    expect(r, same_values(b, pattern(n - 1, len, dt, at::kCPU)), "broadcast" + tag);
  }
  comm.barrier();
  return r;
}

std::vector<BandwidthRow> comm_allreduce_bandwidth(Comm& comm, const at::Device& dev,
                                                   const std::vector<int64_t>& sizes, int iters) {
  std::vector<BandwidthRow> rows;
  for (int64_t bytes : sizes) {
    at::Tensor t = at::ones({bytes / 4}, at::TensorOptions().dtype(at::kFloat).device(dev));
    comm.all_reduce(t);  // warm-up (connection set-up, buffers)
    comm.barrier();
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) comm.all_reduce(t);
    comm.barrier();  // NCCL is asynchronous: the barrier waits for the queued work
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
    BandwidthRow row;
    row.bytes = bytes;
    row.seconds = s;
    row.algbw_gbs = bytes / s / 1e9;
    int n = comm.size();
    row.busbw_gbs = n > 1 ? row.algbw_gbs * 2.0 * (n - 1) / n : 0.0;
    rows.push_back(row);
  }
  return rows;
}

}  // namespace omnitune
