// SentencePiece's loader: finds libomnitune_spm.so, dlopens it privately (RTLD_LOCAL keeps its
// symbols out of the process, RTLD_DEEPBIND makes sentencepiece bind to its own protobuf-lite, not
// LibTorch's libprotobuf) once per process, and wraps its C calls in a C++ class.
#include "tokenizer/sentencepiece.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <utility>

#include "core/error.h"
#include "core/log.h"
#include "tokenizer/spm_shim_api.h"

namespace omnitune {
namespace {

constexpr const char* kShimName = "libomnitune_spm.so";
constexpr const char* kShimEnv = "OMNITUNE_SPM_SHIM";

#ifdef RTLD_DEEPBIND
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
#else
constexpr int kDlopenFlags = RTLD_NOW | RTLD_LOCAL;
#endif

// The shim's entry points, resolved once and never unloaded.
struct ShimApi {
  std::string path;
  decltype(&omnitune_spm_abi_version) abi_version = nullptr;
  decltype(&omnitune_spm_last_error) last_error = nullptr;
  decltype(&omnitune_spm_load) load = nullptr;
  decltype(&omnitune_spm_destroy) destroy = nullptr;
  decltype(&omnitune_spm_get_info) get_info = nullptr;
  decltype(&omnitune_spm_release) release = nullptr;
  decltype(&omnitune_spm_encode_ids) encode_ids = nullptr;
  decltype(&omnitune_spm_encode_pieces) encode_pieces = nullptr;
  decltype(&omnitune_spm_decode) decode = nullptr;
  decltype(&omnitune_spm_piece_to_id) piece_to_id = nullptr;
  decltype(&omnitune_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&omnitune_spm_is_control) is_control = nullptr;
};

template <typename Fn>
bool bind(void* lib, const char* name, Fn* fn, std::string* why) {
  dlerror();
  void* sym = dlsym(lib, name);
  if (!sym) {
    const char* err = dlerror();
    *why = std::string("missing symbol ") + name + " (" + (err ? err : "null") +
           "): not an omnitune shim of this version";
    return false;
  }
  *fn = reinterpret_cast<Fn>(sym);
  return true;
}

// Opens one candidate; on failure says why in *why and leaves nothing loaded.
bool try_open(const std::string& path, ShimApi* api, std::string* why) {
  std::error_code ec;
  if (path.find('/') != std::string::npos && !std::filesystem::exists(path, ec)) {
    *why = "no such file";
    return false;
  }
  void* lib = dlopen(path.c_str(), kDlopenFlags);
  if (!lib) {
    const char* err = dlerror();
    *why = std::string("dlopen failed: ") + (err ? err : "unknown error");
    return false;
  }
  ShimApi a;
  a.path = path;
  bool ok = bind(lib, "omnitune_spm_abi_version", &a.abi_version, why);
  if (ok && a.abi_version() != OMNITUNE_SPM_ABI_VERSION) {
    *why = "ABI version " + std::to_string(a.abi_version()) + ", this build needs " +
           std::to_string(OMNITUNE_SPM_ABI_VERSION) + " (a stale shim)";
    ok = false;
  }
  ok = ok && bind(lib, "omnitune_spm_last_error", &a.last_error, why) &&
       bind(lib, "omnitune_spm_load", &a.load, why) &&
       bind(lib, "omnitune_spm_destroy", &a.destroy, why) &&
       bind(lib, "omnitune_spm_get_info", &a.get_info, why) &&
       bind(lib, "omnitune_spm_release", &a.release, why) &&
       bind(lib, "omnitune_spm_encode_ids", &a.encode_ids, why) &&
       bind(lib, "omnitune_spm_encode_pieces", &a.encode_pieces, why) &&
       bind(lib, "omnitune_spm_decode", &a.decode, why) &&
       bind(lib, "omnitune_spm_piece_to_id", &a.piece_to_id, why) &&
       bind(lib, "omnitune_spm_id_to_piece", &a.id_to_piece, why) &&
       bind(lib, "omnitune_spm_is_control", &a.is_control, why);
  if (!ok) {
    dlclose(lib);
    return false;
  }
  *api = std::move(a);
  return true;
}

// The implicit search: beside the executable, the installed layout, then the build tree.
std::vector<std::string> default_candidates() {
  std::vector<std::string> out;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / kShimName).string());
    out.push_back((exe.parent_path() / ".." / "lib" / kShimName).lexically_normal().string());
  }
#ifdef OMNITUNE_SPM_SHIM_BUILD_PATH
  out.push_back(OMNITUNE_SPM_SHIM_BUILD_PATH);
#endif
  return out;
}

ShimApi load_shim() {
  ShimApi api;
  std::string why;
  const char* env = std::getenv(kShimEnv);
  if (env && *env) {
    if (!try_open(env, &api, &why))
      OT_FAIL("cannot load the sentencepiece shim from ", kShimEnv, "=", env, ": ", why,
              ". Fix: point ", kShimEnv, " at the ", kShimName,
              " built with this omnitune (<build>/lib/", kShimName,
              " or <prefix>/lib/", kShimName, "), or unset it to use the default search");
    OT_LOG_DEBUG("tokenizer: sentencepiece shim loaded from ", api.path, " (", kShimEnv, ")");
    return api;
  }
  std::string tried;
  for (const std::string& path : default_candidates()) {
    if (try_open(path, &api, &why)) {
      OT_LOG_DEBUG("tokenizer: sentencepiece shim loaded from ", api.path);
      return api;
    }
    tried += "\n  " + path + ": " + why;
  }
  OT_FAIL("cannot load the sentencepiece shim ", kShimName,
          " (the tokenizer runs sentencepiece through it). Tried:", tried,
          "\nFix: set ", kShimEnv, " to the path of ", kShimName,
          ", or rebuild the omnitune_spm target (it goes to <build>/lib) or reinstall "
          "(it goes to <prefix>/lib)");
}

