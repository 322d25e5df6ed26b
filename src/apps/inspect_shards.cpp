// Shard inspection: reads manifest.json and one shard; no MPI collectives, no LibTorch tensors.
#include "apps/inspect_shards.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/cli.h"
#include "core/error.h"
#include "core/sha256.h"
#include "data/shard_format.h"
#include "media/image.h"
#include "media/image_encode.h"
#include "tokenizer/sentencepiece.h"

namespace omnitune {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool inspect_shards_requested(int argc, char** argv) {
  return argc >= 2 && argv[1][0] != '-' && fs::exists(argv[1]);
}

namespace {

// Decodes ids to text, collapsing runs of one special token ("<image_soft_token> x256").
std::string readable(const SentencePiece& sp, const std::vector<int32_t>& ids) {
  std::string out;
  std::vector<int32_t> run;
  size_t i = 0;
  while (i < ids.size()) {
    const int32_t id = ids[i];
    const std::string piece = sp.id_to_piece(id);
    const bool special = piece.size() > 2 && piece.front() == '<' && piece.back() == '>';
    if (!special) {
      run.push_back(id);
      ++i;
      continue;
    }
    out += sp.decode(run);
    run.clear();
    size_t j = i;
    while (j < ids.size() && ids[j] == id) ++j;
    out += piece + (j - i > 1 ? " x" + std::to_string(j - i) : "");
    i = j;
  }
  return out + sp.decode(run);
}

}  // namespace

int inspect_shards_main(int argc, char** argv) {
  if (help_requested(argc, argv)) {
    std::printf("usage: omnitune-inspect SPLIT_DIR [--sample N] [--image-out FILE] [--tokenizer FILE]\n\n"
                "Prints a preprocessed split's counts and sample N (default 0) decoded back to text with its\n"
                "training targets.\n\n"
                "  --sample N        the sample to show (default 0)\n"
                "  --image-out FILE  write its image as PNG\n"
                "  --tokenizer FILE  the tokenizer to decode with (default: the one the split records;\n"
                "                    it must have the same SHA-256)\n"
                "  -h, --help        print this help and exit\n");
    return 0;
  }
  const fs::path dir = argv[1];
  int64_t index = 0;
  std::string image_out, tokenizer;
  for (int i = 2; i < argc; ++i) {
    std::string f = argv[i];
    OT_REQUIRE(i + 1 < argc, "option ", f, " needs a value");
    if (f == "--sample") index = std::stoll(argv[++i]);
    else if (f == "--image-out") image_out = argv[++i];
    else if (f == "--tokenizer") tokenizer = argv[++i];
    else OT_FAIL("unknown option '", f, "': usage: omnitune-inspect SHARDS_DIR [--sample N] [--image-out FILE] [--tokenizer FILE]");
  }
  const fs::path manifest_path = dir / "manifest.json";
  std::ifstream in(manifest_path);
  OT_REQUIRE(in.good(), manifest_path.string(), " not found: give a split directory written by omnitune-preprocess ",
             "(its manifest is written last; a run that did not finish has none)");
  json m = json::parse(in, nullptr, false);
  OT_REQUIRE(m.is_object(), manifest_path.string(), " is not valid JSON");
  std::printf("split %s (%s, %s model, schema %d)\n", m.value("split", "?").c_str(), m.value("format", "?").c_str(),
              m.value("model_family", "?").c_str(), m.value("schema_version", 0));
  std::printf("  %s\n", m["counts"].dump().c_str());
  std::printf("  rejects by reason: %s\n", m["rejects_by_reason"].dump().c_str());
  std::printf("  prompt tokens: %s\n  answer tokens: %s\n", m["prompt_tokens"].dump().c_str(),
              m["answer_tokens"].dump().c_str());
  std::printf("  samples by mode: %s\n", m["samples_by_mode"].dump().c_str());
  if (!m["shared_images_with_other_splits"].empty())
    std::printf("  WARNING: images shared with other splits: %s\n", m["shared_images_with_other_splits"].dump().c_str());
  for (const json& s : m["shards"])
    std::printf("  %s: %lld samples, %lld tokens, %lld images, %lld bytes, sha256 %s\n",
                s["file"].get<std::string>().c_str(), static_cast<long long>(s["samples"].get<int64_t>()),
                static_cast<long long>(s["tokens"].get<int64_t>()), static_cast<long long>(s["images"].get<int64_t>()),
                static_cast<long long>(s["bytes"].get<int64_t>()), s["sha256"].get<std::string>().substr(0, 16).c_str());

  // Find the shard holding sample `index` (samples are numbered across shards in order).
  int64_t base = 0;
  for (const json& s : m["shards"]) {
    const int64_t n = s["samples"].get<int64_t>();
    if (index >= base + n) {
      base += n;
      continue;
    }
    auto reader = ShardReader::open((dir / s["file"].get<std::string>()).string());
    ShardSample smp = reader->sample(index - base);
    if (tokenizer.empty()) {
      const json& pc = m["config"]["preprocess"];
      tokenizer = pc.value("tokenizer", "");
      if (tokenizer.empty()) tokenizer = pc.value("model_dir", "") + "/tokenizer.model";
    }
    SentencePiece sp(tokenizer);
    OT_REQUIRE(reader->header().tokenizer_sha256.empty() || sha256_file(tokenizer) == reader->header().tokenizer_sha256,
               "tokenizer ", tokenizer,
               " is not the one these shards were made with (sha256 ", reader->header().tokenizer_sha256, ")");
    std::vector<int32_t> targets;
    for (size_t t = 0; t < smp.ids.size(); ++t)
      if (smp.loss_mask[t]) targets.push_back(smp.ids[t]);
    std::printf("\nsample %lld (%s, row %lld, case %s, mode %s): %zu tokens, %zu trained\n",
                static_cast<long long>(index), smp.id.c_str(), static_cast<long long>(smp.source_row),
                smp.case_id.c_str(), smp.mode.c_str(), smp.ids.size(), targets.size());
    std::printf("--- conversation\n%s\n--- training targets\n%s\n", readable(sp, smp.ids).c_str(),
                readable(sp, targets).c_str());
    for (size_t k = 0; k < smp.media.size(); ++k) {
      const MediaRef& ref = smp.media[k];
      std::printf("media %zu: %s in shard %lld slot %lld\n", k, ref.kind == MediaKind::Image ? "image" : "audio",
                  static_cast<long long>(ref.shard), static_cast<long long>(ref.slot));
    }
    for (const MediaRef& ref : smp.media) {
      if (ref.kind != MediaKind::Image) continue;
      char name[32];
      std::snprintf(name, sizeof name, "shard-%05lld.h5", static_cast<long long>(ref.shard));
      ShardImage im = ShardReader::open((dir / name).string())->image(ref.slot);
      Image img{im.width, im.height, im.channels, im.pixels};
      const std::string path = image_out.empty() ? "inspect_sample" + std::to_string(index) + "_image.png" : image_out;
      write_png_file(img, path);
      std::printf("first image (%dx%d, %d channel%s) written to %s\n", im.width, im.height, im.channels,
                  im.channels == 1 ? "" : "s", path.c_str());
      break;
    }
    return 0;
  }
  OT_FAIL("sample ", index, " out of range: the split has ", base, " samples");
}

}  // namespace omnitune
