// Source readers. Row-level problems (a missing value, bad UTF-8, a duplicate id) do not stop the
// run: they mark the row with a reason that ends up in rejects.jsonl.
#include "pipeline/source.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/read_file.h"
#include "parquet/parquet_file.h"

namespace omnitune {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool valid_utf8(const std::string& s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    for (int k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += len;
  }
  return true;
}

std::string media_key(MediaKind kind, const std::string& sha256) {
  return (kind == MediaKind::Image ? "image:" : "audio:") + sha256;
}

std::string media_key_sha(const std::string& key) { return key.substr(key.find(':') + 1); }

std::string media_bytes(const MediaSource& m) {
  if (m.path.empty()) return m.bytes;
  return read_file(m.path);
}

namespace {

// Builds the flat-row conversation and checks its text.
void make_flat_conversation(SourceRow& r, const std::string& question, const std::string& answer,
                            const std::string& system) {
  if (!valid_utf8(question) || !valid_utf8(answer)) {
    r.error = "text is not valid UTF-8";
    return;
  }
  if (chat_trim(question).empty()) {
    r.error = "empty question";
    return;
  }
  if (chat_trim(answer).empty()) {
    r.error = "empty answer";
    return;
  }
  if (!system.empty()) r.messages.push_back({"system", {{ChatItem::Kind::Text, system}}});
  ChatMessage user{"user", {}};
  for (size_t k = 0; k < r.media.size(); ++k)
    user.content.push_back({r.media[k].kind == MediaKind::Image ? ChatItem::Kind::Image : ChatItem::Kind::Audio,
                            std::to_string(k)});
  user.content.push_back({ChatItem::Kind::Text, question});
  r.messages.push_back(user);
  r.messages.push_back({"assistant", {{ChatItem::Kind::Text, answer}}});
}

// RFC 4180 CSV: comma-separated, fields optionally in double quotes ("" is a quote inside), quoted
// fields may hold commas and newlines (MedPix answers do). Returns rows of fields.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, field_started = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      rows.back().push_back(field);
      field.clear();
      field_started = false;
      rows.emplace_back();
    } else {
      field += c;
      field_started = true;
    }
  }
  if (field_started || !rows.back().empty()) rows.back().push_back(field);
  while (!rows.empty() && (rows.back().empty() || (rows.back().size() == 1 && rows.back()[0].empty()))) rows.pop_back();
  return rows;
}

std::string resolve_format(const PreprocessSettings& s) {
  if (s.format != "auto") return s.format;
  if (fs::path(s.input).extension() == ".parquet") return "medpix_parquet";
  if (fs::path(s.input).extension() == ".csv") return "medpix_csv";
  std::ifstream in(s.input);
  std::string line;
  while (std::getline(in, line)) {
    if (chat_trim(line).empty()) continue;
    json j = json::parse(line, nullptr, false);
    return j.is_object() && j.contains("messages") ? "messages_jsonl" : "medpix_jsonl";
  }
  return "medpix_jsonl";
}

std::string image_column(const parquet::ParquetFile& f, const std::string& configured) {
  if (configured != "auto") return configured;
  // The HF datasets metadata names the Image feature; never guess from the name when it is there.
  auto kv = f.key_value_metadata();
  auto it = kv.find("huggingface");
  if (it != kv.end()) {
    json j = json::parse(it->second, nullptr, false);
    if (j.is_object() && j.contains("info") && j["info"].contains("features")) {
      for (auto& [name, feat] : j["info"]["features"].items())
        if (feat.is_object() && feat.value("_type", "") == "Image") return name;
    }
  }
  for (const char* cand : {"image", "image_id"}) {
    for (const auto& c : f.columns())
      if ((c.path == cand || c.path == std::string(cand) + ".bytes") && !c.is_string) return cand;
  }
  return "image_id";
}

