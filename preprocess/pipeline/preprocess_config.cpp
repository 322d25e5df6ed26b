// Schema of the preprocessing stage.
#include "pipeline/preprocess_config.h"

#include "core/error.h"

namespace omnitune {

void register_preprocess_config(ConfigSchema& s) {
  s.add({"preprocess.input", ConfigType::String, "''",
         "raw dataset file: MedPix-VQA Parquet (HF layout), MedPix-columns CSV or JSONL, or HF messages JSONL", {}});
  s.add({"preprocess.format", ConfigType::String, "auto",
         "input format; auto: .parquet -> medpix_parquet, .csv -> medpix_csv, .jsonl with a 'messages' field -> messages_jsonl, else medpix_jsonl",
         {"auto", "medpix_parquet", "medpix_csv", "medpix_jsonl", "messages_jsonl"}});
  s.add({"preprocess.split", ConfigType::String, "train", "split name; shards go to <output_dir>/<split>/", {}});
  s.add({"preprocess.output_dir", ConfigType::String, "data/shards", "where the split's shards, manifest and rejects go", {}});
  s.add({"preprocess.model_dir", ConfigType::String, "''",
         "HF model directory: config.json (tokens per image), preprocessor_config.json (image size), tokenizer.model", {}});
  s.add({"preprocess.tokenizer", ConfigType::String, "''", "tokenizer.model to use; '' = <model_dir>/tokenizer.model", {}});
  s.add({"preprocess.image_dir", ConfigType::String, "''",
         "directory image file names are relative to; '' = the input's directory (medpix_jsonl/csv: its images/ folder)", {}});
  s.add({"preprocess.audio_dir", ConfigType::String, "''",
         "directory audio file names are relative to; '' = the directory image file names are relative to", {}});
  s.add({"preprocess.system_prompt", ConfigType::String, "''", "optional system text folded into the first user turn", {}});
  s.add({"preprocess.columns.question", ConfigType::String, "question", "column holding the question (flat rows)", {}});
  s.add({"preprocess.columns.answer", ConfigType::String, "answer", "column holding the answer (flat rows)", {}});
  s.add({"preprocess.columns.image", ConfigType::String, "auto",
         "column holding the image (bytes, HF {bytes, path} struct, or a file name); auto: the HF Image feature, else 'image', else 'image_id'; '' = no image (audio-only rows)", {}});
  s.add({"preprocess.columns.audio", ConfigType::String, "''",
         "column holding an audio clip (bytes, HF {bytes, path} Audio struct, or a file name); '' = none. Needs a gemma3n model; a row without a clip is rejected", {}});
  s.add({"preprocess.columns.case_id", ConfigType::String, "case_id", "column copied as case_id metadata ('' = none)", {}});
  s.add({"preprocess.columns.mode", ConfigType::String, "mode", "column copied as mode (question type) metadata ('' = none)", {}});
  s.add({"preprocess.columns.id", ConfigType::String, "''", "column with a unique sample id ('' = <split>-<row>); duplicates are rejected", {}});
  s.add({"preprocess.max_length", ConfigType::Int, "2048", "longest tokenized conversation kept", {}});
  s.add({"preprocess.overlong", ConfigType::String, "drop",
         "policy for conversations longer than max_length: drop the row, truncate the answer (rows whose prompt or a later image/audio item would be cut are dropped), or fail",
         {"drop", "truncate_answer", "fail"}});
  s.add({"preprocess.samples_per_shard", ConfigType::Int, "256", "rows per shard (shard k holds rows k*N .. (k+1)*N-1)", {}});
  s.add({"preprocess.on_error", ConfigType::String, "skip",
         "a bad row (missing/corrupt image or audio, empty text, over-length with drop...): skip it into rejects.jsonl, or fail",
         {"skip", "fail"}});
  s.add({"preprocess.max_image_pixels", ConfigType::Int, "178956970", "decompression-bomb limit on width x height", {}});
  s.add({"preprocess.jpeg_dct_scaling", ConfigType::Bool, "false",
         "decode large JPEGs at 1/2, 1/4 or 1/8 scale (still >= the target size): faster, but pixels then differ from Pillow's", {}});
  s.add({"preprocess.image_compression", ConfigType::String, "none",
         "image chunks in the shards: none (fastest reads; the default) or gzip (HDF5's standard deflate filter, applied as each shard is written; smaller shards, slower reads)",
         {"none", "gzip"}});
  s.add({"preprocess.image_compression_level", ConfigType::Int, "4", "zlib level 1..9 when image_compression is gzip", {}});
  s.add({"preprocess.threads", ConfigType::Int, "0", "image and audio decode threads per rank; 0 = the CPUs the rank is bound to, shared with the node's ranks bound to the same ones", {}});
}

PreprocessSettings preprocess_settings_from(const Config& c) {
  PreprocessSettings p;
  p.input = c.get_string("preprocess.input");
  p.format = c.get_string("preprocess.format");
  p.split = c.get_string("preprocess.split");
  p.output_dir = c.get_string("preprocess.output_dir");
  p.model_dir = c.get_string("preprocess.model_dir");
  p.tokenizer = c.get_string("preprocess.tokenizer");
  p.image_dir = c.get_string("preprocess.image_dir");
  p.audio_dir = c.get_string("preprocess.audio_dir");
  p.system_prompt = c.get_string("preprocess.system_prompt");
  p.col_question = c.get_string("preprocess.columns.question");
  p.col_answer = c.get_string("preprocess.columns.answer");
  p.col_image = c.get_string("preprocess.columns.image");
  p.col_audio = c.get_string("preprocess.columns.audio");
  p.col_case_id = c.get_string("preprocess.columns.case_id");
  p.col_mode = c.get_string("preprocess.columns.mode");
  p.col_id = c.get_string("preprocess.columns.id");
  p.max_length = c.get_int("preprocess.max_length");
  p.overlong = c.get_string("preprocess.overlong");
  p.samples_per_shard = c.get_int("preprocess.samples_per_shard");
  p.on_error = c.get_string("preprocess.on_error");
  p.max_image_pixels = c.get_int("preprocess.max_image_pixels");
  p.threads = c.get_int("preprocess.threads");
  p.jpeg_dct_scaling = c.get_bool("preprocess.jpeg_dct_scaling");
  const int64_t level = c.get_int("preprocess.image_compression_level");
  OT_REQUIRE(level >= 1 && level <= 9, "preprocess.image_compression_level must be 1..9 (zlib levels), got ", level);
  p.image_deflate_level = c.get_string("preprocess.image_compression") == "gzip" ? static_cast<int>(level) : 0;
  return p;
}

}  // namespace omnitune
