// Safetensors reader/writer tests: bit-exact round trips for every dtype, one test per malformed
// header rule (each checks its message names the file, the tensor and the problem), sharded
// checkpoint directories, and the real tiny Gemma 3 fixture.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/safetensors.h"
#include "../test_util.h"

namespace omnitune {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "omnitune-st-XXXXXX").string();
    OT_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A file with the given header text (length taken from it unless overridden) and buffer bytes.
std::vector<uint8_t> raw_file(const std::string& header, size_t buffer_bytes,
                              std::optional<uint64_t> header_len = std::nullopt) {
  const uint64_t n = header_len ? *header_len : header.size();
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < buffer_bytes; ++i) out.push_back(static_cast<uint8_t>(i));
  return out;
}

// Runs fn, expects omnitune::Error, and checks every fragment appears in its message.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "message lacks \"" << f << "\":\n  " << msg;
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected omnitune::Error, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected omnitune::Error, nothing was thrown";
}

// Parses `header` + buffer from memory under the name "bad.safetensors" and expects an error.
void expect_bad_header(const std::string& header, size_t buffer_bytes,
                       const std::vector<std::string>& fragments) {
  std::vector<std::string> all = fragments;
  all.insert(all.begin(), "bad.safetensors: ");
  expect_error([&] { SafetensorsFile::from_buffer("bad.safetensors", raw_file(header, buffer_bytes)); },
               all);
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

const DType kAllDTypes[] = {DType::BOOL, DType::U8,  DType::I8,  DType::F8_E4M3, DType::F8_E5M2,
                            DType::I16,  DType::U16, DType::F16, DType::BF16,    DType::I32,
                            DType::U32,  DType::F32, DType::F64, DType::I64,     DType::U64};

// ---- dtype helpers --------------------------------------------------------------------------

TEST(SafetensorsDType, NamesSizesAndLookupAgree) {
  const std::map<std::string, size_t> expected = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (DType d : kAllDTypes) {
    const std::string name = dtype_name(d);
    ASSERT_EQ(expected.count(name), 1u) << name;
    EXPECT_EQ(dtype_size(d), expected.at(name)) << name;
    EXPECT_EQ(dtype_from_name(name), d) << name;
  }
  EXPECT_FALSE(dtype_from_name("bf16").has_value());  // the header spelling is upper case
  EXPECT_FALSE(dtype_from_name("F128").has_value());
}

// ---- round trips ----------------------------------------------------------------------------

TEST(SafetensorsRoundTrip, EveryDtypeAndShapeReloadsBitExact) {
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Tensor> tensors;
  uint32_t seed = 1;
  for (DType d : kAllDTypes) {
    const std::string n = dtype_name(d);
    for (const auto& shape : std::vector<std::vector<int64_t>>{{3, 5}, {7}, {}, {0}, {2, 0, 3}, {1, 1, 2, 3}}) {
      int64_t numel = 1;
      for (int64_t s : shape) numel *= s;
      std::string name = n + ".rank" + std::to_string(shape.size()) + "." + std::to_string(numel);
      tensors.push_back({name, d, shape, random_bytes(static_cast<size_t>(numel) * dtype_size(d), seed++)});
    }
  }
  SafetensorsWriter w(path);
  for (const Tensor& t : tensors) w.add(t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size());
  w.set_metadata("format", "pt");
  w.set_metadata("note", "unicode: \xc3\xa9\xe2\x82\xac");
  w.write();

  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.file_size(), fs::file_size(path));
  ASSERT_EQ(f.size(), tensors.size());
  for (const Tensor& t : tensors) {
    SCOPED_TRACE(t.name);
    ASSERT_TRUE(f.contains(t.name));
    const TensorInfo& info = f.info(t.name);
    EXPECT_EQ(info.dtype, t.dtype);
    EXPECT_EQ(info.shape, t.shape);
    EXPECT_EQ(info.nbytes, t.bytes.size());
    EXPECT_EQ(static_cast<uint64_t>(info.numel()) * dtype_size(t.dtype), t.bytes.size());
    EXPECT_GE(info.offset, f.data_start());
    EXPECT_EQ(info.offset % dtype_size(t.dtype), 0u) << "misaligned";
    EXPECT_LE(info.offset + info.nbytes, f.file_size());
    if (!t.bytes.empty()) {  // memcmp must not see the null data() of an empty vector
      EXPECT_EQ(std::memcmp(f.data(t.name), t.bytes.data(), t.bytes.size()), 0);
    }
  }
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{
                              {"format", "pt"}, {"note", "unicode: \xc3\xa9\xe2\x82\xac"}}));
  // File order is the writer's layout: largest element size first, insertion order among equals
  // (empty tensors sort by name among those sharing an offset, so compare the non-empty ones).
  std::vector<std::string> expected_nonempty, got_nonempty;
  for (size_t size : {8, 4, 2, 1})
    for (const Tensor& t : tensors)
      if (!t.bytes.empty() && dtype_size(t.dtype) == size) expected_nonempty.push_back(t.name);
  for (const std::string& n : f.names())
    if (f.info(n).nbytes > 0) got_nonempty.push_back(n);
  EXPECT_EQ(got_nonempty, expected_nonempty);
}