// One flat-row media column of a Parquet file: the HF struct<bytes, path> layout (Image/Audio
// features), raw bytes, or a string column of file names relative to `dir`.
struct ParquetMediaColumn {
  MediaKind kind = MediaKind::Image;
  std::string bytes_col, path_col;  // either may be empty
  std::string dir;

  static ParquetMediaColumn find(const parquet::ParquetFile& f, const std::string& name, MediaKind kind,
                                 const std::string& dir, const std::string& key) {
    ParquetMediaColumn c;
    c.kind = kind;
    c.dir = dir;
    if (f.column_index(name + ".bytes") >= 0) {
      c.bytes_col = name + ".bytes";
      if (f.column_index(name + ".path") >= 0) c.path_col = name + ".path";
      return c;
    }
    const int idx = f.column_index(name);
    OT_REQUIRE(idx >= 0, f.path(), ": no ", kind == MediaKind::Image ? "image" : "audio", " column '", name,
               "' (set ", key, ")");
    (f.columns()[idx].is_string ? c.path_col : c.bytes_col) = name;
    return c;
  }
};

SourceTable load_parquet(const PreprocessSettings& s, const std::function<bool(int64_t)>& keep) {
  parquet::ParquetFile f = parquet::ParquetFile::open(s.input);
  const std::string base = s.image_dir.empty() ? fs::path(s.input).parent_path().string() : s.image_dir;
  std::vector<ParquetMediaColumn> media_cols;
  const std::string img = s.col_image.empty() ? "" : image_column(f, s.col_image);
  if (!img.empty()) media_cols.push_back(ParquetMediaColumn::find(f, img, MediaKind::Image, base, "preprocess.columns.image"));
  if (!s.col_audio.empty())
    media_cols.push_back(ParquetMediaColumn::find(f, s.col_audio, MediaKind::Audio, s.audio_dir.empty() ? base : s.audio_dir,
                                                  "preprocess.columns.audio"));
  OT_REQUIRE(!media_cols.empty(), s.input, ": flat rows need an image or an audio column (preprocess.columns.image / .audio)");
  SourceTable t;
  t.format = "medpix_parquet";
  int64_t row0 = 0;
  for (int rg = 0; rg < f.num_row_groups(); ++rg) {
    auto col = [&](const std::string& name) {
      return name.empty() || f.column_index(name) < 0 ? parquet::ColumnData{} : f.read_column(rg, name);
    };
    parquet::ColumnData q = f.read_column(rg, s.col_question), a = f.read_column(rg, s.col_answer);
    parquet::ColumnData cid = col(s.col_case_id), mode = col(s.col_mode), id = col(s.col_id);
    std::vector<parquet::ColumnData> bytes, paths;
    for (const ParquetMediaColumn& mc : media_cols) {
      bytes.push_back(col(mc.bytes_col));
      paths.push_back(col(mc.path_col));
    }
    const int64_t n = f.row_group_num_rows(rg);
    for (int64_t i = 0; i < n; ++i) {
      SourceRow r;
      r.row = row0 + i;
      auto text = [&](const parquet::ColumnData& c) {
        return i < static_cast<int64_t>(c.bytes.size()) && c.valid[i] ? c.bytes[i] : std::string();
      };
      r.case_id = text(cid);
      r.mode = text(mode);
      r.id = text(id);
      for (size_t c = 0; c < media_cols.size() && r.error.empty(); ++c) {
        const char* noun = media_cols[c].kind == MediaKind::Image ? "image" : "audio";
        MediaSource m;
        m.kind = media_cols[c].kind;
        m.what = "row " + std::to_string(r.row) + " " + noun;
        const std::string path = text(paths[c]);
        if (!text(bytes[c]).empty()) {
          if (keep(r.row)) m.bytes = bytes[c].bytes[i];
          m.what += path.empty() ? "" : " (" + path + ")";
        } else if (!path.empty()) {
          m.path = (fs::path(media_cols[c].dir) / path).string();
          m.what = m.path;
        } else {
          r.error = std::string("missing ") + noun;
          break;
        }
        r.media.push_back(std::move(m));
      }
      if (r.error.empty()) make_flat_conversation(r, text(q), text(a), s.system_prompt);
      t.rows.push_back(std::move(r));
    }
    row0 += n;
  }
  return t;
}

