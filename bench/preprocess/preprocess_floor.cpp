// The floor under omnitune-preprocess's image path: our decoders (libjpeg-turbo, libspng) and our
// Pillow-exact bilinear resize alone, one thread, files already in memory; no HDF5, no tokenizer.
// bench/preprocess/run.sh compares the end-to-end rate with it.
//   preprocess_floor --size 896x896 --reps 3 FILE...
// Prints "floor decode_only <images/s>", "floor decode_resize <images/s>" and "floor
// decode_resize_sha256 <images/s>" (medians over reps). The last adds one SHA-256 pass over the
// resized pixels: the manifest's shard checksums must read every stored byte once, so no
// implementation that writes the same shards can beat it.
//   preprocess_floor --extract PARQUET COLUMN OUTDIR
// Writes the distinct images of a Parquet image column (raw bytes or the HF struct<bytes, path>) as files, for the
// bench's set of real MedPix images (tests/fixtures/medpix/sample.parquet).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <string>
#include <vector>

#include "core/read_file.h"
#include "core/sha256.h"
#include "media/image_decode.h"
#include "media/image_resize.h"
#include "parquet/parquet_file.h"

using namespace omnitune;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Every distinct value of PARQUET's COLUMN (or COLUMN.bytes) to OUTDIR/<sha256 prefix>.png|.jpg.
int extract(const std::string& parquet, const std::string& column, const std::string& dir) {
  auto file = parquet::ParquetFile::open(parquet);
  std::vector<std::string> seen;
  for (int g = 0; g < file.num_row_groups(); ++g) {
    // HF Image layout (struct<bytes, path>) or raw binary.
    const bool nested = file.column_index(column + ".bytes") >= 0;
    parquet::ColumnData data = file.read_column(g, nested ? column + ".bytes" : column);
    for (size_t i = 0; i < data.size(); ++i) {
      if (!data.valid[i]) continue;
      const std::string& b = data.bytes[i];
      const std::string name = sha256_hex(b).substr(0, 16);
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      seen.push_back(name);
      const auto fmt = sniff_image_format(reinterpret_cast<const uint8_t*>(b.data()), b.size());
      std::ofstream(dir + "/" + name + (fmt == ImageFormat::Png ? ".png" : ".jpg"), std::ios::binary) << b;
    }
  }
  std::fprintf(stderr, "preprocess_floor: %zu distinct images from %s\n", seen.size(), parquet.c_str());
  return seen.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && !std::strcmp(argv[1], "--extract")) {
    try {
      return extract(argv[2], argv[3], argv[4]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "preprocess_floor: %s\n", e.what());
      return 1;
    }
  }
  int width = 896, height = 896, reps = 3;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--size") && i + 1 < argc) {
      std::sscanf(argv[++i], "%dx%d", &width, &height);
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      files.push_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: preprocess_floor [--size WxH] [--reps N] FILE...\n");
    return 2;
  }
  std::vector<std::string> bytes;
  try {
    for (const std::string& f : files) bytes.push_back(read_file(f));
    std::vector<double> decode_rates, full_rates, hashed_rates;
    size_t checksum = 0;  // keeps the work observable
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < bytes.size(); ++i) {
        Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes[i].data()), bytes[i].size(), {}, files[i]);
        checksum += img.pixels[img.pixels.size() / 2];
      }
      auto t1 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < bytes.size(); ++i) {
        // The same steps as the pipeline's process_image: decode with gray RGB collapsed, resize.
        DecodeOptions opt;
        opt.collapse_gray_rgb = true;
        Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes[i].data()), bytes[i].size(), opt, files[i]);
        Image out = resize_bilinear(img, width, height);
        checksum += out.pixels[out.pixels.size() / 2];
      }
      auto t2 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < bytes.size(); ++i) {
        DecodeOptions opt;
        opt.collapse_gray_rgb = true;
        Image img = decode_image(reinterpret_cast<const uint8_t*>(bytes[i].data()), bytes[i].size(), opt, files[i]);
        Image out = resize_bilinear(img, width, height);
        Sha256 h;
        h.update(out.pixels.data(), out.pixels.size());
        checksum += static_cast<size_t>(h.hex_digest()[0]);
      }
      auto t3 = std::chrono::steady_clock::now();
      decode_rates.push_back(bytes.size() / std::chrono::duration<double>(t1 - t0).count());
      full_rates.push_back(bytes.size() / std::chrono::duration<double>(t2 - t1).count());
      hashed_rates.push_back(bytes.size() / std::chrono::duration<double>(t3 - t2).count());
    }
    std::printf("floor decode_only %.1f\nfloor decode_resize %.1f\nfloor decode_resize_sha256 %.1f\n", median(decode_rates),
                median(full_rates), median(hashed_rates));
    std::fprintf(stderr, "preprocess_floor: %zu images, %d rep(s), checksum %zu\n", bytes.size(), reps, checksum);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "preprocess_floor: %s\n", e.what());
    return 1;
  }
  return 0;
}
