// VQA metrics. Everything works on normalised tokens, so two answers that differ only in case,
// punctuation, articles or spelled-out small numbers score as equal.
#include "eval/vqa_metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace omnitune {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_ascii_punct(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u < 128 && std::ispunct(u);
}

const char* number_word(const std::string& w) {
  static const std::map<std::string, const char*> kNumbers = {
      {"zero", "0"}, {"one", "1"}, {"two", "2"},   {"three", "3"}, {"four", "4"}, {"five", "5"},
      {"six", "6"},  {"seven", "7"}, {"eight", "8"}, {"nine", "9"},  {"ten", "10"}};
  auto it = kNumbers.find(w);
  return it == kNumbers.end() ? nullptr : it->second;
}

std::vector<std::string> ngrams(const std::vector<std::string>& t, size_t n) {
  std::vector<std::string> out;
  if (t.size() < n) return out;
  for (size_t i = 0; i + n <= t.size(); ++i) {
    std::string g = t[i];
    for (size_t k = 1; k < n; ++k) g += '\x1f' + t[i + k];  // unit separator: never inside a token
    out.push_back(std::move(g));
  }
  return out;
}

// Multiset intersection size.
int64_t common_count(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::vector<std::string> both;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
  return static_cast<int64_t>(both.size());
}

int64_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<int64_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double f_measure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

double brevity_penalty(int64_t hyp_len, int64_t ref_len) {
  if (hyp_len <= 0) return 0.0;
  return hyp_len > ref_len ? 1.0 : std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(hyp_len));
}

}  // namespace

std::vector<std::string> vqa_normalize_tokens(const std::string& text) {
  std::string s;
  s.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool between_digits = i > 0 && i + 1 < text.size() && is_digit(text[i - 1]) && is_digit(text[i + 1]);
    if (c >= 'A' && c <= 'Z') s += static_cast<char>(c - 'A' + 'a');
    else if (c == ',' && between_digits) continue;
    else if (c == '.' && between_digits) s += c;
    else if (c == '\'') continue;
    else if (is_ascii_punct(c) || is_space(c)) s += ' ';
    else s += c;
  }
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) {
      std::string w = s.substr(i, j - i);
      if (const char* digits = number_word(w)) w = digits;
      if (w != "a" && w != "an" && w != "the") out.push_back(std::move(w));
    }
    i = j;
  }
  return out;
}

std::string vqa_normalize(const std::string& text) {
  std::string out;
  for (const auto& t : vqa_normalize_tokens(text)) out += (out.empty() ? "" : " ") + t;
  return out;
}

double vqa_exact_match(const std::string& prediction, const std::string& reference) {
  return vqa_normalize_tokens(prediction) == vqa_normalize_tokens(reference) ? 1.0 : 0.0;
}

double vqa_token_f1(const std::string& prediction, const std::string& reference) {
  const auto p = vqa_normalize_tokens(prediction), r = vqa_normalize_tokens(reference);
  if (p.empty() || r.empty()) return p.empty() && r.empty() ? 1.0 : 0.0;
  const double common = static_cast<double>(common_count(p, r));
  return f_measure(common / p.size(), common / r.size());
}

double vqa_rouge_l(const std::string& prediction, const std::string& reference) {
  const auto p = vqa_normalize_tokens(prediction), r = vqa_normalize_tokens(reference);
  if (p.empty() || r.empty()) return p.empty() && r.empty() ? 1.0 : 0.0;
  const double lcs = static_cast<double>(lcs_length(p, r));
  return f_measure(lcs / p.size(), lcs / r.size());
}

BleuCounts& BleuCounts::operator+=(const BleuCounts& o) {
  for (int n = 0; n < 4; ++n) {
    matches[n] += o.matches[n];
    totals[n] += o.totals[n];
  }
  hyp_len += o.hyp_len;
  ref_len += o.ref_len;
  return *this;
}

BleuCounts bleu_counts(const std::vector<std::string>& hyp, const std::vector<std::string>& ref) {
  BleuCounts c;
  c.hyp_len = static_cast<int64_t>(hyp.size());
  c.ref_len = static_cast<int64_t>(ref.size());
  for (size_t n = 1; n <= 4; ++n) {
    const auto h = ngrams(hyp, n);
    c.totals[n - 1] = static_cast<int64_t>(h.size());
    c.matches[n - 1] = common_count(h, ngrams(ref, n));  // clipped: each reference n-gram used once
  }
  return c;
}

double bleu_corpus(const BleuCounts& s) {
  double log_sum = 0;
  for (int n = 0; n < 4; ++n) {
    if (s.matches[n] == 0 || s.totals[n] == 0) return 0.0;
    log_sum += std::log(static_cast<double>(s.matches[n]) / static_cast<double>(s.totals[n]));
  }
  return brevity_penalty(s.hyp_len, s.ref_len) * std::exp(log_sum / 4);
}

