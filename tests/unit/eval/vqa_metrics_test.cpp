// VQA metrics against values computed by hand (the arithmetic is in the comments).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/vqa_metrics.h"

using namespace omnitune;

TEST(VqaNormalize, LowercasesStripsPunctuationAndArticles) {
  EXPECT_EQ(vqa_normalize("The Lesion, in the LEFT-frontal lobe!"), "lesion in left frontal lobe");
  EXPECT_EQ(vqa_normalize("  A  mass\tan\nartery "), "mass artery");
  EXPECT_EQ(vqa_normalize("Theory of the thesis"), "theory of thesis");  // only whole-word articles
}

TEST(VqaNormalize, NumbersAndApostrophes) {
  EXPECT_EQ(vqa_normalize("Two lesions measuring 3.5 cm and 1,000 ml."), "2 lesions measuring 3.5 cm and 1000 ml");
  EXPECT_EQ(vqa_normalize("Patient's ten ribs, 4, 5"), "patients 10 ribs 4 5");  // ", " is not between digits
  EXPECT_EQ(vqa_normalize("end. Start"), "end start");
  EXPECT_EQ(vqa_normalize("T1/T2 (MRI)"), "t1 t2 mri");
  EXPECT_EQ(vqa_normalize("èdema"), "èdema");  // UTF-8 passes through
  EXPECT_EQ(vqa_normalize("?!..."), "");
  EXPECT_EQ(vqa_normalize_tokens("the cat sat").size(), 2u);
}

TEST(VqaMetrics, ExactMatchIsOnNormalisedText) {
  EXPECT_EQ(vqa_exact_match("The left lung.", "left LUNG"), 1.0);
  EXPECT_EQ(vqa_exact_match("two", "2"), 1.0);
  EXPECT_EQ(vqa_exact_match("left lung", "right lung"), 0.0);
}

TEST(VqaMetrics, TokenF1) {
  // [cat sat on mat] vs [cat is on mat]: 3 common, P = R = 3/4.
  EXPECT_DOUBLE_EQ(vqa_token_f1("the cat sat on the mat", "the cat is on the mat"), 0.75);
  // Multisets: [left left lobe] vs [left lobe lobe]: common = min(2,1) + min(1,2) = 2, P = R = 2/3.
  EXPECT_NEAR(vqa_token_f1("left left lobe", "left lobe lobe"), 2.0 / 3.0, 1e-12);
  // [left frontal lobe lesion] vs [lesion left lobe]: 3 common, P = 3/4, R = 1, F1 = 1.5/1.75 = 6/7.
  EXPECT_NEAR(vqa_token_f1("left frontal lobe lesion", "lesion left lobe"), 6.0 / 7.0, 1e-12);
  EXPECT_EQ(vqa_token_f1("brain", "chest"), 0.0);
  EXPECT_EQ(vqa_token_f1("", "the"), 1.0);  // both normalise to nothing
  EXPECT_EQ(vqa_token_f1("", "brain"), 0.0);
}

TEST(VqaMetrics, RougeL) {
  // LCS([cat sat on mat], [cat is on mat]) = [cat on mat] = 3: P = R = 3/4.
  EXPECT_DOUBLE_EQ(vqa_rouge_l("the cat sat on the mat", "the cat is on the mat"), 0.75);
  // LCS([left frontal lobe lesion], [lesion left lobe]) = [left lobe] = 2: P = 1/2, R = 2/3,
  // F = 2 (1/2)(2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7. Order matters, unlike F1 (6/7).
  EXPECT_NEAR(vqa_rouge_l("left frontal lobe lesion", "lesion left lobe"), 4.0 / 7.0, 1e-12);
  EXPECT_EQ(vqa_rouge_l("x", "y"), 0.0);
  EXPECT_EQ(vqa_rouge_l("An", ""), 1.0);
}

TEST(VqaMetrics, BleuCountsAreClipped) {
  // hyp [x x x y], ref [x y y]: unigram matches min(3,1) + min(1,2) = 2 of 4.
  BleuCounts c = bleu_counts({"x", "x", "x", "y"}, {"x", "y", "y"});
  EXPECT_EQ(c.matches[0], 2);
  EXPECT_EQ(c.totals[0], 4);
  EXPECT_EQ(c.matches[1], 1);  // bigrams (x x)(x x)(x y) vs (x y)(y y): (x y) once
  EXPECT_EQ(c.totals[1], 3);
  EXPECT_EQ(c.totals[3], 1);
  EXPECT_EQ(c.hyp_len, 4);
  EXPECT_EQ(c.ref_len, 3);
}

