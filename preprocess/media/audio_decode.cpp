// libsndfile decoding from memory (sf_open_virtual over the caller's bytes, so rows read from
// Parquet never touch the disk) and libsamplerate resampling. The frame count a header announces
// is checked against what decodes but never trusted to size an allocation.
#include "media/audio_decode.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "core/text_util.h"
#include "core/log.h"

namespace omnitune {
namespace {

// ---- libsndfile virtual I/O over a read-only memory buffer ----

struct MemFile {
  const uint8_t* data = nullptr;
  sf_count_t size = 0;
  sf_count_t pos = 0;
};

sf_count_t mem_get_filelen(void* user) { return static_cast<MemFile*>(user)->size; }

sf_count_t mem_seek(sf_count_t offset, int whence, void* user) {
  auto* f = static_cast<MemFile*>(user);
  sf_count_t base = 0;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = f->pos; break;
    case SEEK_END: base = f->size; break;
    default: return -1;
  }
  // Clamp instead of failing: libsndfile probes past the end of short files while sniffing.
  f->pos = std::clamp<sf_count_t>(base + offset, 0, f->size);
  return f->pos;
}

sf_count_t mem_read(void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemFile*>(user);
  if (count <= 0) return 0;
  const sf_count_t n = std::min(count, f->size - f->pos);
  if (n <= 0) return 0;
  std::memcpy(ptr, f->data + f->pos, static_cast<size_t>(n));
  f->pos += n;
  return n;
}

sf_count_t mem_write(const void*, sf_count_t, void*) { return 0; }

sf_count_t mem_tell(void* user) { return static_cast<MemFile*>(user)->pos; }

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};



const char* kFormatsHint =
    "libsndfile reads WAV, FLAC, Ogg/Vorbis, Opus, MP3, AIFF, CAF and similar; convert other formats "
    "(AAC/M4A, WMA, video containers) to FLAC or WAV first, e.g. "
    "`ffmpeg -i in.m4a -ac 1 -ar 16000 out.flac`";

// The message for a failed sf_open_virtual, by libsndfile error code.
std::string open_error(int code, const uint8_t* data, size_t n, const std::string& what) {
  switch (code) {
    case SF_ERR_UNRECOGNISED_FORMAT:
      return str_cat(what, ": not a recognised audio format (", n, " bytes starting ",
                     hex_prefix(data, n), "); ", kFormatsHint);
    case SF_ERR_MALFORMED_FILE:
      return str_cat(what, ": malformed or truncated audio file (", n,
                     " bytes; libsndfile: ", sf_error_number(code),
                     "); re-export or re-download the file");
    case SF_ERR_UNSUPPORTED_ENCODING:
      return str_cat(what, ": unsupported audio encoding inside a known container (libsndfile: ",
                     sf_error_number(code), "); ", kFormatsHint);
    default:
      return str_cat(what, ": cannot decode audio (", n, " bytes starting ",
                     hex_prefix(data, n), "; libsndfile: ", sf_error_number(code),
                     "); the file may be corrupt or truncated");
  }
}

}  // namespace

double AudioClip::seconds() const {
  return sample_rate > 0 ? static_cast<double>(samples.size()) / sample_rate : 0.0;
}

AudioClip decode_audio(const uint8_t* data, size_t n, const std::string& what) {
  OT_REQUIRE(n > 0 && data != nullptr, what, ": empty audio (0 bytes); the file or column is blank");

  MemFile mem;
  mem.data = data;
  mem.size = static_cast<sf_count_t>(n);
  SF_VIRTUAL_IO vio{};
  vio.get_filelen = mem_get_filelen;
  vio.seek = mem_seek;
  vio.read = mem_read;
  vio.write = mem_write;
  vio.tell = mem_tell;

  SF_INFO info{};  // format 0: libsndfile sniffs the container from the bytes
  std::unique_ptr<SNDFILE, SndfileCloser> sf(sf_open_virtual(&vio, SFM_READ, &info, &mem));
  if (!sf) OT_FAIL(open_error(sf_error(nullptr), data, n, what));

  OT_REQUIRE(info.samplerate > 0, what, ": audio header gives a sample rate of ", info.samplerate,
             " Hz; the file is corrupt");
  OT_REQUIRE(info.channels > 0, what, ": audio header gives ", info.channels,
             " channels; the file is corrupt");
  OT_REQUIRE(info.frames > 0, what, ": audio file has no frames (0 samples); it holds no sound");

  // Integer PCM becomes [-1, 1) (the default, set explicitly so a changed default cannot bite).
  sf_command(sf.get(), SFC_SET_NORM_FLOAT, nullptr, SF_TRUE);

  const int channels = info.channels;
  // About 4 MB of interleaved samples per read, whatever the channel count (up to 1024).
  const sf_count_t chunk_frames = std::max<sf_count_t>(1, (sf_count_t{1} << 20) / channels);
  std::vector<float> buf(static_cast<size_t>(chunk_frames) * channels);
  AudioClip clip;
  clip.sample_rate = info.samplerate;
  // The header's frame count only sizes a first reservation, capped so a lying header cannot
  // make us allocate: the loop below reads what is actually there.
  clip.samples.reserve(static_cast<size_t>(std::min<sf_count_t>(info.frames, sf_count_t{1} << 24)));
  const float fchannels = static_cast<float>(channels);
  for (;;) {
    const sf_count_t got = sf_readf_float(sf.get(), buf.data(), chunk_frames);
    if (got <= 0) break;
    for (sf_count_t i = 0; i < got; ++i) {
      const float* frame = buf.data() + i * channels;
      if (channels == 1) {
        clip.samples.push_back(frame[0]);
      } else {
        // Sum then divide, in float32: what numpy's mean over the channel axis computes
        // (librosa.to_mono, `datasets` Audio(mono=True)).
        float sum = 0.0f;
        for (int c = 0; c < channels; ++c) sum += frame[c];
        clip.samples.push_back(sum / fchannels);
      }
    }
  }
  const int err = sf_error(sf.get());
  OT_REQUIRE(err == SF_ERR_NO_ERROR, what, ": audio stream is corrupt after ", clip.samples.size(),
             " frames (libsndfile: ", sf_strerror(sf.get()), "); re-export or re-download the file");
  OT_REQUIRE(!clip.samples.empty(), what, ": audio file has no decodable frames (header announces ",
             info.frames, "); the file is truncated or corrupt");
  const auto decoded = static_cast<sf_count_t>(clip.samples.size());
  if (info.frames != SF_COUNT_MAX && decoded < info.frames) {
    // MP3 frame counts can be estimates (VBR without a Xing/LAME header): only warn there. Other
    // containers state the count exactly (FLAC STREAMINFO, AIFF COMM); a WAV's data size is
    // reconciled with the file size by libsndfile, so a cut WAV reads as a shorter clip.
    if ((info.format & SF_FORMAT_TYPEMASK) == SF_FORMAT_MPEG) {
      OT_LOG_WARN(what, ": MP3 decoded to ", decoded, " frames, its header estimated ", info.frames);
    } else {
      OT_FAIL(what, ": audio file is truncated: its header announces ", info.frames,
              " frames but only ", decoded, " decode; re-export or re-download the file");
    }
  }
  for (size_t i = 0; i < clip.samples.size(); ++i) {
    OT_REQUIRE(std::isfinite(clip.samples[i]), what, ": sample ", i,
               " is not a finite number (a float file with NaN/Inf); the file is corrupt");
  }
  return clip;
}