TEST(SafetensorsRoundTrip, ScalarAndEmptyTensorsHaveExpectedInfo) {
  const float scalar = 3.5f;
  SafetensorsWriter w("mem.safetensors");
  w.add("scalar", DType::F32, {}, &scalar, sizeof(scalar));
  w.add("empty", DType::BF16, {0}, nullptr, 0);
  const SafetensorsFile f = SafetensorsFile::from_buffer("mem.safetensors", w.to_bytes());
  EXPECT_TRUE(f.info("scalar").shape.empty());
  EXPECT_EQ(f.info("scalar").numel(), 1);
  float back = 0;
  std::memcpy(&back, f.data("scalar"), sizeof(back));
  EXPECT_EQ(back, 3.5f);
  EXPECT_EQ(f.info("empty").shape, std::vector<int64_t>{0});
  EXPECT_EQ(f.info("empty").numel(), 0);
  EXPECT_EQ(f.info("empty").nbytes, 0u);
}

TEST(SafetensorsRoundTrip, DataStartIsEightByteAlignedAndHeaderPaddedWithSpaces) {
  const uint8_t byte = 7;
  for (size_t len = 1; len <= 17; ++len) {
    SCOPED_TRACE(len);
    SafetensorsWriter w("pad.safetensors");
    w.add(std::string(len, 'x'), DType::U8, {1}, &byte, 1);
    const std::vector<uint8_t> bytes = w.to_bytes();
    const SafetensorsFile f = SafetensorsFile::from_buffer("pad.safetensors", bytes);
    EXPECT_EQ(f.data_start() % 8, 0u);
    EXPECT_EQ(f.data_start() + 1, bytes.size());
    // The JSON ends with '}' and any padding after it is spaces, as the Python library writes.
    size_t end = f.data_start();
    while (bytes[end - 1] == ' ') --end;
    EXPECT_EQ(bytes[end - 1], '}');
    EXPECT_LT(f.data_start() - end, 8u);
  }
}

TEST(SafetensorsRoundTrip, EveryTensorIsAlignedToItsElementSize) {
  // Added in an order that would misalign F32/F64 if written as given.
  const uint8_t u8[3] = {1, 2, 3};
  const float f32[3] = {1, 2, 3};
  const double f64[2] = {4, 5};
  const uint16_t bf16[1] = {0x3f80};
  SafetensorsWriter w("align.safetensors");
  w.add("odd_bytes", DType::U8, {3}, u8, sizeof(u8));
  w.add("bf16", DType::BF16, {1}, bf16, sizeof(bf16));
  w.add("f32", DType::F32, {3}, f32, sizeof(f32));
  w.add("f64", DType::F64, {2}, f64, sizeof(f64));
  const SafetensorsFile f = SafetensorsFile::from_buffer("align.safetensors", w.to_bytes());
  EXPECT_EQ(f.names(), (std::vector<std::string>{"f64", "f32", "bf16", "odd_bytes"}));
  for (const std::string& n : f.names())
    EXPECT_EQ(f.info(n).offset % dtype_size(f.info(n).dtype), 0u) << n;
  double back[2];
  std::memcpy(back, f.data("f64"), sizeof(back));
  EXPECT_EQ(back[1], 5.0);
  EXPECT_EQ(std::memcmp(f.data("odd_bytes"), u8, 3), 0);
}

