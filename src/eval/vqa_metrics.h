// VQA answer metrics: the answer normalisation, exact match, token-level F1 (SQuAD style),
// BLEU-4 (corpus, and smoothed per sentence) and ROUGE-L (LCS F-measure), overall and per
// question `mode`, with a JSON summary. Plain C++ (no LibTorch): generation writes its answers
// as JSONL and this scores them. Every definition is in docs/cluster.md ("Evaluation metrics").
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace omnitune {

// Normalised answer tokens, in this order:
//  1. ASCII letters lowercased (other bytes, e.g. UTF-8, kept as they are);
//  2. a ',' between two digits is dropped ("1,000" -> "1000"), a '.' between two digits is kept
//     ("3.5"), an apostrophe is dropped ("patient's" -> "patients"), every other ASCII punctuation
//     character and every whitespace character becomes a space ("left-sided" -> "left sided");
//  3. split on spaces;
//  4. number words "zero".."ten" become digits ("two" -> "2");
//  5. the articles "a", "an", "the" are removed.
// This is the VQA evaluation's answer processing (punctuation, digits, articles) in a simpler,
// fully specified form, and SQuAD's normalize_answer plus the number mapping.
std::vector<std::string> vqa_normalize_tokens(const std::string& text);
// The normalised tokens joined by single spaces.
std::string vqa_normalize(const std::string& text);

// 1 when the normalised token sequences are equal, else 0.
double vqa_exact_match(const std::string& prediction, const std::string& reference);
// SQuAD token F1 on normalised tokens: common = multiset intersection size; precision =
// common / |prediction|, recall = common / |reference|, F1 = 2PR / (P + R); 0 without a common
// token; 1 when both are empty, 0 when only one is.
double vqa_token_f1(const std::string& prediction, const std::string& reference);
// ROUGE-L F-measure (beta = 1) on normalised tokens: LCS / |prediction| and LCS / |reference|,
// F = 2PR / (P + R); 1 when both are empty, 0 when only one is.
double vqa_rouge_l(const std::string& prediction, const std::string& reference);

// Clipped n-gram counts of one hypothesis against one reference (n = 1..4), on normalised tokens.
struct BleuCounts {
  std::array<int64_t, 4> matches{};  // clipped matches of n-grams, index n-1
  std::array<int64_t, 4> totals{};   // n-grams in the hypothesis
  int64_t hyp_len = 0, ref_len = 0;
  BleuCounts& operator+=(const BleuCounts& o);
};
BleuCounts bleu_counts(const std::vector<std::string>& hyp, const std::vector<std::string>& ref);
// Corpus BLEU-4 (Papineni et al. 2002) from summed counts: geometric mean of the four modified
// precisions times the brevity penalty exp(1 - r/c) when c <= r; 0 when any precision is 0
// (no smoothing) or the hypotheses are empty.
double bleu_corpus(const BleuCounts& summed);
// Sentence BLEU-4 with BLEU+1 smoothing (Lin & Och 2004): 2- to 4-gram precisions are
// (matches + 1) / (total + 1), the unigram precision is unsmoothed (0 unigram matches -> 0);
// brevity penalty as for the corpus.
double bleu_sentence(const BleuCounts& counts);
double vqa_sentence_bleu(const std::string& prediction, const std::string& reference);

// One scored answer.
struct VqaExample {
  std::string mode;        // question type (MedPix `mode`); "" = none
  std::string prediction;  // generated answer
  std::string reference;   // reference answer; "" = none (the item is counted, not scored)
};

// Means over the scored items of one group (corpus BLEU over the group's counts).
struct VqaScores {
  int64_t count = 0;
  double exact_match = 0, token_f1 = 0, bleu4_corpus = 0, bleu4_sentence = 0, rouge_l = 0;
};

struct VqaSummary {
  int64_t items = 0;    // all items
  int64_t scored = 0;   // items with a reference
  VqaScores overall;
  std::map<std::string, VqaScores> per_mode;  // key: mode, "(none)" when empty
};

VqaSummary vqa_evaluate(const std::vector<VqaExample>& examples);
// {"items", "scored", "overall": {...}, "per_mode": {mode: {...}}, "metrics": {...definitions}},
// pretty-printed with 2-space indent and a final newline.
std::string vqa_summary_json(const VqaSummary& summary);
// A small table for the log: one line per group.
std::string vqa_summary_text(const VqaSummary& summary);

}  // namespace omnitune