AudioClip decode_audio_file(const std::string& path) {
  std::error_code ec;
  OT_REQUIRE(std::filesystem::is_regular_file(path, ec), path,
             ": audio file not found (or not a regular file); check the path and the dataset root");
  std::ifstream in(path, std::ios::binary);
  OT_REQUIRE(in.good(), path, ": cannot open audio file for reading; check its permissions");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  OT_REQUIRE(size >= 0, path, ": cannot determine the audio file's size");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
  OT_REQUIRE(in.good() || size == 0, path, ": read error after ", in.gcount(), " of ", size, " bytes");
  return decode_audio(bytes.data(), bytes.size(), path);
}

AudioClip resample(const AudioClip& in, int target_rate) {
  OT_REQUIRE(target_rate > 0, "resample: target sample rate must be > 0 Hz, got ", target_rate);
  OT_REQUIRE(in.sample_rate > 0, "resample: input clip has sample rate ", in.sample_rate,
             " Hz; decode it with decode_audio first");
  if (in.sample_rate == target_rate) return in;

  AudioClip out;
  out.sample_rate = target_rate;
  if (in.samples.empty()) return out;

  const double ratio = static_cast<double>(target_rate) / in.sample_rate;
  OT_REQUIRE(src_is_valid_ratio(ratio), "resample: cannot convert ", in.sample_rate, " Hz to ",
             target_rate, " Hz (libsamplerate handles ratios from 1/256 to 256)");
  const int64_t n_in = static_cast<int64_t>(in.samples.size());
  // ceil(n_in * target / source) in exact integer arithmetic.
  const int64_t n_out =
      (n_in * int64_t{target_rate} + in.sample_rate - 1) / int64_t{in.sample_rate};

  int err = 0;
  std::unique_ptr<SRC_STATE, SRC_STATE* (*)(SRC_STATE*)> st(
      src_new(SRC_SINC_BEST_QUALITY, 1, &err), src_delete);
  OT_CHECK(st && err == 0, "src_new: ", src_strerror(err));

  // libsamplerate's end-of-input flush stops one output short of ceil(n * ratio) when the last
  // output needs input past the end, so the end is fed as explicit silence instead: the input,
  // then blocks of zeros until exactly n_out samples exist (the clip continued by silence, which
  // is what soxr/librosa compute at the edge).
  out.samples.assign(static_cast<size_t>(n_out), 0.0f);
  static const std::vector<float> kSilence(4096, 0.0f);
  const float* src = in.samples.data();
  int64_t left = n_in;
  int64_t produced = 0;
  int64_t silence_fed = 0;
  while (produced < n_out) {
    const bool real = left > 0;
    SRC_DATA d{};
    d.data_in = real ? src : kSilence.data();
    d.input_frames = static_cast<long>(real ? left : static_cast<int64_t>(kSilence.size()));
    d.data_out = out.samples.data() + produced;
    d.output_frames = static_cast<long>(n_out - produced);
    d.src_ratio = ratio;
    d.end_of_input = 0;
    err = src_process(st.get(), &d);
    OT_CHECK(err == 0, "src_process: ", src_strerror(err));
    OT_CHECK(d.input_frames_used > 0 || d.output_frames_gen > 0, "src_process made no progress");
    produced += d.output_frames_gen;
    if (real) {
      src += d.input_frames_used;
      left -= d.input_frames_used;
    } else {
      silence_fed += d.input_frames_used;
      OT_CHECK(silence_fed <= (int64_t{1} << 22), "libsamplerate needed over 4M samples of flush");
    }
  }
  return out;
}

}  // namespace omnitune