TEST(VqaMetrics, SentenceBleuWithBleuPlusOne) {
  // [cat sat on mat] vs [cat is on mat]: p1 = 3/4, p2 = (1+1)/(3+1), p3 = (0+1)/(2+1),
  // p4 = (0+1)/(1+1); BP = 1 (c = r = 4): (3/4 * 1/2 * 1/3 * 1/2)^(1/4) = (1/16)^(1/4) = 0.5.
  EXPECT_NEAR(vqa_sentence_bleu("the cat sat on the mat", "the cat is on the mat"), 0.5, 1e-12);
  EXPECT_NEAR(vqa_sentence_bleu("left lobe", "left lobe"), 1.0, 1e-12);  // n > 2: (0+1)/(0+1)
  // Shorter hypothesis: [left lobe] vs [left frontal lobe]: p1 = 1, p2 = (0+1)/(1+1), p3 = p4 = 1,
  // BP = exp(1 - 3/2): 0.5^(1/4) * exp(-0.5).
  EXPECT_NEAR(vqa_sentence_bleu("left lobe", "left frontal lobe"), std::pow(0.5, 0.25) * std::exp(-0.5), 1e-12);
  EXPECT_EQ(vqa_sentence_bleu("brain", "chest"), 0.0);
  EXPECT_EQ(vqa_sentence_bleu("", "chest"), 0.0);
}

TEST(VqaMetrics, CorpusBleuSumsCountsAndAppliesBrevityPenalty) {
  // A: 4 tokens all matching: matches = totals = (4, 3, 2, 1).
  // B: [red blue] vs [red blue green black]: matches = totals = (2, 1, 0, 0).
  // Corpus: p_n = 6/6, 4/4, 2/2, 1/1 = 1; c = 6, r = 8: BLEU = exp(1 - 8/6) = exp(-1/3).
  BleuCounts sum = bleu_counts(vqa_normalize_tokens("red blue green yellow"), vqa_normalize_tokens("red blue green yellow"));
  sum += bleu_counts(vqa_normalize_tokens("red blue"), vqa_normalize_tokens("red blue green black"));
  EXPECT_NEAR(bleu_corpus(sum), std::exp(-1.0 / 3.0), 1e-12);
  // No 4-gram match anywhere: corpus BLEU is 0 (unsmoothed).
  EXPECT_EQ(bleu_corpus(bleu_counts({"a1", "b1", "c1", "d1"}, {"a1", "b1", "c1", "e1"})), 0.0);
  EXPECT_EQ(bleu_corpus(BleuCounts{}), 0.0);
}

TEST(VqaMetrics, EvaluateGroupsByModeAndSkipsMissingReferences) {
  std::vector<VqaExample> ex = {
      {"modality", "CT scan", "ct scan"},                                  // EM 1, F1 1, ROUGE 1, sBLEU 1
      {"modality", "MRI", "ct"},                                           // all 0
      {"location", "the cat sat on the mat", "the cat is on the mat"},     // EM 0, F1 .75, R .75, sBLEU .5
      {"", "anything", ""},                                                // no reference: not scored
  };
  VqaSummary s = vqa_evaluate(ex);
  EXPECT_EQ(s.items, 4);
  EXPECT_EQ(s.scored, 3);
  EXPECT_EQ(s.overall.count, 3);
  EXPECT_NEAR(s.overall.exact_match, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.overall.token_f1, (1.0 + 0.0 + 0.75) / 3.0, 1e-12);
  EXPECT_NEAR(s.overall.rouge_l, (1.0 + 0.0 + 0.75) / 3.0, 1e-12);
  // "CT scan" vs "ct scan": p1 = 2/2, p2 = (1+1)/(1+1), p3 = p4 = 1 -> 1.
  EXPECT_NEAR(s.overall.bleu4_sentence, (1.0 + 0.0 + 0.5) / 3.0, 1e-12);
  ASSERT_EQ(s.per_mode.size(), 2u);  // the unscored item adds no group
  EXPECT_EQ(s.per_mode.at("modality").count, 2);
  EXPECT_NEAR(s.per_mode.at("modality").exact_match, 0.5, 1e-12);
  EXPECT_NEAR(s.per_mode.at("location").token_f1, 0.75, 1e-12);
  // Corpus BLEU of "modality": summed totals (2,1,0,0)+(1,0,0,0): no 3-grams at all -> 0.
  EXPECT_EQ(s.per_mode.at("modality").bleu4_corpus, 0.0);
  EXPECT_EQ(s.per_mode.at("location").bleu4_corpus, 0.0);  // [cat sat on mat] has no matching 3-gram
}

TEST(VqaMetrics, SummaryJsonCarriesEveryGroup) {
  std::vector<VqaExample> ex = {{"modality", "CT", "ct"}, {"", "left lobe", "right lobe"}};
  VqaSummary s = vqa_evaluate(ex);
  nlohmann::json j = nlohmann::json::parse(vqa_summary_json(s));
  EXPECT_EQ(j["items"], 2);
  EXPECT_EQ(j["scored"], 2);
  EXPECT_EQ(j["overall"]["count"], 2);
  EXPECT_DOUBLE_EQ(j["overall"]["exact_match"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["per_mode"]["(none)"]["token_f1"].get<double>(), 0.5);  // [left lobe] vs [right lobe]
  EXPECT_DOUBLE_EQ(j["per_mode"]["modality"]["rouge_l"].get<double>(), 1.0);
  EXPECT_TRUE(j["metrics"].contains("bleu4_sentence"));
  const std::string text = vqa_summary_text(s);
  EXPECT_NE(text.find("2 of 2 items"), std::string::npos);
  EXPECT_NE(text.find("mode modality"), std::string::npos);
}