TEST(SafetensorsRoundTrip, HeaderIsStandardSafetensorsJson) {
  // What a Python reader sees: the exact dtype/shape/data_offsets layout, metadata first.
  const int32_t v[2] = {1, 2};
  SafetensorsWriter w("std.safetensors");
  w.set_metadata("format", "pt");
  w.add("b", DType::I32, {2}, v, sizeof(v));
  w.add("a", DType::I32, {1, 2}, v, sizeof(v));
  const std::vector<uint8_t> bytes = w.to_bytes();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  const std::string text(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  const auto h = nlohmann::json::parse(text);
  EXPECT_EQ(h["__metadata__"], nlohmann::json({{"format", "pt"}}));
  EXPECT_EQ(h["b"], nlohmann::json::parse(R"({"dtype":"I32","shape":[2],"data_offsets":[0,8]})"));
  EXPECT_EQ(h["a"], nlohmann::json::parse(R"({"dtype":"I32","shape":[1,2],"data_offsets":[8,16]})"));
  EXPECT_EQ(text.find("__metadata__"), 2u);  // metadata comes first
}

TEST(SafetensorsRoundTrip, FromBufferMatchesOpen) {
  TempDir dir;
  const std::vector<uint8_t> payload = random_bytes(64, 9);
  SafetensorsWriter w(dir.file("m.safetensors"));
  w.add("w", DType::F16, {4, 8}, payload.data(), payload.size());
  w.write();
  const SafetensorsFile a = SafetensorsFile::open(dir.file("m.safetensors"));
  const SafetensorsFile b = SafetensorsFile::from_buffer("m", w.to_bytes());
  EXPECT_EQ(a.file_size(), b.file_size());
  EXPECT_EQ(a.info("w").offset, b.info("w").offset);
  EXPECT_EQ(std::memcmp(a.data("w"), b.data("w"), 64), 0);
}

TEST(SafetensorsRoundTrip, MovedFileKeepsDataPointersValid) {
  TempDir dir;
  const std::vector<uint8_t> payload = random_bytes(32, 3);
  SafetensorsWriter w(dir.file("m.safetensors"));
  w.add("t", DType::U8, {32}, payload.data(), payload.size());
  w.write();
  SafetensorsFile a = SafetensorsFile::open(dir.file("m.safetensors"));
  const uint8_t* p = a.data("t");
  SafetensorsFile b = std::move(a);
  EXPECT_EQ(b.data("t"), p);
  SafetensorsFile c = SafetensorsFile::from_buffer("x", w.to_bytes());
  c = std::move(b);  // c drops its own bytes and takes over b's mapping
  EXPECT_EQ(c.data("t"), p);
  SafetensorsFile d = SafetensorsFile::from_buffer("y", w.to_bytes());
  const uint8_t* q = d.data("t");
  SafetensorsFile e = std::move(d);
  EXPECT_EQ(e.data("t"), q);
  EXPECT_EQ(std::memcmp(e.data("t"), payload.data(), 32), 0);
  EXPECT_EQ(std::memcmp(c.data("t"), payload.data(), 32), 0);
}

TEST(SafetensorsRoundTrip, MissingNameErrorListsClosestNames) {
  const uint8_t b[4] = {};
  SafetensorsWriter w("model.safetensors");
  w.add("model.layers.0.mlp.up_proj.weight", DType::U8, {1}, b, 1);
  w.add("model.layers.0.mlp.down_proj.weight", DType::U8, {1}, b + 1, 1);
  w.add("model.norm.weight", DType::U8, {1}, b + 2, 1);
  w.add("lm_head.weight", DType::U8, {1}, b + 3, 1);
  const SafetensorsFile f = SafetensorsFile::from_buffer("model.safetensors", w.to_bytes());
  EXPECT_FALSE(f.contains("model.layers.0.mlp.up_proj.wieght"));
  expect_error([&] { f.info("model.layers.0.mlp.up_proj.wieght"); },
               {"model.safetensors: no tensor named 'model.layers.0.mlp.up_proj.wieght'",
                "holds 4 tensors", "closest: 'model.layers.0.mlp.up_proj.weight'"});
  expect_error([&] { f.data("nope"); }, {"no tensor named 'nope'"});
}

// ---- writer --------------------------------------------------------------------------------

TEST(SafetensorsWriter, WriteIsAtomicAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("out.safetensors");
  const uint8_t old_bytes[2] = {1, 2}, new_bytes[3] = {7, 8, 9};
  SafetensorsWriter first(path);
  first.add("old", DType::U8, {2}, old_bytes, 2);
  first.write();
  SafetensorsWriter second(path);
  second.add("new", DType::U8, {3}, new_bytes, 3);
  second.write();  // replaces the file
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.names(), std::vector<std::string>{"new"});
  EXPECT_EQ(std::memcmp(f.data("new"), new_bytes, 3), 0);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir.path())) files.push_back(e.path().filename());
  EXPECT_EQ(files, std::vector<std::string>{"out.safetensors"});
}

