// MpiComm under mpirun -np 2 / -np 4: every collective on seeded random tensors of several dtypes
// and odd sizes, compared with the result each rank computes locally from all ranks' inputs;
// sub-communicators; exact byte counters.
#include <gtest/gtest.h>

#include "core/error.h"
#include "dist/mpi_comm.h"
#include "test_tensors.h"

using namespace omnitune;
using omnitune::testing::seed_of;
using omnitune::testing::seeded_tensor;

namespace {

std::unique_ptr<MpiComm>& world() {
  static std::unique_ptr<MpiComm> w = MpiComm::world();
  return w;
}

const std::vector<at::ScalarType> kDtypes = {at::kFloat, at::kDouble, at::kBFloat16, at::kHalf,
                                             at::kInt, at::kLong};
const std::vector<int64_t> kSizes = {1, 7, 1031, 65537};

// Reference reduction in double over all ranks' inputs, rounded once to the dtype.
at::Tensor reference(ReduceOp op, int tag, int nranks, int64_t n, at::ScalarType dt) {
  at::Tensor acc;
  for (int r = 0; r < nranks; ++r) {
    at::Tensor x = seeded_tensor(seed_of(tag, r), n, dt).to(at::kDouble);
    if (!acc.defined()) {
      acc = x;
    } else if (op == ReduceOp::Max) {
      acc = at::maximum(acc, x);
    } else if (op == ReduceOp::Min) {
      acc = at::minimum(acc, x);
    } else {
      acc = acc + x;
    }
  }
  if (op == ReduceOp::Avg) acc = acc / nranks;
  return acc.to(dt);
}

// Tolerance: one rounding of the result in the dtype (reductions run in fp32 for 16-bit floats).
void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  at::ScalarType dt = got.scalar_type();
  double rtol = 0;
  if (dt == at::kBFloat16) rtol = 1.0 / 128;
  else if (dt == at::kHalf) rtol = 1.0 / 1024;
  else if (dt == at::kFloat) rtol = 1e-6;
  else if (dt == at::kDouble) rtol = 1e-12;
  at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  if (rtol == 0) {
    EXPECT_TRUE(g.equal(w)) << what;
  } else {
    double worst = ((g - w).abs() - (w.abs() * rtol + 1e-6)).max().item<double>();
    EXPECT_LE(worst, 0.0) << what << ": max excess error " << worst;
  }
}

std::string tag_of(at::ScalarType dt, int64_t n, const char* op) {
  return omnitune::str_cat(op, " ", dt, " n=", n);
}

}  // namespace

TEST(MpiComm, AllReduceMatchesLocalReferenceForEveryOpDtypeAndSize) {
  Comm& c = *world();
  int tag = 0;
  for (at::ScalarType dt : kDtypes) {
    for (int64_t n : kSizes) {
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Avg}) {
        if (op == ReduceOp::Avg && !at::isFloatingType(dt)) continue;
        ++tag;
        at::Tensor t = seeded_tensor(seed_of(tag, c.rank()), n, dt);
        c.all_reduce(t, op);
        EXPECT_EQ(t.scalar_type(), dt);
        expect_close(t, reference(op, tag, c.size(), n, dt),
                     tag_of(dt, n, reduce_op_name(op)));
      }
    }
  }
}

TEST(MpiComm, Bf16SumIsRoundedOnceNotPerStep) {
  // 256 + 1 + 1 + ... : in bf16, 256 + 1 rounds back to 256 at every pairwise step; an fp32
  // reduction keeps the ones and rounds once. With 4 ranks: 256 + 3 = 259 -> bf16 260 (ulp 2).
  Comm& c = *world();
  at::Tensor t = at::full({5}, c.rank() == 0 ? 256.0 : 1.0, at::kBFloat16);
  c.all_reduce(t, ReduceOp::Sum);
  double want = at::tensor({256.0 + (c.size() - 1)}, at::kDouble).to(at::kBFloat16).item<double>();
  EXPECT_EQ(t[0].item<double>(), want);
  if (c.size() == 4) {
    EXPECT_EQ(t[0].item<double>(), 260.0);
  }
}

TEST(MpiComm, AllGatherPlacesEachRankChunkInRankOrder) {
  Comm& c = *world();
  int tag = 1000;
  for (at::ScalarType dt : kDtypes) {
    for (int64_t n : kSizes) {
      ++tag;
      at::Tensor in = seeded_tensor(seed_of(tag, c.rank()), n, dt);
      at::Tensor out = at::empty({n * c.size()}, in.options());
      c.all_gather(in, out);
      for (int r = 0; r < c.size(); ++r) {
        EXPECT_TRUE(out.slice(0, r * n, (r + 1) * n).equal(seeded_tensor(seed_of(tag, r), n, dt)))
            << tag_of(dt, n, "all_gather") << " chunk " << r;
      }
    }
  }
}

