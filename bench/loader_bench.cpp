// Data-loader throughput on a preprocessed split: samples/s of DataLoader::next_step() on one
// thread (prefetch 0), to compare with what a training step consumes (bench/train_bench.sh).
//   loader_bench SHARDS_DIR [--micro 2] [--global 8] [--steps 50]
#include <chrono>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "data/loader.h"

using namespace omnitune;

int main(int argc, char** argv) {
  try {
    OT_REQUIRE(argc >= 2, "usage: loader_bench SHARDS_DIR [--micro N] [--global N] [--steps N]");
    int64_t micro = 2, global = 8, steps = 50;
    for (int i = 2; i + 1 < argc; i += 2) {
      const std::string f = argv[i];
      if (f == "--micro") micro = std::stoll(argv[i + 1]);
      else if (f == "--global") global = std::stoll(argv[i + 1]);
      else if (f == "--steps") steps = std::stoll(argv[i + 1]);
      else OT_FAIL("unknown option ", f);
    }
    LoaderOptions o;
    o.micro_batch_size = micro;
    o.prefetch = 0;
    DataLoader l(std::make_shared<ShardDataset>(argv[1], ""), o, global, 0, 1, 1, 0);
    l.next_step();  // warm-up: file handles, page cache
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < steps; ++s) l.next_step();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("loader samples/s %.1f (%lld steps of %lld samples in %.3f s, 1 thread)\n", double(steps * global) / dt,
                static_cast<long long>(steps), static_cast<long long>(global), dt);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loader_bench: %s\n", e.what());
    return 1;
  }
}
