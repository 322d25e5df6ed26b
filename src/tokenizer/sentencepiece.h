// SentencePiece: a tokenizer model (tokenizer.model) behind the private shim libomnitune_spm.so.
// The shim is dlopen'ed once per process because Debian's sentencepiece crashes any process that
// also loads LibTorch (DESIGN.md §7); LibTorch apps and the preprocessor share this one path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct omnitune_spm;  // the shim's opaque model handle (tokenizer/spm_shim_api.h)

namespace omnitune {

class SentencePiece {
 public:
  // Loads the model; throws Error naming the file if it is missing or not a SentencePiece model,
  // or naming the paths tried if the shim cannot be loaded.
  explicit SentencePiece(const std::string& model_path);
  ~SentencePiece();
  SentencePiece(const SentencePiece&) = delete;
  SentencePiece& operator=(const SentencePiece&) = delete;
  SentencePiece(SentencePiece&& other) noexcept;
  SentencePiece& operator=(SentencePiece&& other) noexcept;

  // Token ids of text; no BOS/EOS added. Control pieces (<bos>) are never matched in text,
  // user-defined pieces (<start_of_turn>) are.
  std::vector<int32_t> encode(const std::string& text) const;
  std::vector<std::string> encode_pieces(const std::string& text) const;
  // Text of ids; throws Error on an id outside [0, vocab_size()).
  std::string decode(const std::vector<int32_t>& ids) const;

  int32_t piece_to_id(const std::string& piece) const;  // unk_id() if absent
  std::string id_to_piece(int32_t id) const;            // throws Error when out of range
  int32_t vocab_size() const { return vocab_size_; }
  // Special ids as the model defines them; -1 when the model has none.
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  bool is_control(int32_t id) const;  // control pieces like <bos>; throws Error when out of range
  const std::string& model_path() const { return model_path_; }

  // The path of the shim this process loaded (loading it now if needed). Search order:
  // $OMNITUNE_SPM_SHIM (only that, when set), <exe dir>/libomnitune_spm.so,
  // <exe dir>/../lib/libomnitune_spm.so, then the build tree's copy.
  static std::string shim_path();

 private:
  const omnitune_spm* handle() const;  // checks the object was not moved from
  [[noreturn]] void fail(const char* what) const;  // Error with the shim's last error

  std::string model_path_;
  omnitune_spm* handle_ = nullptr;  // owned; null only after a move
  int32_t vocab_size_ = 0;
  int32_t bos_id_ = -1;
  int32_t eos_id_ = -1;
  int32_t pad_id_ = -1;
  int32_t unk_id_ = -1;
};

}  // namespace omnitune