TEST(MpiComm, ReduceScatterGivesEachRankItsReducedChunk) {
  Comm& c = *world();
  int tag = 2000;
  for (at::ScalarType dt : kDtypes) {
    for (int64_t n : kSizes) {
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Avg, ReduceOp::Max}) {
        if (op == ReduceOp::Avg && !at::isFloatingType(dt)) continue;
        ++tag;
        at::Tensor in = seeded_tensor(seed_of(tag, c.rank()), n * c.size(), dt);
        at::Tensor out = at::empty({n}, in.options());
        c.reduce_scatter(in, out, op);
        at::Tensor full = reference(op, tag, c.size(), n * c.size(), dt);
        expect_close(out, full.slice(0, c.rank() * n, (c.rank() + 1) * n),
                     tag_of(dt, n, reduce_op_name(op)));
      }
    }
  }
}

TEST(MpiComm, BroadcastFromEveryRoot) {
  Comm& c = *world();
  for (at::ScalarType dt : kDtypes) {
    for (int root = 0; root < c.size(); ++root) {
      at::Tensor t = seeded_tensor(seed_of(3000 + root, c.rank()), 1031, dt);
      c.broadcast(t, root);
      EXPECT_TRUE(t.equal(seeded_tensor(seed_of(3000 + root, root), 1031, dt)))
          << "root " << root << " " << dt;
    }
  }
}

TEST(MpiComm, SendRecvRing) {
  Comm& c = *world();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  int next = (c.rank() + 1) % c.size(), prev = (c.rank() + c.size() - 1) % c.size();
  at::Tensor mine = seeded_tensor(seed_of(4000, c.rank()), 77, at::kBFloat16);
  at::Tensor got = at::empty({77}, at::kBFloat16);
  // Even ranks send first, odd ranks receive first: no deadlock with blocking calls.
  if (c.rank() % 2 == 0) {
    c.send(mine, next);
    c.recv(got, prev);
  } else {
    c.recv(got, prev);
    c.send(mine, next);
  }
  EXPECT_TRUE(got.equal(seeded_tensor(seed_of(4000, prev), 77, at::kBFloat16)));
}

TEST(MpiComm, SplitByParityFormsIndependentGroups) {
  Comm& c = *world();
  auto sub = c.split(c.rank() % 2, c.rank(), "parity");
  EXPECT_EQ(sub->name(), "parity");
  EXPECT_EQ(sub->size(), (c.size() + 1 - c.rank() % 2) / 2);
  EXPECT_EQ(sub->rank(), c.rank() / 2);
  at::Tensor t = at::full({3}, c.rank(), at::kLong);
  sub->all_reduce(t);
  int64_t want = 0;
  for (int r = c.rank() % 2; r < c.size(); r += 2) want += r;
  EXPECT_EQ(t[0].item<int64_t>(), want);
}

TEST(MpiComm, ByteCountersFollowTheDocumentedAccounting) {
  Comm& c = *world();
  const int n = c.size();
  c.reset_stats();
  at::Tensor a = at::zeros({1031}, at::kBFloat16);
  c.all_reduce(a);                                      // 1031 * 2 bytes
  at::Tensor in = at::zeros({7}, at::kFloat), out = at::empty({7 * n}, at::kFloat);
  c.all_gather(in, out);                                // output: 7 n * 4
  at::Tensor rs_in = at::zeros({5 * n}, at::kLong), rs_out = at::empty({5}, at::kLong);
  c.reduce_scatter(rs_in, rs_out);                      // input: 5 n * 8
  c.reduce_scatter(rs_in, rs_out);
  at::Tensor b = at::zeros({9}, at::kDouble);
  c.broadcast(b, 0);                                    // 9 * 8
  c.barrier();                                          // 0 bytes, 1 call
  const CommStats& s = c.stats();
  EXPECT_EQ(s.bytes_of(CommOp::AllReduce), 1031u * 2);
  EXPECT_EQ(s.bytes_of(CommOp::AllGather), 7u * n * 4);
  EXPECT_EQ(s.bytes_of(CommOp::ReduceScatter), 2u * 5 * n * 8);
  EXPECT_EQ(s.calls_of(CommOp::ReduceScatter), 2u);
  EXPECT_EQ(s.bytes_of(CommOp::Broadcast), 72u);
  EXPECT_EQ(s.calls_of(CommOp::Barrier), 1u);
  EXPECT_EQ(s.bytes_of(CommOp::Barrier), 0u);
  EXPECT_EQ(s.total_bytes(), 1031u * 2 + 7u * n * 4 + 2u * 5 * n * 8 + 72u);
}

TEST(MpiComm, RejectsNonContiguousAndWrongSizes) {
  Comm& c = *world();
  at::Tensor nc = at::zeros({4, 4}).t();
  EXPECT_THROW(c.all_reduce(nc), InternalError);
  at::Tensor in = at::zeros({3}), bad_out = at::zeros({3 * c.size() + 1});
  EXPECT_THROW(c.all_gather(in, bad_out), InternalError);
  at::Tensor i = at::zeros({4}, at::kInt);
  EXPECT_THROW(c.all_reduce(i, ReduceOp::Avg), InternalError);
}