TEST(SafetensorsWriter, MissingDirectoryErrorNamesPathAndReason) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/out.safetensors");
  SafetensorsWriter w(path);
  w.add("x", DType::U8, {0}, nullptr, 0);
  expect_error([&] { w.write(); }, {path, "No such file or directory", "check that the directory exists"});
  EXPECT_FALSE(fs::exists(path));
}

TEST(SafetensorsWriter, FailedRenameRemovesTemporaryAndKeepsTarget) {
  TempDir dir;
  // The target is a non-empty directory, so rename() fails after the data was written.
  const std::string path = dir.file("target");
  fs::create_directories(path + "/keep");
  SafetensorsWriter w(path);
  const uint8_t b = 1;
  w.add("x", DType::U8, {1}, &b, 1);
  expect_error([&] { w.write(); }, {path + ": cannot rename " + path + ".tmp."});
  EXPECT_TRUE(fs::is_directory(path + "/keep"));
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u) << "the temporary file was left behind";
}

TEST(SafetensorsWriter, RejectsSizeMismatchDuplicatesReservedNameAndNegativeDims) {
  const float v[6] = {};
  SafetensorsWriter w("w.safetensors");
  expect_error([&] { w.add("a", DType::F32, {2, 3}, v, 20); },
               {"w.safetensors: tensor 'a' has shape [2, 3] (6 x F32 = 24 bytes) but 20 bytes of data were given"});
  w.add("a", DType::F32, {2, 3}, v, 24);
  expect_error([&] { w.add("a", DType::F32, {6}, v, 24); }, {"tensor 'a' was added twice"});
  expect_error([&] { w.add("__metadata__", DType::F32, {6}, v, 24); }, {"reserved"});
  expect_error([&] { w.add("neg", DType::F32, {-1, 6}, v, 24); },
               {"tensor 'neg' has shape [-1, 6]", "non-negative"});
  expect_error([&] { w.add("bad\xff", DType::F32, {6}, v, 24); }, {"not valid UTF-8"});
}

// ---- malformed files: one rule per test -----------------------------------------------------

TEST(SafetensorsMalformed, ZeroByteFile) {
  TempDir dir;
  const std::string path = dir.file("empty.safetensors");
  write_bytes(path, {});
  expect_error([&] { SafetensorsFile::open(path); }, {path + ": the file is empty (0 bytes)"});
}

TEST(SafetensorsMalformed, FileShorterThanEightBytes) {
  TempDir dir;
  const std::string path = dir.file("short.safetensors");
  write_bytes(path, {1, 2, 3});
  expect_error([&] { SafetensorsFile::open(path); },
               {path + ": the file is only 3 bytes", "8-byte header length", "truncated"});
}

TEST(SafetensorsMalformed, HeaderLengthLargerThanFile) {
  expect_error([] { SafetensorsFile::from_buffer("bad.safetensors", raw_file("{}", 0, 1000)); },
               {"bad.safetensors: the header length in the first 8 bytes is 1000 bytes but only 2 "
                "bytes follow (file size 10)", "truncated"});
}

