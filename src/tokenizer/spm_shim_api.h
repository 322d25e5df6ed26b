/* The C API of libomnitune_spm.so, the one library that links sentencepiece (DESIGN.md §7).
 * Debian's sentencepiece embeds protobuf-lite symbols that crash a process which also loads
 * LibTorch's libprotobuf, so LibTorch processes dlopen this shim privately (RTLD_LOCAL |
 * RTLD_DEEPBIND). Only C types cross the boundary; no exception ever does: every call that can
 * fail returns OMNITUNE_SPM_OK or OMNITUNE_SPM_ERROR, and omnitune_spm_last_error() says why. */
#ifndef OMNITUNE_TOKENIZER_SPM_SHIM_API_H_
#define OMNITUNE_TOKENIZER_SPM_SHIM_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature below changes; the loader refuses a shim of another version. */
#define OMNITUNE_SPM_ABI_VERSION 1

#define OMNITUNE_SPM_OK 0
#define OMNITUNE_SPM_ERROR 1

/* A loaded model (an opaque sentencepiece::SentencePieceProcessor). */
typedef struct omnitune_spm omnitune_spm;

/* Vocabulary facts, read once after loading. A special id is -1 when the model has none. */
typedef struct omnitune_spm_info {
  int32_t vocab_size;
  int32_t bos_id;
  int32_t eos_id;
  int32_t pad_id;
  int32_t unk_id;
} omnitune_spm_info;

/* OMNITUNE_SPM_ABI_VERSION of the shim as built. */
int omnitune_spm_abi_version(void);

/* Why this thread's last failed call failed; valid until this thread's next call. */
const char* omnitune_spm_last_error(void);

/* Loads a SentencePiece model file into *out (freed with omnitune_spm_destroy). */
int omnitune_spm_load(const char* model_path, omnitune_spm** out);
void omnitune_spm_destroy(omnitune_spm* sp);

int omnitune_spm_get_info(const omnitune_spm* sp, omnitune_spm_info* out);

/* Output arrays below are allocated by the shim and given back with omnitune_spm_release. */
void omnitune_spm_release(void* p);

/* Encodes text[0, text_len) into *n_ids ids (no BOS/EOS added). */
int omnitune_spm_encode_ids(const omnitune_spm* sp, const char* text, size_t text_len,
                            int32_t** ids, size_t* n_ids);

/* Encodes text into *n_pieces pieces stored back to back in *bytes: piece i is
 * bytes[i == 0 ? 0 : ends[i - 1], ends[i]). Both arrays are released separately. */
int omnitune_spm_encode_pieces(const omnitune_spm* sp, const char* text, size_t text_len,
                               char** bytes, size_t** ends, size_t* n_pieces);

/* Decodes ids into *text (*text_len bytes, plus a terminating NUL). Fails on an id outside
 * [0, vocab_size). */
int omnitune_spm_decode(const omnitune_spm* sp, const int32_t* ids, size_t n_ids, char** text,
                        size_t* text_len);

/* The id of a piece, or the unk id when the vocabulary has no such piece. Never fails. */
int32_t omnitune_spm_piece_to_id(const omnitune_spm* sp, const char* piece, size_t piece_len);

/* Points *piece at the piece of id (owned by the model, valid while it lives). Fails on an id
 * outside [0, vocab_size). */
int omnitune_spm_id_to_piece(const omnitune_spm* sp, int32_t id, const char** piece,
                             size_t* piece_len);

/* Sets *is_control to 1 for a control piece (e.g. <bos>, never matched in text), else 0.
 * Fails on an id outside [0, vocab_size). */
int omnitune_spm_is_control(const omnitune_spm* sp, int32_t id, int* is_control);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* OMNITUNE_TOKENIZER_SPM_SHIM_API_H_ */
