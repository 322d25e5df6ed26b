// The Gemma chat template and processor text expansion, as token ids. Renders a conversation
// exactly as the `chat_template` of google/gemma-3-4b-it's tokenizer_config.json does (BOS; system
// text folded into the first user turn; roles alternate; "assistant" written as "model"; text
// items trimmed; <end_of_turn>\n after each turn) and expands each image (and, for Gemma 3n,
// audio) item the way the HF processor does. Special pieces are looked up by name in the
// vocabulary, never hard-coded. One implementation for preprocessing and generation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/sentencepiece.h"

namespace omnitune {

struct ChatItem {
  enum class Kind { Text, Image, Audio };
  Kind kind = Kind::Text;
  std::string text;    // Text: the text; Image/Audio: the media reference (path, row id...)
};

struct ChatMessage {
  std::string role;               // "system", "user", "assistant" (or "model")
  std::vector<ChatItem> content;  // a plain string message is one Text item
};

struct ChatTemplateOptions {
  int64_t image_tokens = 256;  // mm_tokens_per_image (Gemma 3: 256; the fixture model: 4)
  int64_t audio_tokens = 0;    // Gemma 3n: 188; 0 = audio not supported by the model
};

// Token types, as HF's token_type_ids.
constexpr uint8_t kTokenText = 0, kTokenImage = 1, kTokenAudio = 3;

struct ChatEncoding {
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss_mask;   // 1 where the token is a training target: assistant text + its <end_of_turn>
  std::vector<uint8_t> token_type;  // kTokenText / kTokenImage / kTokenAudio per token
  int images = 0, audios = 0;       // media items in conversation order
  int64_t prompt_tokens = 0;        // tokens before the first assistant target
  int64_t target_tokens = 0;        // tokens with loss_mask 1
};

class GemmaChatTemplate {
 public:
  GemmaChatTemplate(const SentencePiece& sp, ChatTemplateOptions opt);

  // The template's text (with the literal "<bos>") before media expansion; for display and tests.
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // Ids with BOS as an id (SentencePiece never matches control pieces in text), media expanded.
  // Errors: roles that do not alternate, an audio item for a model without audio, empty content.
  ChatEncoding encode(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

  int32_t bos_id() const { return bos_; }
  int32_t end_of_turn_id() const { return end_of_turn_; }
  int32_t image_token_id() const { return image_soft_; }
  int32_t audio_token_id() const { return audio_soft_; }

 private:
  // Appends text (encoded), with the given loss flag and token type text.
  void append_text(ChatEncoding& e, const std::string& text, uint8_t loss) const;
  void append_id(ChatEncoding& e, int32_t id, uint8_t loss, uint8_t type) const;
  int32_t require_piece(const std::string& piece) const;

  const SentencePiece& sp_;
  ChatTemplateOptions opt_;
  int32_t bos_, start_of_turn_, end_of_turn_;
  int32_t boi_ = -1, eoi_ = -1, image_soft_ = -1;
  int32_t boa_ = -1, eoa_ = -1, audio_soft_ = -1;
};

// Python's str.strip() on ASCII whitespace, as Jinja's `trim`.
std::string chat_trim(const std::string& s);

}  // namespace omnitune