TEST(SafetensorsMalformed, HeaderLengthOverLimit) {
  expect_error([] { SafetensorsFile::from_buffer("bad.safetensors", raw_file("{}", 0, 100000001)); },
               {"bad.safetensors: the header length in the first 8 bytes is 100000001 bytes, over "
                "the 100000000-byte limit"});
}

TEST(SafetensorsMalformed, InvalidJson) {
  expect_bad_header(R"({"a": {"dtype": "F32",)", 0, {"the header is not valid JSON", "parse error"});
}

TEST(SafetensorsMalformed, InvalidUtf8InHeader) {
  expect_bad_header("{\"a\xff\": 1}", 0, {"the header is not valid JSON", "UTF-8"});
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  expect_bad_header("[1, 2, 3]", 0, {"the header is a JSON array but must be an object"});
}

TEST(SafetensorsMalformed, EntryNotAnObject) {
  expect_bad_header(R"({"a": "F32"})", 0,
                    {"tensor 'a' has a header entry that is a JSON string, not an object"});
}

TEST(SafetensorsMalformed, MissingDataOffsets) {
  expect_bad_header(R"({"a": {"dtype": "F32", "shape": [1]}})", 4,
                    {"tensor 'a' has no \"data_offsets\""});
}

TEST(SafetensorsMalformed, UnknownDtype) {
  expect_bad_header(R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4,
                    {"tensor 'w' has unknown dtype 'F33'", "known: BOOL, U8"});
}

TEST(SafetensorsMalformed, NegativeShape) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2, -1], "data_offsets": [0, 4]}})", 4,
                    {"tensor 'w' has shape [2,-1]: dimension 1 is -1",
                     "dimensions must be non-negative integers"});
}

TEST(SafetensorsMalformed, NonIntegerShape) {
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 4]}})", 4,
                    {"tensor 'w' has shape [2.5]: dimension 0 is 2.5"});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w' has shape [\"2\"]: dimension 0 is \"2\""});
  expect_bad_header(R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})", 8,
                    {"tensor 'w' has shape 2, which is not an array"});
}

TEST(SafetensorsMalformed, ShapeProductOverflow) {
  expect_bad_header(
      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0,
      {"tensor 'w' has shape [4294967296,4294967296] whose size in F32 overflows 64 bits"});
  // The element count fits but the byte count does not.
  expect_bad_header(
      R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0,
      {"tensor 'w'", "overflows 64 bits"});
}

TEST(SafetensorsMalformed, OffsetsOutOfTheBuffer) {
  expect_bad_header(R"({"w": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}})", 8,
                    {"tensor 'w' has data_offsets [4, 12] but the data buffer holds only 8 bytes",
                     "truncated or corrupt"});
}

TEST(SafetensorsMalformed, OffsetsNotTwoIntegers) {
  expect_bad_header(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4, 8]}})", 4,
                    {"tensor 'w' has data_offsets [0,4,8], but they must be [begin, end]"});
  expect_bad_header(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}})", 4,
                    {"tensor 'w' has data_offsets [-4,0]"});
}

TEST(SafetensorsMalformed, BeginAfterEnd) {
  expect_bad_header(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [8, 4]}})", 8,
                    {"tensor 'w' has data_offsets [8, 4]: begin is after end"});
}

TEST(SafetensorsMalformed, SizeMismatch) {
  expect_bad_header(R"({"a.weight": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 10]}})",
                    10,
                    {"tensor 'a.weight' has shape [2, 3] (6 x BF16 = 12 bytes) but data_offsets "
                     "[0, 10] span 10 bytes; the file is truncated or corrupt"});
}

TEST(SafetensorsMalformed, OverlappingTensors) {
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                        "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}})",
                    12, {"tensors 'a' (data_offsets [0, 8]) and 'b' ([4, 12]) overlap"});
}

TEST(SafetensorsMalformed, HoleBetweenTensors) {
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                        "b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}})",
                    12, {"the data buffer has a hole: bytes [4, 8) between tensor 'a' and tensor 'b'",
                         "no holes"});
}

