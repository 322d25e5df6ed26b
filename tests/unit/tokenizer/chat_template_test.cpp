// The Gemma chat template on the real Gemma 3 vocabulary (tests/fixtures/gemma3-tokenizer):
// ids equal SentencePiece's encoding of the whole rendered, processor-expanded string (so the
// span-wise encoding changes nothing), the image block and token types are right, the loss mask
// covers exactly the assistant answers and their <end_of_turn>, and bad conversations are errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "../test_util.h"

using namespace omnitune;

namespace {

const std::string kModel = omnitune::test_util::fixture("gemma3-tokenizer", "tokenizer.model");

SentencePiece& sp() {
  static SentencePiece s = [] {
    if (!std::filesystem::exists(kModel)) ADD_FAILURE() << "shared fixture missing: " << kModel;
    return SentencePiece(kModel);
  }();
  return s;
}

ChatMessage user_image(const std::string& q) {
  return {"user", {{ChatItem::Kind::Image, "img.png"}, {ChatItem::Kind::Text, q}}};
}
ChatMessage text_msg(const std::string& role, const std::string& t) { return {role, {{ChatItem::Kind::Text, t}}}; }

// What HF produces: render, expand each <start_of_image> like the processor, encode the whole
// string after the literal <bos>, prepend the BOS id.
std::vector<int32_t> whole_string_ids(const GemmaChatTemplate& tpl, const std::vector<ChatMessage>& m,
                                      bool gen, int image_tokens) {
  std::string s = tpl.render(m, gen);
  EXPECT_EQ(s.rfind("<bos>", 0), 0u);
  s = s.substr(5);
  std::string block = "\n\n<start_of_image>";
  for (int i = 0; i < image_tokens; ++i) block += "<image_soft_token>";
  block += "<end_of_image>\n\n";
  std::string out;
  size_t pos = 0, hit;
  while ((hit = s.find("<start_of_image>", pos)) != std::string::npos) {
    out += s.substr(pos, hit - pos) + block;
    pos = hit + 16;
  }
  out += s.substr(pos);
  std::vector<int32_t> ids{sp().bos_id()};
  for (int32_t id : sp().encode(out)) ids.push_back(id);
  return ids;
}

}  // namespace

TEST(GemmaChatTemplate, MedPixRowEncodesLikeTheWholeRenderedString) {
  GemmaChatTemplate tpl(sp(), {256, 0});
  std::vector<ChatMessage> m{user_image("  What modality was used to take this image?\n"),
                             text_msg("assistant", " The image was taken with a CT scan.  ")};
  ChatEncoding e = tpl.encode(m, false);
  EXPECT_EQ(e.ids, whole_string_ids(tpl, m, false, 256));
  EXPECT_EQ(tpl.render(m, false),
            "<bos><start_of_turn>user\n<start_of_image>What modality was used to take this image?<end_of_turn>\n"
            "<start_of_turn>model\nThe image was taken with a CT scan.<end_of_turn>\n");
  // Structure: BOS, <start_of_turn>, one image block of 256 soft tokens, token types.
  EXPECT_EQ(e.ids[0], 2);
  EXPECT_EQ(e.ids[1], 105);
  int soft = 0;
  for (size_t t = 0; t < e.ids.size(); ++t) {
    EXPECT_EQ(e.token_type[t] == kTokenImage, e.ids[t] == 262144) << t;
    soft += e.ids[t] == 262144;
  }
  EXPECT_EQ(soft, 256);
  EXPECT_EQ(e.images, 1);
  // Loss mask: the answer's tokens and its <end_of_turn>, nothing else.
  std::vector<int32_t> answer = sp().encode("The image was taken with a CT scan.");
  std::vector<int32_t> targets;
  for (size_t t = 0; t < e.ids.size(); ++t)
    if (e.loss_mask[t]) targets.push_back(e.ids[t]);
  std::vector<int32_t> want = answer;
  want.push_back(106);
  EXPECT_EQ(targets, want);
  EXPECT_EQ(e.target_tokens, static_cast<int64_t>(want.size()));
  EXPECT_EQ(e.ids[e.prompt_tokens - 1], 107);  // "\n" of "<start_of_turn>model\n" is context
  EXPECT_EQ(e.ids.back(), 107);                // trailing "\n" after <end_of_turn>, not trained
  EXPECT_EQ(e.loss_mask.back(), 0);
}

