// libFuzzer target for the safetensors parser: any byte string either parses or throws
// omnitune::Error; a parsed file's bytes are all readable (ASan checks) and re-serialising it with
// the writer reproduces the same tensors. Also feeds the bytes to the index (weight_map) parser.
// With OMNITUNE_FUZZ_SEED_DIR set, it first writes small valid seed files there (see tests.cmake).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/safetensors.h"

using omnitune::DType;
using omnitune::SafetensorsFile;
using omnitune::SafetensorsWriter;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "fuzz_safetensors: %s\n", why.c_str());
  std::abort();
}

void write_seed(const std::filesystem::path& dir, const std::string& name,
                const std::vector<uint8_t>& bytes) {
  std::ofstream out(dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) die("cannot write seed " + (dir / name).string());
}

// Seeds cover every dtype, scalars, empty tensors, metadata, and an index file.
void write_seeds(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) die("cannot create seed directory " + dir.string() + ": " + ec.message());
  std::vector<uint8_t> bytes(64);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);

  const DType all[] = {DType::BOOL, DType::U8,  DType::I8,  DType::F8_E4M3, DType::F8_E5M2,
                       DType::I16,  DType::U16, DType::F16, DType::BF16,    DType::I32,
                       DType::U32,  DType::F32, DType::F64, DType::I64,     DType::U64};
  SafetensorsWriter every("seed");
  for (DType d : all)
    every.add(std::string("t.") + omnitune::dtype_name(d), d, {2}, bytes.data(), 2 * omnitune::dtype_size(d));
  write_seed(dir, "every_dtype.safetensors", every.to_bytes());

  SafetensorsWriter shapes("seed");
  shapes.set_metadata("format", "pt");
  shapes.add("scalar", DType::F32, {}, bytes.data(), 4);
  shapes.add("empty", DType::BF16, {0, 3}, nullptr, 0);
  shapes.add("matrix", DType::F16, {3, 4}, bytes.data(), 24);
  write_seed(dir, "shapes_metadata.safetensors", shapes.to_bytes());

  SafetensorsWriter one("seed");
  one.add("w", DType::U8, {1}, bytes.data(), 1);
  write_seed(dir, "one_byte.safetensors", one.to_bytes());

  const std::string index =
      R"({"metadata": {"total_size": 8}, "weight_map": {"a": "model-00001-of-00002.safetensors",)"
      R"( "b": "model-00002-of-00002.safetensors"}})";
  write_seed(dir, "index.json", std::vector<uint8_t>(index.begin(), index.end()));
}

// Re-serialises a parsed file and checks the copy parses to the same tensors and metadata.
void check_round_trip(const SafetensorsFile& f) {
  SafetensorsWriter w("fuzz-rewrite");
  for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
  for (const std::string& name : f.names()) {
    const omnitune::TensorInfo& info = f.info(name);
    w.add(name, info.dtype, info.shape, f.data(name), info.nbytes);
  }
  const SafetensorsFile g = SafetensorsFile::from_buffer("fuzz-rewrite", w.to_bytes());
  if (g.size() != f.size() || g.metadata() != f.metadata()) die("round trip changed the file");
  if (g.data_start() % 8 != 0) die("writer did not align the data start");
  for (const std::string& name : f.names()) {
    const omnitune::TensorInfo& a = f.info(name);
    const omnitune::TensorInfo& b = g.info(name);
    if (a.dtype != b.dtype || a.shape != b.shape || a.nbytes != b.nbytes ||
        std::memcmp(f.data(name), g.data(name), a.nbytes) != 0)
      die("round trip changed tensor " + name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("OMNITUNE_FUZZ_SEED_DIR")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<SafetensorsFile> file;
  try {
    file.emplace(SafetensorsFile::from_buffer("fuzz.safetensors", std::vector<uint8_t>(data, data + size)));
  } catch (const omnitune::Error&) {
    // Rejected with a user-facing message: the expected outcome for most inputs.
  }
  if (file) {
    // Read every byte the parser vouched for; ASan reports any read outside the buffer.
    volatile uint8_t sink = 0;
    for (const std::string& name : file->names()) {
      const omnitune::TensorInfo& info = file->info(name);
      if (info.offset + info.nbytes > file->file_size() || info.offset < file->data_start())
        die("tensor " + name + " lies outside the data buffer");
      const uint8_t* p = file->data(name);
      for (uint64_t i = 0; i < info.nbytes; ++i) sink = sink ^ p[i];
    }
    (void)sink;
    check_round_trip(*file);  // an Error here is a bug, so it is not caught: the fuzzer reports it
  }
  try {
    (void)omnitune::detail::parse_weight_map("fuzz.index.json",
                                             std::string(reinterpret_cast<const char*>(data), size));
  } catch (const omnitune::Error&) {
  }
  return 0;
}
