// A synthetic MedPix-format dataset for the quickstart and the tests (the real MedPix-VQA and
// model weights cannot be downloaded here): real PNG and JPEG files showing one shape whose
// kind, colour and position answer the questions, so a tiny model can visibly learn them;
// MedPix columns as JSONL (train/validation, one deliberate train/validation image leak), the
// same rows as HF message lists, and a SentencePiece tokenizer with the Gemma special pieces;
// optionally audio clips whose beep count and pitch answer spoken-audio questions, and image
// questions read aloud by espeak-ng (Gemma 3n).
#pragma once

#include <cstdint>
#include <string>

namespace omnitune {

struct SampleOptions {
  std::string out_dir;
  int train_rows = 48;
  int validation_rows = 16;
  uint64_t seed = 1234;
  int vocab_size = 320;
  // Also write audio clips (audio/: WAV 16 kHz mono and FLAC 44.1 kHz stereo, alternating) of 1-3
  // beeps at a high or low pitch, and HF message-list rows asking about them (audio_train.jsonl,
  // audio_validation.jsonl: two questions per clip) for Gemma 3n. Off: the image set's bytes stay
  // exactly what they are without it.
  bool audio = false;
  // Also write spoken questions (spoken/: one espeak-ng WAV, 22.05 kHz mono, per distinct question
  // text) and HF message-list rows spoken_train.jsonl / spoken_validation.jsonl: user = [the image,
  // the question as audio], assistant = the answer, for the image rows with a short (alignment)
  // question; same images, answers and split as train.jsonl / validation.jsonl, without the
  // deliberate leak row. Needs the Debian package espeak-ng. Every other file but manifest.json and
  // README.md (which list the new files) is the same with or without it.
  bool spoken = false;
};

struct SampleSummary {
  int train_rows = 0, validation_rows = 0, images = 0, clips = 0;
  int spoken_clips = 0, spoken_train_rows = 0, spoken_validation_rows = 0;  // with `spoken`
  std::string leak_image;  // the image used by both splits
  std::string tokenizer;   // path of tokenizer.model
};

SampleSummary make_sample_dataset(const SampleOptions& opt);

}  // namespace omnitune