TEST(SafetensorsMalformed, HoleBeforeFirstTensor) {
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}})", 8,
                    {"hole: bytes [0, 4) before the first tensor 'a'"});
}

TEST(SafetensorsMalformed, TrailingBytesAfterLastTensor) {
  expect_bad_header(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})", 12,
                    {"hole: its last 8 bytes (buffer bytes [4, 12)) come after the last tensor 'a'"});
  expect_bad_header("{}", 3, {"its last 3 bytes", "which lists no tensors"});
}

TEST(SafetensorsMalformed, DuplicateTensorNames) {
  expect_bad_header(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                        "w": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}})",
                    8, {"tensor 'w' appears twice in the header", "names must be unique"});
}

TEST(SafetensorsMalformed, DuplicateKeyInsideEntry) {
  expect_bad_header(R"({"w": {"dtype": "U8", "dtype": "F32", "shape": [4], "data_offsets": [0, 4]}})",
                    4, {"the entry 'w' has key 'dtype' twice in the header"});
}

TEST(SafetensorsMalformed, MetadataWithNonStringValue) {
  expect_bad_header(R"({"__metadata__": {"format": "pt", "step": 3}})", 0,
                    {"\"__metadata__\" key 'step' has a number value (3)",
                     "metadata values must be strings"});
}

TEST(SafetensorsMalformed, MetadataNotAnObject) {
  expect_bad_header(R"({"__metadata__": ["pt"]})", 0,
                    {"\"__metadata__\" is a JSON array but must be an object of string values"});
}

TEST(SafetensorsMalformed, DeeplyNestedJson) {
  expect_bad_header(std::string(100, '[') + std::string(100, ']'), 0,
                    {"the header nests JSON deeper than 16 levels"});
}

TEST(SafetensorsMalformed, TruncatedFile) {
  TempDir dir;
  const std::string path = dir.file("cut.safetensors");
  const std::vector<uint8_t> payload = random_bytes(400, 5);
  SafetensorsWriter w(path);
  w.add("a", DType::F32, {50}, payload.data(), 200);
  w.add("b", DType::F32, {50}, payload.data() + 200, 200);
  std::vector<uint8_t> bytes = w.to_bytes();
  bytes.resize(bytes.size() - 10);  // a download or copy that stopped early
  write_bytes(path, bytes);
  expect_error([&] { SafetensorsFile::open(path); },
               {path + ": tensor 'b' has data_offsets [200, 400] but the data buffer holds only 390 "
                       "bytes; the file is truncated or corrupt"});
}

TEST(SafetensorsMalformed, MissingFileErrorNamesPath) {
  TempDir dir;
  const std::string path = dir.file("nope.safetensors");
  expect_error([&] { SafetensorsFile::open(path); },
               {path + ": cannot open safetensors file: No such file or directory"});
}

TEST(SafetensorsMalformed, DirectoryInsteadOfFile) {
  TempDir dir;
  expect_error([&] { SafetensorsFile::open(dir.path()); },
               {dir.path() + ": is a directory, not a safetensors file"});
}

// ---- checkpoint directories -----------------------------------------------------------------

void write_shard(const std::string& path, const std::vector<std::pair<std::string, float>>& tensors) {
  std::vector<std::vector<float>> storage;
  SafetensorsWriter w(path);
  storage.reserve(tensors.size());
  for (const auto& [name, value] : tensors) {
    storage.push_back({value, value + 1, value + 2});
    w.add(name, DType::F32, {3}, storage.back().data(), 3 * sizeof(float));
  }
  w.write();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

float first_float(const uint8_t* p) {
  float f = 0;
  std::memcpy(&f, p, sizeof(f));
  return f;
}

const char* kTwoShardIndex = R"({
  "metadata": {"total_size": 48},
  "weight_map": {
    "model.embed.weight": "model-00001-of-00002.safetensors",
    "model.layers.0.w": "model-00001-of-00002.safetensors",
    "model.layers.1.w": "model-00002-of-00002.safetensors",
    "lm_head.weight": "model-00002-of-00002.safetensors"
  }
})";