// Loaded on first use; a failed load throws and is retried by the next call.
const ShimApi& shim() {
  static const ShimApi api = load_shim();
  return api;
}

// Gives shim-allocated arrays back to the shim.
struct ShimRelease {
  void operator()(void* p) const { shim().release(p); }
};
template <typename T>
using ShimPtr = std::unique_ptr<T, ShimRelease>;

}  // namespace

SentencePiece::SentencePiece(const std::string& model_path) : model_path_(model_path) {
  std::error_code ec;
  OT_REQUIRE(std::filesystem::is_regular_file(model_path, ec), "tokenizer model ", model_path,
             " does not exist or is not a file: point the tokenizer path at a SentencePiece "
             "tokenizer.model (Hugging Face Gemma checkpoints ship one beside config.json)");
  const ShimApi& api = shim();
  if (api.load(model_path.c_str(), &handle_) != OMNITUNE_SPM_OK)
    OT_FAIL("cannot load tokenizer model ", model_path, ": ", api.last_error(),
            ". Fix: use the SentencePiece tokenizer.model of the checkpoint (not tokenizer.json) "
            "and check that the file is complete");
  omnitune_spm_info info{};
  if (api.get_info(handle_, &info) != OMNITUNE_SPM_OK) {
    const std::string err = api.last_error();
    api.destroy(handle_);
    handle_ = nullptr;
    OT_FAIL("cannot read the vocabulary of tokenizer model ", model_path, ": ", err);
  }
  vocab_size_ = info.vocab_size;
  bos_id_ = info.bos_id;
  eos_id_ = info.eos_id;
  pad_id_ = info.pad_id;
  unk_id_ = info.unk_id;
}

SentencePiece::~SentencePiece() {
  if (handle_) shim().destroy(handle_);
}

SentencePiece::SentencePiece(SentencePiece&& other) noexcept
    : model_path_(std::move(other.model_path_)),
      handle_(std::exchange(other.handle_, nullptr)),
      vocab_size_(other.vocab_size_),
      bos_id_(other.bos_id_),
      eos_id_(other.eos_id_),
      pad_id_(other.pad_id_),
      unk_id_(other.unk_id_) {}

SentencePiece& SentencePiece::operator=(SentencePiece&& other) noexcept {
  if (this != &other) {
    if (handle_) shim().destroy(handle_);
    model_path_ = std::move(other.model_path_);
    handle_ = std::exchange(other.handle_, nullptr);
    vocab_size_ = other.vocab_size_;
    bos_id_ = other.bos_id_;
    eos_id_ = other.eos_id_;
    pad_id_ = other.pad_id_;
    unk_id_ = other.unk_id_;
  }
  return *this;
}

const omnitune_spm* SentencePiece::handle() const {
  OT_CHECK(handle_ != nullptr, "SentencePiece used after being moved from");
  return handle_;
}

void SentencePiece::fail(const char* what) const {
  OT_FAIL("tokenizer ", model_path_, ": ", what, " failed: ", shim().last_error());
}

std::vector<int32_t> SentencePiece::encode(const std::string& text) const {
  int32_t* ids = nullptr;
  size_t n = 0;
  if (shim().encode_ids(handle(), text.data(), text.size(), &ids, &n) != OMNITUNE_SPM_OK)
    fail("encode");
  ShimPtr<int32_t> owned(ids);
  return std::vector<int32_t>(ids, ids + n);
}

std::vector<std::string> SentencePiece::encode_pieces(const std::string& text) const {
  char* bytes = nullptr;
  size_t* ends = nullptr;
  size_t n = 0;
  if (shim().encode_pieces(handle(), text.data(), text.size(), &bytes, &ends, &n) !=
      OMNITUNE_SPM_OK)
    fail("encode_pieces");
  ShimPtr<char> owned_bytes(bytes);
  ShimPtr<size_t> owned_ends(ends);
  std::vector<std::string> pieces;
  pieces.reserve(n);
  size_t begin = 0;
  for (size_t i = 0; i < n; ++i) {
    pieces.emplace_back(bytes + begin, ends[i] - begin);
    begin = ends[i];
  }
  return pieces;
}

std::string SentencePiece::decode(const std::vector<int32_t>& ids) const {
  char* text = nullptr;
  size_t len = 0;
  if (shim().decode(handle(), ids.data(), ids.size(), &text, &len) != OMNITUNE_SPM_OK)
    fail("decode");
  ShimPtr<char> owned(text);
  return std::string(text, len);
}

int32_t SentencePiece::piece_to_id(const std::string& piece) const {
  return shim().piece_to_id(handle(), piece.data(), piece.size());
}

std::string SentencePiece::id_to_piece(int32_t id) const {
  const char* piece = nullptr;
  size_t len = 0;
  if (shim().id_to_piece(handle(), id, &piece, &len) != OMNITUNE_SPM_OK) fail("id_to_piece");
  return std::string(piece, len);
}

bool SentencePiece::is_control(int32_t id) const {
  int control = 0;
  if (shim().is_control(handle(), id, &control) != OMNITUNE_SPM_OK) fail("is_control");
  return control != 0;
}

std::string SentencePiece::shim_path() { return shim().path; }

}  // namespace omnitune
