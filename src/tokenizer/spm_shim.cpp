// libomnitune_spm.so: the only code that links sentencepiece, behind the C API of spm_shim_api.h.
// It is dlopen'ed privately so sentencepiece's embedded protobuf-lite never meets LibTorch's
// libprotobuf (DESIGN.md §7). Every entry point catches everything: no exception crosses dlopen.
#include "tokenizer/spm_shim_api.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#define OT_SPM_EXPORT extern "C" __attribute__((visibility("default")))

struct omnitune_spm {
  sentencepiece::SentencePieceProcessor proc;
};

namespace {

thread_local std::string g_last_error;

int fail(std::string msg) {
  g_last_error = std::move(msg);
  return OMNITUNE_SPM_ERROR;
}

// Runs body (returning a status), turning any exception into OMNITUNE_SPM_ERROR.
template <typename Body>
int guarded(const char* what, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return fail(std::string(what) + ": " + e.what());
  } catch (...) {
    return fail(std::string(what) + ": unknown exception");
  }
}

// malloc'ed array of n elements (at least one byte, so an empty result is still a valid pointer).
template <typename T>
T* malloc_array(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n * sizeof(T));
  if (!p) throw std::bad_alloc();
  return static_cast<T*>(p);
}

int check_id(const omnitune_spm* sp, int32_t id) {
  const int size = sp->proc.GetPieceSize();
  if (id < 0 || id >= size)
    return fail("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                std::to_string(size) + ")");
  return OMNITUNE_SPM_OK;
}

}  // namespace

OT_SPM_EXPORT int omnitune_spm_abi_version(void) { return OMNITUNE_SPM_ABI_VERSION; }

OT_SPM_EXPORT const char* omnitune_spm_last_error(void) { return g_last_error.c_str(); }

OT_SPM_EXPORT int omnitune_spm_load(const char* model_path, omnitune_spm** out) {
  return guarded("load", [&] {
    *out = nullptr;
    auto* sp = new omnitune_spm;
    const auto status = sp->proc.Load(model_path);
    if (!status.ok()) {
      delete sp;
      return fail(status.ToString());
    }
    *out = sp;
    return OMNITUNE_SPM_OK;
  });
}

OT_SPM_EXPORT void omnitune_spm_destroy(omnitune_spm* sp) { delete sp; }

OT_SPM_EXPORT void omnitune_spm_release(void* p) { std::free(p); }

OT_SPM_EXPORT int omnitune_spm_get_info(const omnitune_spm* sp, omnitune_spm_info* out) {
  return guarded("get_info", [&] {
    out->vocab_size = sp->proc.GetPieceSize();
    out->bos_id = sp->proc.bos_id();
    out->eos_id = sp->proc.eos_id();
    out->pad_id = sp->proc.pad_id();
    out->unk_id = sp->proc.unk_id();
    return OMNITUNE_SPM_OK;
  });
}

OT_SPM_EXPORT int omnitune_spm_encode_ids(const omnitune_spm* sp, const char* text,
                                          size_t text_len, int32_t** ids, size_t* n_ids) {
  return guarded("encode", [&] {
    std::vector<int> v;
    const auto status = sp->proc.Encode(std::string_view(text, text_len), &v);
    if (!status.ok()) return fail(status.ToString());
    int32_t* arr = malloc_array<int32_t>(v.size());
    for (size_t i = 0; i < v.size(); ++i) arr[i] = v[i];
    *ids = arr;
    *n_ids = v.size();
    return OMNITUNE_SPM_OK;
  });
}

OT_SPM_EXPORT int omnitune_spm_encode_pieces(const omnitune_spm* sp, const char* text,
                                             size_t text_len, char** bytes, size_t** ends,
                                             size_t* n_pieces) {
  return guarded("encode_pieces", [&] {
    std::vector<std::string> pieces;
    const auto status = sp->proc.Encode(std::string_view(text, text_len), &pieces);
    if (!status.ok()) return fail(status.ToString());
    size_t total = 0;
    for (const auto& p : pieces) total += p.size();
    char* b = malloc_array<char>(total);
    size_t* e = nullptr;
    try {
      e = malloc_array<size_t>(pieces.size());
    } catch (...) {
      std::free(b);
      throw;
    }
    size_t at = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::memcpy(b + at, pieces[i].data(), pieces[i].size());
      at += pieces[i].size();
      e[i] = at;
    }
    *bytes = b;
    *ends = e;
    *n_pieces = pieces.size();
    return OMNITUNE_SPM_OK;
  });
}

OT_SPM_EXPORT int omnitune_spm_decode(const omnitune_spm* sp, const int32_t* ids, size_t n_ids,
                                      char** text, size_t* text_len) {
  return guarded("decode", [&] {
    std::vector<int> v(n_ids);
    for (size_t i = 0; i < n_ids; ++i) {
      if (check_id(sp, ids[i]) != OMNITUNE_SPM_OK) return OMNITUNE_SPM_ERROR;
      v[i] = ids[i];
    }
    std::string s;
    const auto status = sp->proc.Decode(v, &s);
    if (!status.ok()) return fail(status.ToString());
    char* t = malloc_array<char>(s.size() + 1);
    std::memcpy(t, s.data(), s.size());
    t[s.size()] = '\0';
    *text = t;
    *text_len = s.size();
    return OMNITUNE_SPM_OK;
  });
}

OT_SPM_EXPORT int32_t omnitune_spm_piece_to_id(const omnitune_spm* sp, const char* piece,
                                               size_t piece_len) {
  try {
    return sp->proc.PieceToId(std::string_view(piece, piece_len));
  } catch (...) {
    return sp->proc.unk_id();
  }
}

OT_SPM_EXPORT int omnitune_spm_id_to_piece(const omnitune_spm* sp, int32_t id, const char** piece,
                                           size_t* piece_len) {
  return guarded("id_to_piece", [&] {
    if (check_id(sp, id) != OMNITUNE_SPM_OK) return OMNITUNE_SPM_ERROR;
    const std::string& p = sp->proc.IdToPiece(id);
    *piece = p.c_str();
    *piece_len = p.size();
    return OMNITUNE_SPM_OK;
  });
}

OT_SPM_EXPORT int omnitune_spm_is_control(const omnitune_spm* sp, int32_t id, int* is_control) {
  return guarded("is_control", [&] {
    if (check_id(sp, id) != OMNITUNE_SPM_OK) return OMNITUNE_SPM_ERROR;
    *is_control = sp->proc.IsControl(id) ? 1 : 0;
    return OMNITUNE_SPM_OK;
  });
}