// The media items of a flat JSONL/CSV row: the image and audio columns' file names, relative to
// their directories. Sets r.error for a missing value.
void add_flat_media(SourceRow& r, const std::string& image, const std::string& audio, const PreprocessSettings& s,
                    const fs::path& image_dir, const fs::path& audio_dir) {
  const std::pair<const std::string*, MediaKind> cols[] = {{&s.col_image, MediaKind::Image}, {&s.col_audio, MediaKind::Audio}};
  for (const auto& [col, kind] : cols) {
    if (col->empty()) continue;
    const std::string& name = kind == MediaKind::Image ? image : audio;
    if (name.empty()) {
      r.error = kind == MediaKind::Image ? "missing image" : "missing audio";
      return;
    }
    MediaSource m;
    m.kind = kind;
    m.path = ((kind == MediaKind::Image ? image_dir : audio_dir) / name).string();
    m.what = m.path;
    r.media.push_back(m);
  }
}

SourceTable load_jsonl(const PreprocessSettings& s, const std::string& format) {
  std::ifstream in(s.input);
  OT_REQUIRE(in.good(), "cannot read ", s.input, " (preprocess.input)");
  const fs::path base = fs::path(s.input).parent_path();
  const fs::path images = !s.image_dir.empty() ? fs::path(s.image_dir)
                          : format == "medpix_jsonl" ? base / "images" : base;
  const fs::path audio_dir = s.audio_dir.empty() ? images : fs::path(s.audio_dir);
  SourceTable t;
  t.format = format;
  std::string line;
  int64_t row = 0;
  while (std::getline(in, line)) {
    if (chat_trim(line).empty()) continue;
    SourceRow r;
    r.row = row++;
    if (!valid_utf8(line)) {  // JSON must be UTF-8; say so rather than "not JSON"
      r.error = "text is not valid UTF-8";
      t.rows.push_back(std::move(r));
      continue;
    }
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) {
      r.error = "line is not a JSON object";
      t.rows.push_back(std::move(r));
      continue;
    }
    auto str = [&](const std::string& key) {
      return !key.empty() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
    };
    r.case_id = str(s.col_case_id);
    r.mode = str(s.col_mode);
    r.id = format == "messages_jsonl" ? str("id") : str(s.col_id);
    if (format == "medpix_jsonl") {
      OT_REQUIRE(!s.col_image.empty() || !s.col_audio.empty(), s.input,
                 ": flat rows need an image or an audio column (preprocess.columns.image / .audio)");
      add_flat_media(r, str(s.col_image == "auto" ? "image_id" : s.col_image), str(s.col_audio), s, images, audio_dir);
      if (r.error.empty()) make_flat_conversation(r, str(s.col_question), str(s.col_answer), s.system_prompt);
    } else {
      if (!j["messages"].is_array()) {
        r.error = "'messages' is not a list";
      } else {
        if (!s.system_prompt.empty()) r.messages.push_back({"system", {{ChatItem::Kind::Text, s.system_prompt}}});
        for (const json& msg : j["messages"]) {
          ChatMessage cm;
          cm.role = msg.value("role", "");
          const json& content = msg.contains("content") ? msg["content"] : json();
          if (content.is_string()) {
            cm.content.push_back({ChatItem::Kind::Text, content.get<std::string>()});
          } else if (content.is_array()) {
            for (const json& item : content) {
              std::string type = item.value("type", "");
              if (type == "text") {
                std::string txt = item.value("text", "");
                if (!valid_utf8(txt)) r.error = "text is not valid UTF-8";
                cm.content.push_back({ChatItem::Kind::Text, txt});
              } else if (type == "image" || type == "audio") {
                MediaSource m;
                m.kind = type == "image" ? MediaKind::Image : MediaKind::Audio;
                m.path = ((type == "image" ? images : audio_dir) / item.value(type, "")).string();
                m.what = m.path;
                cm.content.push_back({type == "image" ? ChatItem::Kind::Image : ChatItem::Kind::Audio,
                                      std::to_string(r.media.size())});
                r.media.push_back(m);
              } else {
                r.error = "unknown content type '" + type + "'";
              }
            }
          } else {
            r.error = "message content is neither text nor a list";
          }
          r.messages.push_back(cm);
        }
      }
    }
    t.rows.push_back(std::move(r));
  }
  return t;
}