TEST(GemmaChatTemplate, SystemTextIsFoldedIntoTheFirstUserTurnAndMultiTurnWorks) {
  GemmaChatTemplate tpl(sp(), {256, 0});
  std::vector<ChatMessage> m{text_msg("system", "You are a radiologist."), user_image("Describe it."),
                             text_msg("assistant", "A chest X-ray."), text_msg("user", "Any fracture?"),
                             text_msg("assistant", "No.")};
  EXPECT_EQ(tpl.render(m, false),
            "<bos><start_of_turn>user\nYou are a radiologist.\n\n<start_of_image>Describe it.<end_of_turn>\n"
            "<start_of_turn>model\nA chest X-ray.<end_of_turn>\n<start_of_turn>user\nAny fracture?<end_of_turn>\n"
            "<start_of_turn>model\nNo.<end_of_turn>\n");
  ChatEncoding e = tpl.encode(m, false);
  EXPECT_EQ(e.ids, whole_string_ids(tpl, m, false, 256));
  std::vector<int32_t> targets;
  for (size_t t = 0; t < e.ids.size(); ++t)
    if (e.loss_mask[t]) targets.push_back(e.ids[t]);
  std::vector<int32_t> want = sp().encode("A chest X-ray.");
  want.push_back(106);
  for (int32_t id : sp().encode("No.")) want.push_back(id);
  want.push_back(106);
  EXPECT_EQ(targets, want);
}

TEST(GemmaChatTemplate, GenerationPromptEndsWithModelTurnHeader) {
  GemmaChatTemplate tpl(sp(), {256, 0});
  std::vector<ChatMessage> m{user_image("Which organ is shown?")};
  ChatEncoding e = tpl.encode(m, true);
  EXPECT_EQ(e.ids, whole_string_ids(tpl, m, true, 256));
  std::vector<int32_t> tail(e.ids.end() - 5, e.ids.end());
  EXPECT_EQ(tail, (std::vector<int32_t>{106, 107, 105, 4368, 107}));
  EXPECT_EQ(e.target_tokens, 0);
}

TEST(GemmaChatTemplate, SmallImageBlocksAndSeveralImages) {
  GemmaChatTemplate tpl(sp(), {4, 0});  // the tiny fixture model's mm_tokens_per_image
  std::vector<ChatMessage> m{{"user", {{ChatItem::Kind::Image, "a"}, {ChatItem::Kind::Text, "and"},
                                       {ChatItem::Kind::Image, "b"}, {ChatItem::Kind::Text, "compare"}}},
                             text_msg("assistant", "same")};
  ChatEncoding e = tpl.encode(m, false);
  EXPECT_EQ(e.ids, whole_string_ids(tpl, m, false, 4));
  EXPECT_EQ(e.images, 2);
  int soft = 0;
  for (int32_t id : e.ids) soft += id == 262144;
  EXPECT_EQ(soft, 8);
}

TEST(GemmaChatTemplate, BadConversationsAreClearErrors) {
  GemmaChatTemplate tpl(sp(), {256, 0});
  EXPECT_THROW(tpl.encode({text_msg("assistant", "hi")}, false), Error);
  EXPECT_THROW(tpl.encode({text_msg("user", "a"), text_msg("user", "b")}, false), Error);
  EXPECT_THROW(tpl.encode({}, false), Error);
  EXPECT_THROW(tpl.encode({text_msg("robot", "a")}, false), Error);
  try {
    tpl.encode({{"user", {{ChatItem::Kind::Audio, "clip.wav"}}}}, false);
    FAIL() << "expected an Error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("Gemma 3n"), std::string::npos) << err.what();
  }
  EXPECT_EQ(chat_trim(" \t a b \n"), "a b");
  EXPECT_EQ(chat_trim("   "), "");
}
