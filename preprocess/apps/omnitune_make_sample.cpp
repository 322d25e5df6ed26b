// omnitune-make-sample: writes the synthetic MedPix-format sample dataset (see sample_dataset.h).
//   omnitune-make-sample --out DIR [--train 48] [--validation 16] [--seed 1234] [--audio 1] [--spoken 1]
#include <cstdio>
#include <string>

#include "core/cli.h"
#include "core/error.h"
#include "dist/runtime.h"
#include "sample/sample_dataset.h"

using namespace omnitune;

constexpr const char* kUsage =
    "usage: omnitune-make-sample --out DIR [--train N] [--validation N] [--seed S] [--audio 1] [--spoken 1]\n"
    "\n"
    "Writes the synthetic MedPix-format sample dataset: JSONL rows, real JPEG/PNG images, WAV clips\n"
    "and a SentencePiece tokenizer trained on its text.\n"
    "\n"
    "  --out DIR         the folder to write\n"
    "  --train N         training rows (default 48)\n"
    "  --validation N    validation rows (default 16)\n"
    "  --seed S          generator seed (default 1234)\n"
    "  --audio 1         also an audio clip per row\n"
    "  --spoken 1        also spoken-question splits (espeak-ng clips)\n"
    "  -h, --help        print this help and exit\n";

int main(int argc, char** argv) {
  if (help_requested(argc, argv)) {
    std::printf("%s", kUsage);
    return 0;
  }
  return run_main(argc, argv, [](MpiRuntime& rt, int ac, char** av) {
    SampleOptions opt;
    for (int i = 1; i < ac; ++i) {
      std::string f = av[i];
      OT_REQUIRE(i + 1 < ac, "option ", f, " needs a value");
      std::string v = av[++i];
      if (f == "--out") opt.out_dir = v;
      else if (f == "--train") opt.train_rows = std::stoi(v);
      else if (f == "--validation") opt.validation_rows = std::stoi(v);
      else if (f == "--seed") opt.seed = std::stoull(v);
      else if (f == "--audio") opt.audio = v == "1" || v == "true";
      else if (f == "--spoken") opt.spoken = v == "1" || v == "true";
      else OT_FAIL("unknown option ", f, ": usage: omnitune-make-sample --out DIR [--train N] [--validation N] [--seed S] [--audio 1] [--spoken 1]");
    }
    OT_REQUIRE(!opt.out_dir.empty(), "usage: omnitune-make-sample --out DIR [--train N] [--validation N] [--seed S]");
    if (!rt.is_root()) return 0;  // one writer, even under mpirun
    SampleSummary s = make_sample_dataset(opt);
    std::printf("sample dataset in %s: %d train + %d validation rows, %d images (leak: %s), %d audio clips, tokenizer %s\n",
                opt.out_dir.c_str(), s.train_rows, s.validation_rows, s.images, s.leak_image.c_str(), s.clips,
                s.tokenizer.c_str());
    if (opt.spoken)
      std::printf("spoken questions: %d train + %d validation rows, %d espeak-ng clips\n", s.spoken_train_rows,
                  s.spoken_validation_rows, s.spoken_clips);
    return 0;
  });
}