SourceTable load_csv(const PreprocessSettings& s) {
  auto rows = parse_csv(read_file(s.input));
  OT_REQUIRE(!rows.empty(), s.input, ": empty CSV (a header row naming the columns is required)");
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < rows[0].size(); ++i) col[chat_trim(rows[0][i])] = i;
  const std::string image_col = s.col_image == "auto" ? (col.count("image") ? "image" : "image_id") : s.col_image;
  OT_REQUIRE(!image_col.empty() || !s.col_audio.empty(), s.input,
             ": flat rows need an image or an audio column (preprocess.columns.image / .audio)");
  for (const std::string& need : {s.col_question, s.col_answer, image_col, s.col_audio})
    OT_REQUIRE(need.empty() || col.count(need), s.input, ": no column '", need, "' in the header (set preprocess.columns.*)");
  const fs::path images = !s.image_dir.empty() ? fs::path(s.image_dir) : fs::path(s.input).parent_path() / "images";
  const fs::path audio_dir = s.audio_dir.empty() ? images : fs::path(s.audio_dir);
  SourceTable t;
  t.format = "medpix_csv";
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& f = rows[i];
    auto get = [&](const std::string& name) {
      auto it = col.find(name);
      return name.empty() || it == col.end() || it->second >= f.size() ? std::string() : f[it->second];
    };
    SourceRow r;
    r.row = static_cast<int64_t>(i - 1);
    r.case_id = get(s.col_case_id);
    r.mode = get(s.col_mode);
    r.id = get(s.col_id);
    if (f.size() != rows[0].size()) {
      r.error = str_cat("row has ", f.size(), " fields, the header ", rows[0].size());
    } else {
      add_flat_media(r, chat_trim(get(image_col)), chat_trim(get(s.col_audio)), s, images, audio_dir);
      if (r.error.empty()) make_flat_conversation(r, get(s.col_question), get(s.col_answer), s.system_prompt);
    }
    t.rows.push_back(std::move(r));
  }
  return t;
}

}  // namespace

SourceTable load_source(const PreprocessSettings& s, const std::function<bool(int64_t)>& keep) {
  OT_REQUIRE(!s.input.empty(), "preprocess.input is not set: give the dataset file (--preprocess.input PATH)");
  OT_REQUIRE(fs::exists(s.input), "preprocess.input ", s.input, " does not exist");
  const std::string format = resolve_format(s);
  SourceTable t = format == "medpix_parquet" ? load_parquet(s, keep)
                  : format == "medpix_csv"   ? load_csv(s)
                                             : load_jsonl(s, format);
  // Duplicate ids: the first occurrence is kept.
  std::map<std::string, int64_t> seen;
  for (SourceRow& r : t.rows) {
    if (r.id.empty()) {
      r.id = s.split + "-" + std::to_string(r.row);
      continue;
    }
    auto [it, fresh] = seen.emplace(r.id, r.row);
    if (!fresh && r.error.empty()) r.error = "duplicate id '" + r.id + "' (first at row " + std::to_string(it->second) + ")";
  }
  return t;
}

}  // namespace omnitune
