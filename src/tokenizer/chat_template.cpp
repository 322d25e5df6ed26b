// Chat template as an id builder: literal text spans are encoded with SentencePiece, special
// pieces are inserted as ids. Splitting at special pieces gives the same ids as encoding the whole
// rendered string, because SentencePiece matches user-defined pieces before anything else (the
// tests check this equality on the real Gemma 3 vocabulary).
#include "tokenizer/chat_template.h"

#include "core/error.h"

namespace omnitune {

std::string chat_trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

int32_t GemmaChatTemplate::require_piece(const std::string& piece) const {
  int32_t id = sp_.piece_to_id(piece);
  OT_REQUIRE(id != sp_.unk_id() || piece == "<unk>", "tokenizer ", sp_.model_path(), " has no piece '",
             piece, "': it is not a Gemma tokenizer (or was trained without the Gemma special tokens)");
  return id;
}

GemmaChatTemplate::GemmaChatTemplate(const SentencePiece& sp, ChatTemplateOptions opt) : sp_(sp), opt_(opt) {
  bos_ = sp.bos_id();
  OT_REQUIRE(bos_ >= 0, "tokenizer ", sp.model_path(), " defines no BOS piece");
  start_of_turn_ = require_piece("<start_of_turn>");
  end_of_turn_ = require_piece("<end_of_turn>");
  if (opt_.image_tokens > 0) {
    boi_ = require_piece("<start_of_image>");
    eoi_ = require_piece("<end_of_image>");
    image_soft_ = require_piece("<image_soft_token>");
  }
  if (opt_.audio_tokens > 0) {
    boa_ = require_piece("<start_of_audio>");
    eoa_ = require_piece("<end_of_audio>");
    audio_soft_ = require_piece("<audio_soft_token>");
  }
}

namespace {

std::string role_name(const std::string& role) { return role == "assistant" ? "model" : role; }

void check_roles(const std::vector<ChatMessage>& msgs, size_t first) {
  OT_REQUIRE(msgs.size() > first, "a conversation needs at least one user message");
  for (size_t i = first; i < msgs.size(); ++i) {
    const std::string& r = msgs[i].role;
    OT_REQUIRE(r == "user" || r == "assistant" || r == "model", "message ", i, " has role '", r,
               "': use system (first message only), user or assistant");
    const bool want_user = (i - first) % 2 == 0;
    OT_REQUIRE((r == "user") == want_user,
               "conversation roles must alternate user/assistant/user/... (message ", i, " is '", r, "')");
  }
}

// The system text folded into the first user turn (template: string content, or its first item).
std::string system_prefix(const std::vector<ChatMessage>& msgs) {
  if (msgs.empty() || msgs[0].role != "system") return "";
  OT_REQUIRE(!msgs[0].content.empty() && msgs[0].content[0].kind == ChatItem::Kind::Text,
             "the system message must start with a text item");
  return msgs[0].content[0].text + "\n\n";
}

}  // namespace

std::string GemmaChatTemplate::render(const std::vector<ChatMessage>& msgs, bool gen) const {
  const size_t first = (!msgs.empty() && msgs[0].role == "system") ? 1 : 0;
  check_roles(msgs, first);
  std::string out = "<bos>";
  const std::string prefix = system_prefix(msgs);
  for (size_t i = first; i < msgs.size(); ++i) {
    out += "<start_of_turn>" + role_name(msgs[i].role) + "\n" + (i == first ? prefix : "");
    for (const ChatItem& it : msgs[i].content) {
      if (it.kind == ChatItem::Kind::Text) out += chat_trim(it.text);
      else if (it.kind == ChatItem::Kind::Image) out += "<start_of_image>";
      else out += "<audio_soft_token>";
    }
    out += "<end_of_turn>\n";
  }
  if (gen) out += "<start_of_turn>model\n";
  return out;
}

void GemmaChatTemplate::append_text(ChatEncoding& e, const std::string& text, uint8_t loss) const {
  if (text.empty()) return;
  for (int32_t id : sp_.encode(text)) append_id(e, id, loss, kTokenText);
}

void GemmaChatTemplate::append_id(ChatEncoding& e, int32_t id, uint8_t loss, uint8_t type) const {
  e.ids.push_back(id);
  e.loss_mask.push_back(loss);
  e.token_type.push_back(type);
}

ChatEncoding GemmaChatTemplate::encode(const std::vector<ChatMessage>& msgs, bool gen) const {
  const size_t first = (!msgs.empty() && msgs[0].role == "system") ? 1 : 0;
  check_roles(msgs, first);
  const std::string prefix = system_prefix(msgs);
  ChatEncoding e;
  append_id(e, bos_, 0, kTokenText);
  // Text between special pieces accumulates here and is encoded as one span, exactly as
  // SentencePiece would see it in the whole rendered string.
  std::string pending;
  uint8_t pending_loss = 0;
  auto flush = [&]() {
    append_text(e, pending, pending_loss);
    pending.clear();
  };
  for (size_t i = first; i < msgs.size(); ++i) {
    const bool target = msgs[i].role != "user";
    flush();
    append_id(e, start_of_turn_, 0, kTokenText);
    pending = role_name(msgs[i].role) + "\n" + (i == first ? prefix : "");
    pending_loss = 0;
    // The loss boundary: an assistant turn's header is context, its content the target, so the
    // two spans are encoded apart (Gemma's vocabulary has no token spanning "\n" and the text
    // after it; the tests compare with whole-string encoding).
    if (target) flush();
    pending_loss = target ? 1 : 0;
    for (const ChatItem& it : msgs[i].content) {
      if (it.kind == ChatItem::Kind::Text) {
        pending += chat_trim(it.text);
      } else if (it.kind == ChatItem::Kind::Image) {
        OT_REQUIRE(opt_.image_tokens > 0, "this model takes no images, but message ", i, " has one");
        OT_REQUIRE(!target, "images in assistant messages are not supported (message ", i, ")");
        pending += "\n\n";
        flush();
        append_id(e, boi_, 0, kTokenText);
        for (int64_t k = 0; k < opt_.image_tokens; ++k) append_id(e, image_soft_, 0, kTokenImage);
        append_id(e, eoi_, 0, kTokenText);
        pending = "\n\n";
        e.images++;
      } else {
        OT_REQUIRE(opt_.audio_tokens > 0, "this model takes no audio (Gemma 3 has no audio tower), but message ",
                   i, " has an audio item: use a Gemma 3n model");
        OT_REQUIRE(!target, "audio in assistant messages is not supported (message ", i, ")");
        pending += "\n\n";
        flush();
        append_id(e, boa_, 0, kTokenText);
        for (int64_t k = 0; k < opt_.audio_tokens; ++k) append_id(e, audio_soft_, 0, kTokenAudio);
        append_id(e, eoa_, 0, kTokenText);
        pending = "\n\n";
        e.audios++;
      }
    }
    flush();
    append_id(e, end_of_turn_, target ? 1 : 0, kTokenText);
    pending = "\n";
    pending_loss = 0;
  }
  flush();
  if (gen) {
    append_id(e, start_of_turn_, 0, kTokenText);
    append_text(e, "model\n", 0);
  }
  int64_t first_target = -1;
  for (size_t t = 0; t < e.ids.size(); ++t) {
    if (e.loss_mask[t]) {
      e.target_tokens++;
      if (first_target < 0) first_target = static_cast<int64_t>(t);
    }
  }
  e.prompt_tokens = first_target < 0 ? static_cast<int64_t>(e.ids.size()) : first_target;
  return e;
}

}  // namespace omnitune
