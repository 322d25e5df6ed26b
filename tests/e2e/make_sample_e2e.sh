#!/usr/bin/env bash
# omnitune-make-sample: same seed -> byte-identical dataset, another seed -> other images; row
# counts; every image exists and is a PNG or JPEG; the tokenizer has Gemma's ids and matches the
# special pieces as one token; the deliberate train/validation leak is there; --spoken 1 (espeak-ng)
# only adds files (tests/unit/audio/spoken_sample_test.cpp checks their content).
# Prints "N passed, M failed". Usage: make_sample_e2e.sh BIN_DIR
set -u
bin=$1
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

"$bin/omnitune-make-sample" --out "$work/a" >"$work/a.log" 2>&1
check "make-sample exits 0" test $? -eq 0
"$bin/omnitune-make-sample" --out "$work/b" >/dev/null 2>&1
"$bin/omnitune-make-sample" --out "$work/c" --seed 99 >/dev/null 2>&1
check "same seed gives identical files" diff -r -x tokenizer.log "$work/a" "$work/b"
check "another seed gives other images" bash -c "! cmp -s '$work/a/images/img_0000.png' '$work/c/images/img_0000.png'"
check "48 train and 16 validation rows" test "$(wc -l < "$work/a/train.jsonl")" -eq 48 -a "$(wc -l < "$work/a/validation.jsonl")" -eq 16
check "every image exists and is PNG or JPEG" python3 -c "
import json
for split in ('train', 'validation'):
    for line in open('$work/a/' + split + '.jsonl'):
        b = open('$work/a/images/' + json.loads(line)['image_id'], 'rb').read()
        assert b[:8] == b'\x89PNG\r\n\x1a\n' or b[:3] == b'\xff\xd8\xff', line"
check "conversations.jsonl holds the train rows as message lists" python3 -c "
import json
rows = [json.loads(l) for l in open('$work/a/conversations.jsonl')]
assert len(rows) == 48 and rows[0]['messages'][0]['content'][0]['type'] == 'image'"
tok="$work/a/tokenizer/tokenizer.model"
check "ids 0..3 are <pad> <eos> <bos> <unk>" bash -c "head -4 '$work/a/tokenizer/tokenizer.vocab' | cut -f1 | tr '\n' ' ' | grep -q '^<pad> <eos> <bos> <unk> '"
check "<start_of_turn> is one piece" bash -c "echo '<start_of_turn>user' | spm_encode --model='$tok' --output_format=piece | grep -q '^<start_of_turn> '"
check "the leak image is in both splits" python3 -c "
import json
t = {json.loads(l)['image_id'] for l in open('$work/a/train.jsonl')}
v = {json.loads(l)['image_id'] for l in open('$work/a/validation.jsonl')}
assert t & v == {'img_0000.png'}, t & v"
"$bin/omnitune-make-sample" --out "$work/s" --spoken 1 >"$work/s.log" 2>&1
check "--spoken 1 adds the spoken rows and clips, the image set unchanged" bash -c "
  [ \$(wc -l < '$work/s/spoken_train.jsonl') -eq 36 ] && [ \$(wc -l < '$work/s/spoken_validation.jsonl') -eq 11 ] &&
  [ \$(ls '$work/s/spoken' | wc -l) -eq 3 ] && diff -r -x tokenizer.log -x 'spoken*' -x manifest.json -x README.md '$work/a' '$work/s'"
check "unwritable output is a clear error" bash -c "! '$bin/omnitune-make-sample' --out /proc/forbidden 2>&1 | grep -q '^$' && '$bin/omnitune-make-sample' --out /proc/forbidden >/dev/null 2>&1; [ \$? -ne 0 ]"
finish