double bleu_sentence(const BleuCounts& s) {
  if (s.matches[0] == 0 || s.totals[0] == 0) return 0.0;
  double log_sum = std::log(static_cast<double>(s.matches[0]) / static_cast<double>(s.totals[0]));
  for (int n = 1; n < 4; ++n)
    log_sum += std::log(static_cast<double>(s.matches[n] + 1) / static_cast<double>(s.totals[n] + 1));
  return brevity_penalty(s.hyp_len, s.ref_len) * std::exp(log_sum / 4);
}

double vqa_sentence_bleu(const std::string& prediction, const std::string& reference) {
  return bleu_sentence(bleu_counts(vqa_normalize_tokens(prediction), vqa_normalize_tokens(reference)));
}

VqaSummary vqa_evaluate(const std::vector<VqaExample>& examples) {
  struct Acc {
    VqaScores sums;
    BleuCounts counts;
  };
  Acc all;
  std::map<std::string, Acc> modes;
  VqaSummary out;
  out.items = static_cast<int64_t>(examples.size());
  for (const VqaExample& e : examples) {
    if (e.reference.empty()) continue;
    const auto p = vqa_normalize_tokens(e.prediction), r = vqa_normalize_tokens(e.reference);
    const BleuCounts bc = bleu_counts(p, r);
    VqaScores one;
    one.count = 1;
    one.exact_match = vqa_exact_match(e.prediction, e.reference);
    one.token_f1 = vqa_token_f1(e.prediction, e.reference);
    one.rouge_l = vqa_rouge_l(e.prediction, e.reference);
    one.bleu4_sentence = bleu_sentence(bc);
    for (Acc* a : {&all, &modes[e.mode.empty() ? "(none)" : e.mode]}) {
      a->sums.count += 1;
      a->sums.exact_match += one.exact_match;
      a->sums.token_f1 += one.token_f1;
      a->sums.rouge_l += one.rouge_l;
      a->sums.bleu4_sentence += one.bleu4_sentence;
      a->counts += bc;
    }
  }
  auto finish = [](const Acc& a) {
    VqaScores s = a.sums;
    if (s.count > 0) {
      const double n = static_cast<double>(s.count);
      s.exact_match /= n;
      s.token_f1 /= n;
      s.rouge_l /= n;
      s.bleu4_sentence /= n;
      s.bleu4_corpus = bleu_corpus(a.counts);
    }
    return s;
  };
  out.scored = all.sums.count;
  out.overall = finish(all);
  for (const auto& [mode, acc] : modes) out.per_mode[mode] = finish(acc);
  return out;
}

std::string vqa_summary_json(const VqaSummary& s) {
  auto scores = [](const VqaScores& v) {
    nlohmann::ordered_json j;
    j["count"] = v.count;
    j["exact_match"] = v.exact_match;
    j["token_f1"] = v.token_f1;
    j["bleu4_corpus"] = v.bleu4_corpus;
    j["bleu4_sentence"] = v.bleu4_sentence;
    j["rouge_l"] = v.rouge_l;
    return j;
  };
  nlohmann::ordered_json j;
  j["items"] = s.items;
  j["scored"] = s.scored;
  j["overall"] = scores(s.overall);
  j["per_mode"] = nlohmann::ordered_json::object();
  for (const auto& [mode, v] : s.per_mode) j["per_mode"][mode] = scores(v);
  j["metrics"] = {
      {"normalisation", "lowercase; ',' between digits dropped, '.' between digits kept, apostrophes dropped, "
                        "other punctuation -> space; number words zero..ten -> digits; articles a/an/the removed"},
      {"exact_match", "normalised token sequences equal"},
      {"token_f1", "SQuAD token F1 on normalised tokens (multiset overlap)"},
      {"bleu4_corpus", "corpus BLEU-4, brevity penalty, no smoothing, over the group's answers"},
      {"bleu4_sentence", "mean sentence BLEU-4 with BLEU+1 smoothing of 2- to 4-grams (Lin & Och 2004)"},
      {"rouge_l", "mean ROUGE-L F-measure (LCS, beta 1)"}};
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string vqa_summary_text(const VqaSummary& s) {
  std::string out = "evaluation: " + std::to_string(s.scored) + " of " + std::to_string(s.items) +
                    " items have a reference answer\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-24s %7s %7s %7s %7s %7s %7s\n", "group", "count", "EM", "F1", "BLEU4",
                "sBLEU4", "ROUGE-L");
  out += line;
  auto row = [&](const std::string& name, const VqaScores& v) {
    std::snprintf(line, sizeof line, "  %-24s %7lld %7.4f %7.4f %7.4f %7.4f %7.4f\n", name.c_str(),
                  static_cast<long long>(v.count), v.exact_match, v.token_f1, v.bleu4_corpus, v.bleu4_sentence,
                  v.rouge_l);
    out += line;
  };
  row("overall", s.overall);
  for (const auto& [mode, v] : s.per_mode) row("mode " + mode, v);
  return out;
}

}  // namespace omnitune