TEST(SafetensorsIndex, ShardedCheckpointReadsTensorsFromBothShards) {
  TempDir dir;
  write_shard(dir.file("model-00001-of-00002.safetensors"), {{"model.embed.weight", 1}, {"model.layers.0.w", 10}});
  write_shard(dir.file("model-00002-of-00002.safetensors"), {{"model.layers.1.w", 20}, {"lm_head.weight", 30}});
  write_text(dir.file("model.safetensors.index.json"), kTwoShardIndex);
  const SafetensorsIndex ix = SafetensorsIndex::open(dir.path());
  EXPECT_TRUE(ix.sharded());
  EXPECT_EQ(ix.dir(), dir.path());
  ASSERT_EQ(ix.files().size(), 2u);
  EXPECT_EQ(ix.names(), (std::vector<std::string>{"model.embed.weight", "model.layers.0.w",
                                                  "model.layers.1.w", "lm_head.weight"}));
  EXPECT_EQ(first_float(ix.data("model.embed.weight")), 1.0f);
  EXPECT_EQ(first_float(ix.data("model.layers.0.w")), 10.0f);
  EXPECT_EQ(first_float(ix.data("model.layers.1.w")), 20.0f);
  EXPECT_EQ(first_float(ix.data("lm_head.weight") + 8), 32.0f);
  EXPECT_EQ(ix.info("lm_head.weight").shape, std::vector<int64_t>{3});
  EXPECT_EQ(ix.file_of("model.layers.1.w").path(), dir.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(ix.file_of("model.embed.weight").path(), dir.file("model-00001-of-00002.safetensors"));
  EXPECT_FALSE(ix.contains("model.layers.2.w"));
  expect_error([&] { ix.info("model.layers.2.w"); },
               {dir.path() + ": the checkpoint has no tensor named 'model.layers.2.w'",
                "closest: 'model.layers.0.w'"});
}

TEST(SafetensorsIndex, IndexPointingToMissingShard) {
  TempDir dir;
  write_shard(dir.file("model-00001-of-00002.safetensors"), {{"model.embed.weight", 1}, {"model.layers.0.w", 10}});
  write_text(dir.file("model.safetensors.index.json"), kTwoShardIndex);
  expect_error([&] { SafetensorsIndex::open(dir.path()); },
               {dir.file("model.safetensors.index.json"), "weight_map puts 2 tensor(s)",
                "in shard 'model-00002-of-00002.safetensors'",
                dir.file("model-00002-of-00002.safetensors") + " does not exist",
                "re-download the missing shard"});
}

TEST(SafetensorsIndex, IndexNamingTensorAbsentFromItsShard) {
  TempDir dir;
  write_shard(dir.file("model-00001-of-00002.safetensors"), {{"model.embed.weight", 1}, {"model.layers.0.w", 10}});
  write_shard(dir.file("model-00002-of-00002.safetensors"), {{"model.layers.1.w", 20}, {"lm_head.wt", 30}});
  write_text(dir.file("model.safetensors.index.json"), kTwoShardIndex);
  expect_error([&] { SafetensorsIndex::open(dir.path()); },
               {"weight_map puts tensor 'lm_head.weight' in shard 'model-00002-of-00002.safetensors', "
                "but that shard has no such tensor", "closest: 'lm_head.wt'"});
}

TEST(SafetensorsIndex, MalformedIndexJson) {
  TempDir dir;
  const std::string index = dir.file("model.safetensors.index.json");
  write_text(index, R"({"metadata": {}})");
  expect_error([&] { SafetensorsIndex::open(dir.path()); }, {index + ": the index has no \"weight_map\""});
  write_text(index, R"({"weight_map": {"a": 3}})");
  expect_error([&] { SafetensorsIndex::open(dir.path()); },
               {"weight_map entry 'a' is a JSON number but must be a shard file name"});
  write_text(index, R"({"weight_map": {"a": "../../etc/x.safetensors"}})");
  expect_error([&] { SafetensorsIndex::open(dir.path()); }, {"'..' are not allowed"});
  write_text(index, R"({"weight_map": {"a": "s.safetensors", "a": "t.safetensors"}})");
  expect_error([&] { SafetensorsIndex::open(dir.path()); },
               {"the entry 'weight_map' has key 'a' twice in the index"});
  write_text(index, "{\"weight_map\": ");
  expect_error([&] { SafetensorsIndex::open(dir.path()); }, {index + ": the index is not valid JSON"});
}

TEST(SafetensorsIndex, SingleFileCheckpointDirectory) {
  TempDir dir;
  write_shard(dir.file("model.safetensors"), {{"b", 2}, {"a", 1}});
  const SafetensorsIndex ix = SafetensorsIndex::open(dir.path());
  EXPECT_FALSE(ix.sharded());
  EXPECT_EQ(ix.names(), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(first_float(ix.data("a")), 1.0f);
  EXPECT_EQ(ix.file_of("b").path(), dir.file("model.safetensors"));
}

TEST(SafetensorsIndex, DirectoryWithoutCheckpointNamesWhatWasExpected) {
  TempDir dir;
  write_shard(dir.file("adapter_model.safetensors"), {{"a", 1}});
  expect_error([&] { SafetensorsIndex::open(dir.path()); },
               {dir.path() + ": no safetensors checkpoint here: expected model.safetensors or "
                             "model.safetensors.index.json",
                "holds only adapter_model.safetensors"});
  expect_error([&] { SafetensorsIndex::open(dir.file("missing")); },
               {dir.file("missing") + ": checkpoint directory does not exist"});
}

// ---- the real fixture -----------------------------------------------------------------------

TEST(SafetensorsFixture, GemmaTinyReferenceOpensWithPlausibleTensors) {
  const std::string dir = omnitune::test_util::fixture_dir("gemma3-tiny-ref");
  ASSERT_TRUE(fs::exists(dir + "/model.safetensors"))
      << "fixture missing: " << dir << "/model.safetensors (tests/fixtures is part of the repository)";
  const SafetensorsIndex ix = SafetensorsIndex::open(dir);
  const SafetensorsFile& f = ix.files().at(0);
  EXPECT_GT(f.size(), 50u);
  EXPECT_EQ(f.metadata().at("format"), "pt");

  std::ifstream cfg_in(dir + "/config.json");
  const auto cfg = nlohmann::json::parse(cfg_in);
  const int64_t vocab = cfg["text_config"]["vocab_size"], hidden = cfg["text_config"]["hidden_size"];
  const int64_t layers = cfg["text_config"]["num_hidden_layers"];
  const std::string embed = "language_model.model.embed_tokens.weight";
  ASSERT_TRUE(ix.contains(embed));
  EXPECT_EQ(ix.info(embed).shape, (std::vector<int64_t>{vocab, hidden}));
  for (int64_t l = 0; l < layers; ++l)
    EXPECT_TRUE(ix.contains("language_model.model.layers." + std::to_string(l) +
                            ".mlp.down_proj.weight")) << l;
  size_t vision = 0;
  for (const std::string& n : ix.names()) {
    const TensorInfo& info = ix.info(n);
    EXPECT_TRUE(info.dtype == DType::F32 || info.dtype == DType::BF16 || info.dtype == DType::F16)
        << n << " has dtype " << dtype_name(info.dtype);
    vision += n.rfind("vision_tower.", 0) == 0;
  }
  EXPECT_GT(vision, 0u);
  // Embedding values are small finite floats, not garbage read from the wrong offset.
  ASSERT_EQ(ix.info(embed).dtype, DType::F32);
  double sum_sq = 0;
  for (int64_t i = 0; i < vocab * hidden; ++i) {
    const float v = first_float(ix.data(embed) + 4 * i);
    ASSERT_TRUE(std::isfinite(v)) << i;
    sum_sq += double(v) * v;
  }
  const double rms = std::sqrt(sum_sq / double(vocab * hidden));
  EXPECT_GT(rms, 1e-4);
  EXPECT_LT(rms, 10.0);

  const SafetensorsFile ref = SafetensorsFile::open(dir + "/reference.safetensors");
  EXPECT_TRUE(ref.contains("input_ids"));
  EXPECT_EQ(ref.info("input_ids").dtype, DType::I64);
}

}  // namespace
}  // namespace omnitune
