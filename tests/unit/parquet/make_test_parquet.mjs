// Writes the Parquet files the parquet reader tests read, each with a JSON file of the values it
// must decode to. DuckDB (npm @duckdb/node-api, an independent writer) produces every codec, many
// row groups, NULLs, HF-style image structs and format-v2 encodings; files DuckDB cannot produce
// (data page v2 headers, the dictionary-to-PLAIN fallback mid-chunk, RLE booleans, DELTA_BYTE_ARRAY,
// INT96) are assembled byte by byte below. Expected values come from this script's own data, never
// from reading the files back.
//
// Usage: node make_test_parquet.mjs OUT_DIR FIXTURES_DIR   (FIXTURES_DIR: the repository's tests/fixtures)
//
// Files (DuckDB): types_{uncompressed,snappy,gzip,zstd} (every physical type, NULLs, extremes,
// NaN/inf, UTF-8, empty values, an HF image struct, UUID as FIXED_LEN_BYTE_ARRAY, a dictionary
// column; 3 row groups), types_v2_{snappy,zstd} (the same through DELTA_BINARY_PACKED,
// BYTE_STREAM_SPLIT, DELTA_LENGTH_BYTE_ARRAY and RLE_DICTIONARY), many_row_groups (9 groups),
// hf_image (HF Image layout with 5-210 KB payloads and the `huggingface` key-value metadata),
// hf_audio (HF Image + Audio structs holding the real fixture PNG, WAV and FLAC bytes: the
// preprocessing pipeline's audio column test reads it too),
// list_column (refused), empty (no row groups), codec_lz4 / codec_brotli (refused by name).
// Files (byte by byte): handmade_fallback, handmade_v2 (see their functions below).
//
// Expected JSON ("<name>.json" next to "<name>.parquet"):
//   { file, num_rows, row_groups?: [rows per group], min_row_groups?, kv?: {key: value},
//     columns: [{ path, type, is_string, max_def_level, values: [one per row] }],
//     errors: [{ path, row_group, contains }],          // read_column must throw Error with this text
//     pages: [{ path, row_group, page_types?, encodings?, exact? }] }  // page layout proving coverage
// Values: null; true/false (BOOLEAN); decimal strings (INT32/INT64); numbers or "nan"/"inf"/"-inf"
// (FLOAT/DOUBLE); lowercase hex (byte arrays), or {sha256, size} for values over 2048 bytes.

import { DuckDBInstance } from '@duckdb/node-api';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const outDir = process.argv[2];
const fixturesDir = process.argv[3];
if (!outDir || !fixturesDir) {
  console.error('usage: node make_test_parquet.mjs OUT_DIR FIXTURES_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

// ---------------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------------

// mulberry32: a tiny seeded PRNG so every run writes the same files.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randInt = (r, n) => Math.floor(r() * n);
const randBytes = (r, n) => Buffer.from(Array.from({ length: n }, () => randInt(r, 256)));
const randI64 = (r) => BigInt.asIntN(64, (BigInt(randInt(r, 2 ** 32)) << 32n) | BigInt(randInt(r, 2 ** 32)));
const randI32 = (r) => randInt(r, 2 ** 32) - 2 ** 31;

const PIECES = ['a', 'b', 'Z', ' ', 'é', '日本', '🙂', '\n', '"', "'", '\\', '%', '_', 'Ω', 'xyz'];
function randString(r, maxPieces) {
  let s = '';
  const n = randInt(r, maxPieces + 1);
  for (let i = 0; i < n; ++i) s += PIECES[randInt(r, PIECES.length)];
  return s;
}

// ---------------------------------------------------------------------------------------------
// Expected-value JSON
// ---------------------------------------------------------------------------------------------

function expectValue(type, v) {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'BOOLEAN': return Boolean(v);
    case 'INT32':
    case 'INT64': return BigInt(v).toString();
    case 'FLOAT':
    case 'DOUBLE':
      if (Number.isNaN(v)) return 'nan';
      if (v === Infinity) return 'inf';
      if (v === -Infinity) return '-inf';
      return v;
    default: {
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      if (b.length > 2048) return { sha256: createHash('sha256').update(b).digest('hex'), size: b.length };
      return b.toString('hex');
    }
  }
}

function writeExpected(name, spec) {
  const json = { file: `${name}.parquet`, errors: [], pages: [], ...spec };
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(json));
}

// ---------------------------------------------------------------------------------------------
// Files written by DuckDB
// ---------------------------------------------------------------------------------------------

// SQL literals that DuckDB parses exactly (numbers go through strings: a bare decimal literal
// would become DECIMAL and could round on its way to FLOAT).
const sqlStr = (s) => `'${s.replaceAll("'", "''")}'`;
const sqlLit = {
  BOOLEAN: (v) => (v ? 'true' : 'false'),
  INT32: (v) => `'${v}'::INTEGER`,
  INT64: (v) => `'${v}'::BIGINT`,
  FLOAT: (v) => `${sqlStr(String(v).replace('Infinity', 'inf'))}::DOUBLE::FLOAT`,
  DOUBLE: (v) => `${sqlStr(String(v).replace('Infinity', 'inf'))}::DOUBLE`,
  VARCHAR: (v) => sqlStr(v),
  BLOB: (v) => `from_hex('${v.toString('hex')}')`,
  UUID: (v) => {
    const h = v.toString('hex');
    return `'${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}'::UUID`;
  },
};

// A DuckDB table column: SQL type, Parquet leaf type(s) and a value generator.
//   leaves: [{ suffix, type, is_string, max_def_level, pick(value) }] for structs
function scalar(name, sqlType, ptype, isString, gen) {
  const lit = sqlLit[sqlType === 'INTEGER' ? 'INT32' : sqlType === 'BIGINT' ? 'INT64' : sqlType];
  return {
    name, sqlType, gen, lit: (v) => (v === null ? 'NULL' : lit(v)),
    leaves: [{ path: name, type: ptype, is_string: isString, max_def_level: 1, pick: (v) => v }],
  };
}

// HF's Image/Audio layout: struct<bytes: binary, path: string>; either field or the struct null.
function imageStruct(name, gen) {
  return {
    name, sqlType: 'STRUCT(bytes BLOB, path VARCHAR)', gen,
    lit: (v) => v === null ? 'NULL'
      : `struct_pack(bytes := ${v.bytes === null ? 'NULL::BLOB' : sqlLit.BLOB(v.bytes)}, ` +
        `path := ${v.path === null ? 'NULL::VARCHAR' : sqlStr(v.path)})`,
    leaves: [
      { path: `${name}.bytes`, type: 'BYTE_ARRAY', is_string: false, max_def_level: 2, pick: (v) => v && v.bytes },
      { path: `${name}.path`, type: 'BYTE_ARRAY', is_string: true, max_def_level: 2, pick: (v) => v && v.path },
    ],
  };
}

// Specials first, then random values; nullRate of rows are NULL (never the specials).
function withSpecials(specials, nullRate, random) {
  return (i, r) => {
    if (i < specials.length) return specials[i];
    if (r() < nullRate) return null;
    return random(r, i);
  };
}

const F32_SPECIALS = [0, -1.5, NaN, Infinity, -Infinity, 3.4028234663852886e38, 1.401298464324817e-45];
const F64_SPECIALS = [0, -2.5, NaN, Infinity, -Infinity, 1.7976931348623157e308, 5e-324, 0.1];

function typesColumns() {
  return [
    scalar('id', 'BIGINT', 'INT64', false, (i) => BigInt(i)),
    scalar('b', 'BOOLEAN', 'BOOLEAN', false, withSpecials([true, false], 0.1, (r) => r() < 0.5)),
    scalar('i32', 'INTEGER', 'INT32', false,
      withSpecials([-2147483648, 2147483647, 0, -1], 0.1, (r) => randI32(r))),
    scalar('i64', 'BIGINT', 'INT64', false,
      withSpecials([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n], 0.1, (r) => randI64(r))),
    scalar('f32', 'FLOAT', 'FLOAT', false,
      withSpecials(F32_SPECIALS, 0.1, (r) => Math.fround((r() - 0.5) * 1e6))),
    scalar('f64', 'DOUBLE', 'DOUBLE', false,
      withSpecials(F64_SPECIALS, 0.1, (r) => (r() - 0.5) * 10 ** randInt(r, 40))),
    scalar('s', 'VARCHAR', 'BYTE_ARRAY', true,
      withSpecials(['', 'plain ascii', '日本語 🙂 é'], 0.1,
        (r) => (r() < 0.02 ? 'long:' + 'x'.repeat(3000 + randInt(r, 100)) : randString(r, 12)))),
    scalar('cat', 'VARCHAR', 'BYTE_ARRAY', true,
      withSpecials([], 0.15, (r) => ['alignment', 'from caption', 'CT', 'MR', 'x', 'yy', 'zzz'][randInt(r, 7)])),
    scalar('blob', 'BLOB', 'BYTE_ARRAY', false,
      withSpecials([Buffer.alloc(0), Buffer.from([0, 0, 255])], 0.1, (r) => randBytes(r, randInt(r, 64)))),
    imageStruct('img', withSpecials(
      [null, { bytes: null, path: 'only_path.png' }, { bytes: Buffer.from('89504e47', 'hex'), path: null },
        { bytes: null, path: null }],
      0.1,
      (r, i) => ({ bytes: r() < 0.1 ? null : randBytes(r, 1 + randInt(r, 40)), path: r() < 0.1 ? null : `img_${i}.png` }))),
    scalar('u', 'UUID', 'FIXED_LEN_BYTE_ARRAY', false, withSpecials([], 0.1, (r) => randBytes(r, 16))),
  ];
}

async function duckdbConnection() {
  const instance = await DuckDBInstance.create(':memory:');
  return instance.connect();
}

// Creates table `t` from generated rows, COPYs it to <name>.parquet and writes <name>.json.
async function writeDuckdbFile(con, name, { columns, rows, seed, copyOptions, expect = {} }) {
  const r = rng(seed);
  const data = [];
  for (let i = 0; i < rows; ++i) data.push(columns.map((c) => c.gen(i, r)));
  await con.run('DROP TABLE IF EXISTS t');
  await con.run(`CREATE TABLE t (${columns.map((c) => `"${c.name}" ${c.sqlType}`).join(', ')})`);
  for (let start = 0; start < rows; start += 500) {
    const batch = data.slice(start, start + 500)
      .map((row) => `(${row.map((v, j) => columns[j].lit(v)).join(', ')})`);
    await con.run(`INSERT INTO t VALUES ${batch.join(',\n')}`);
  }
  const orderBy = columns[0].name;
  await con.run(`COPY (FROM t ORDER BY "${orderBy}") TO '${path.join(outDir, name + '.parquet')}' ` +
    `(FORMAT PARQUET, ${copyOptions})`);
  const leaves = [];
  columns.forEach((c, j) => {
    for (const leaf of c.leaves) {
      leaves.push({
        path: leaf.path, type: leaf.type, is_string: leaf.is_string, max_def_level: leaf.max_def_level,
        values: data.map((row) => expectValue(leaf.type, leaf.pick(row[j]))),
      });
    }
  });
  writeExpected(name, { num_rows: rows, columns: leaves, ...expect });
}

async function writeDuckdbFiles() {
  const con = await duckdbConnection();
  // DuckDB cuts row groups at multiples of 2048 rows: 5000 rows give 3 groups.
  for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd']) {
    await writeDuckdbFile(con, `types_${codec}`, {
      columns: typesColumns(), rows: 5000, seed: 1,
      copyOptions: `COMPRESSION ${codec}, ROW_GROUP_SIZE 2048`,
      expect: { min_row_groups: 3, pages: [{ path: 'cat', row_group: 0, page_types: ['DICTIONARY_PAGE'] }] },
    });
  }
  // Format v2 encodings: DELTA_BINARY_PACKED ints, BYTE_STREAM_SPLIT floats, DELTA_LENGTH_BYTE_ARRAY.
  for (const codec of ['snappy', 'zstd']) {
    await writeDuckdbFile(con, `types_v2_${codec}`, {
      columns: typesColumns(), rows: 5000, seed: 2,
      copyOptions: `COMPRESSION ${codec}, ROW_GROUP_SIZE 2048, PARQUET_VERSION V2`,
      expect: {
        min_row_groups: 3,
        pages: [
          { path: 'i32', row_group: 0, encodings: ['DELTA_BINARY_PACKED'] },
          { path: 'i64', row_group: 1, encodings: ['DELTA_BINARY_PACKED'] },
          { path: 'f32', row_group: 0, encodings: ['BYTE_STREAM_SPLIT'] },
          { path: 'f64', row_group: 2, encodings: ['BYTE_STREAM_SPLIT'] },
          { path: 's', row_group: 0, encodings: ['DELTA_LENGTH_BYTE_ARRAY'] },
          { path: 'cat', row_group: 0, page_types: ['DICTIONARY_PAGE'], encodings: ['RLE_DICTIONARY'] },
        ],
      },
    });
  }
  await writeDuckdbFile(con, 'many_row_groups', {
    columns: [
      scalar('id', 'BIGINT', 'INT64', false, (i) => BigInt(i)),
      scalar('label', 'VARCHAR', 'BYTE_ARRAY', true,
        withSpecials([], 0.2, (r) => ['red', 'green', 'blue', 'cyan'][randInt(r, 4)])),
      scalar('x', 'DOUBLE', 'DOUBLE', false, withSpecials([], 0.3, (r) => r() * 100)),
    ],
    rows: 17000, seed: 3, copyOptions: 'COMPRESSION snappy, ROW_GROUP_SIZE 2048',
    expect: { min_row_groups: 8 },
  });
  // The Hugging Face image layout with its feature metadata; some images big enough to span
  // hundreds of KB, as MedPix's do.
  const r = rng(4);
  const png = (n) => Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randBytes(r, n)]);
  const images = [png(100), png(5000), png(40000), png(150000), png(210000), png(90)];
  const hf = JSON.stringify({
    info: { features: { image: { _type: 'Image' }, question: { dtype: 'string', _type: 'Value' },
      answer: { dtype: 'string', _type: 'Value' } } },
  });
  await writeDuckdbFile(con, 'hf_image', {
    columns: [
      scalar('row', 'INTEGER', 'INT32', false, (i) => i),
      imageStruct('image', (i) => (i === 7 ? null
        : i === 8 ? { bytes: null, path: 'MPX1007_synpic46722.png' }
          : { bytes: images[i % images.length], path: `MPX${1000 + (i % 6)}_synpic${46000 + (i % 6)}.png` })),
      scalar('question', 'VARCHAR', 'BYTE_ARRAY', true, (i) => ` What is shown in image ${i}?`),
      scalar('answer', 'VARCHAR', 'BYTE_ARRAY', true, (i) => (i === 3 ? null : `Answer ${i}:\n• finding ${'é'.repeat(i)}`)),
    ],
    rows: 40, seed: 5,
    copyOptions: `COMPRESSION snappy, KV_METADATA {huggingface: ${sqlStr(hf)}}`,
    expect: { kv: { huggingface: hf } },
  });
  // HF Image + Audio features with the real fixtures (the repository's tests/fixtures):
  // embedded clips, a null Audio struct and a clip given by path only.
  const readFixture = (rel) => {
    const p = path.join(fixturesDir, rel);
    if (!fs.existsSync(p)) throw new Error(`missing fixture ${p}: tests/fixtures is part of the repository`);
    return fs.readFileSync(p);
  };
  const xray = readFixture('images/cxr-gray-512.png');
  const wav = readFixture('audio/jfk-16k-mono.wav');
  const flac = readFixture('audio/jfk-44k1-stereo.flac');
  const hfAudio = JSON.stringify({
    info: { features: { image: { _type: 'Image' }, audio: { sampling_rate: 16000, _type: 'Audio' },
      question: { dtype: 'string', _type: 'Value' }, answer: { dtype: 'string', _type: 'Value' } } },
  });
  await writeDuckdbFile(con, 'hf_audio', {
    columns: [
      scalar('row', 'INTEGER', 'INT32', false, (i) => i),
      imageStruct('image', () => ({ bytes: xray, path: 'cxr-gray-512.png' })),
      imageStruct('audio', (i) => [{ bytes: wav, path: 'jfk.wav' }, { bytes: flac, path: 'jfk.flac' }, null,
        { bytes: null, path: 'jfk.wav' }][i]),
      scalar('question', 'VARCHAR', 'BYTE_ARRAY', true, (i) => `What is said in clip ${i}?`),
      scalar('answer', 'VARCHAR', 'BYTE_ARRAY', true, () => 'Ask not what your country can do for you.'),
    ],
    rows: 4, seed: 6,
    copyOptions: `COMPRESSION snappy, KV_METADATA {huggingface: ${sqlStr(hfAudio)}}`,
    expect: { kv: { huggingface: hfAudio } },
  });
  // A list column (repeated): reading it is a clear Error, the other column still reads.
  await con.run('DROP TABLE IF EXISTS t');
  await con.run('CREATE TABLE t (id INTEGER, tags INTEGER[])');
  await con.run('INSERT INTO t SELECT i, [i, i + 1] FROM range(10) r(i)');
  await con.run(`COPY (FROM t ORDER BY id) TO '${path.join(outDir, 'list_column.parquet')}' (FORMAT PARQUET)`);
  writeExpected('list_column', {
    num_rows: 10,
    columns: [{ path: 'id', type: 'INT32', is_string: false, max_def_level: 1,
      values: Array.from({ length: 10 }, (_, i) => String(i)) }],
    errors: [{ path: 'tags.list.element', row_group: 0, contains: 'repeated/list columns are not supported' }],
  });
  // No rows at all: the schema is still there, with no row groups.
  await con.run(`COPY (SELECT 1::INTEGER AS id, 'x' AS s WHERE false) TO '${path.join(outDir, 'empty.parquet')}' (FORMAT PARQUET)`);
  writeExpected('empty', {
    num_rows: 0, row_groups: [],
    columns: [{ path: 'id', type: 'INT32', is_string: false, max_def_level: 1, values: [] },
      { path: 's', type: 'BYTE_ARRAY', is_string: true, max_def_level: 1, values: [] }],
  });
  // Codecs outside the supported set: a clear Error naming the codec.
  for (const [codec, named] of [['lz4', 'LZ4_RAW'], ['brotli', 'BROTLI']]) {
    await con.run('DROP TABLE IF EXISTS t');
    await con.run('CREATE TABLE t AS SELECT i::INTEGER AS id FROM range(10) r(i)');
    await con.run(`COPY t TO '${path.join(outDir, `codec_${codec}.parquet`)}' (FORMAT PARQUET, COMPRESSION ${codec})`);
    writeExpected(`codec_${codec}`, {
      num_rows: 10, columns: [],
      errors: [{ path: 'id', row_group: 0, contains: `compression codec ${named}` }],
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Files assembled byte by byte
// ---------------------------------------------------------------------------------------------

// Thrift compact protocol writer. A struct is a list of [field id, kind, value]; kinds are
// 'bool', 'i32', 'i64', 'bin', 'struct' and 'list:<kind>'. Undefined values are left out.
const WIRE = { i32: 5, i64: 6, bin: 8, struct: 12 };
function varint(out, n) {
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
}
const zigzag = (n) => { const v = BigInt(n); return v >= 0n ? v << 1n : ((-v) << 1n) - 1n; };
function pushBytes(out, bytes) { for (const b of bytes) out.push(b); }
function thriftStruct(out, fields) {
  let last = 0;
  for (const [id, kind, value] of fields) {
    if (value === undefined) continue;
    const type = kind === 'bool' ? (value ? 1 : 2) : kind.startsWith('list:') ? 9 : WIRE[kind];
    const delta = id - last;
    if (delta > 0 && delta <= 15) out.push((delta << 4) | type);
    else { out.push(type); varint(out, zigzag(id)); }
    last = id;
    thriftValue(out, kind, value);
  }
  out.push(0);
}
function thriftValue(out, kind, value) {
  if (kind === 'bool') return;
  if (kind === 'i32' || kind === 'i64') return varint(out, zigzag(value));
  if (kind === 'bin') {
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    varint(out, b.length);
    return pushBytes(out, b);
  }
  if (kind === 'struct') return thriftStruct(out, value);
  const elem = kind.slice(5);
  const n = value.length;
  if (n < 15) out.push((n << 4) | WIRE[elem]);
  else { out.push(0xf0 | WIRE[elem]); varint(out, n); }
  for (const v of value) thriftValue(out, elem, v);
}

const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 };
const ENC = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, DELTA_BINARY_PACKED: 5, DELTA_LENGTH_BYTE_ARRAY: 6,
  DELTA_BYTE_ARRAY: 7, RLE_DICTIONARY: 8, BYTE_STREAM_SPLIT: 9 };
const CODEC = { UNCOMPRESSED: 0, GZIP: 2 };
const REP = { REQUIRED: 0, OPTIONAL: 1 };
const bitWidth = (max) => { let w = 0; while (max >= 2 ** w) ++w; return w; };

function compress(codec, bytes) {
  return codec === 'GZIP' ? gzipSync(Buffer.from(bytes)) : Buffer.from(bytes);
}

// LSB-first bit packing of BigInt-able values at `width` bits, into exactly `nbytes` bytes.
function bitPack(values, width, nbytes) {
  const out = Buffer.alloc(nbytes);
  let bit = 0;
  for (const v of values) {
    const x = BigInt(v);
    for (let k = 0; k < width; ++k, ++bit) if ((x >> BigInt(k)) & 1n) out[bit >> 3] |= 1 << (bit & 7);
  }
  return out;
}

// RLE / bit-packed hybrid. style 'rle': one RLE run per stretch of equal values; 'packed': one
// bit-packed run padded to whole groups of 8; 'packed-trim': the same with the padding bytes cut
// (as some writers do for the final run).
function hybrid(values, width, style) {
  const out = [];
  if (style === 'rle') {
    for (let i = 0; i < values.length;) {
      let j = i;
      while (j < values.length && values[j] === values[i]) ++j;
      varint(out, (j - i) << 1);
      const nb = Math.ceil(width / 8);
      for (let k = 0; k < nb; ++k) out.push((values[i] >> (8 * k)) & 0xff);
      i = j;
    }
    return out;
  }
  if (values.length === 0) return out;
  const groups = Math.ceil(values.length / 8);
  varint(out, (groups << 1) | 1);
  const nbytes = style === 'packed-trim' ? Math.ceil((values.length * width) / 8) : groups * width;
  pushBytes(out, bitPack(values, width, nbytes));
  return out;
}

function le32(n) { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; }

// DELTA_BINARY_PACKED with 128-value blocks of 4 miniblocks. INT32 deltas wrap at 32 bits like
// Arrow's writer, which the reader must undo by truncating.
function deltaBinaryPacked(values, bits) {
  const out = [];
  const vals = values.map((v) => BigInt(v));
  const blockSize = 128, miniblocks = 4, perMini = blockSize / miniblocks;
  varint(out, blockSize); varint(out, miniblocks); varint(out, vals.length);
  varint(out, zigzag(vals.length ? vals[0] : 0n));
  const deltas = [];
  for (let i = 1; i < vals.length; ++i) deltas.push(BigInt.asIntN(bits, vals[i] - vals[i - 1]));
  for (let start = 0; start < deltas.length; start += blockSize) {
    const block = deltas.slice(start, start + blockSize);
    const min = block.reduce((a, b) => (b < a ? b : a));
    varint(out, zigzag(min));
    const rel = block.map((d) => BigInt.asUintN(bits, d - min));
    const widths = [];
    for (let m = 0; m < miniblocks; ++m) {
      const mb = rel.slice(m * perMini, (m + 1) * perMini);
      let w = 0;
      for (const x of mb) while (x >> BigInt(w)) ++w;
      widths.push(mb.length ? w : 0);
    }
    pushBytes(out, widths);
    for (let m = 0; m < miniblocks; ++m) {
      const mb = rel.slice(m * perMini, (m + 1) * perMini);
      if (!mb.length) break;  // unused miniblocks have a width but no body
      pushBytes(out, bitPack(mb, widths[m], (perMini * widths[m]) / 8));
    }
  }
  return out;
}

function plain(type, values, typeLength) {
  const parts = [];
  if (type === 'BOOLEAN') return [...bitPack(values.map((v) => (v ? 1 : 0)), 1, Math.ceil(values.length / 8))];
  for (const v of values) {
    switch (type) {
      case 'INT32': { const b = Buffer.alloc(4); b.writeInt32LE(Number(v)); parts.push(b); break; }
      case 'INT64': { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(v)); parts.push(b); break; }
      case 'FLOAT': { const b = Buffer.alloc(4); b.writeFloatLE(v); parts.push(b); break; }
      case 'DOUBLE': { const b = Buffer.alloc(8); b.writeDoubleLE(v); parts.push(b); break; }
      case 'BYTE_ARRAY': { const b = Buffer.from(v); parts.push(le32(b.length), b); break; }
      case 'INT96': parts.push(Buffer.from(v)); break;  // 12 raw bytes
      default: {
        if (v.length !== typeLength) throw new Error('fixed-length value of wrong size');
        parts.push(Buffer.from(v));
      }
    }
  }
  return [...Buffer.concat(parts)];
}

function encodeValues(enc, type, values, typeLength, levelStyle) {
  switch (enc) {
    case 'PLAIN': return plain(type, values, typeLength);
    case 'RLE': {  // booleans: 4-byte length, then hybrid data at bit width 1
      const body = hybrid(values.map((v) => (v ? 1 : 0)), 1, levelStyle);
      return [...le32(body.length), ...body];
    }
    case 'DELTA_BINARY_PACKED': return deltaBinaryPacked(values, type === 'INT32' ? 32 : 64);
    case 'DELTA_BYTE_ARRAY': {
      const bufs = values.map((v) => Buffer.from(v));
      const prefixes = [], suffixes = [];
      let prev = Buffer.alloc(0);
      for (const b of bufs) {
        let p = 0;
        while (p < prev.length && p < b.length && prev[p] === b[p]) ++p;
        prefixes.push(p);
        suffixes.push(b.subarray(p));
        prev = b;
      }
      return [...deltaBinaryPacked(prefixes, 32), ...deltaBinaryPacked(suffixes.map((s) => s.length), 32),
        ...Buffer.concat(suffixes)];
    }
    case 'BYTE_STREAM_SPLIT': {
      const width = typeLength;
      const out = Buffer.alloc(width * values.length);
      values.forEach((v, i) => { for (let k = 0; k < width; ++k) out[k * values.length + i] = v[k]; });
      return [...out];
    }
    default: throw new Error(`no encoder for ${enc}`);
  }
}

const valueKey = (v) => (Buffer.isBuffer(v) ? 'b:' + v.toString('hex') : typeof v + ':' + String(v));

// Builds one column chunk. leaf: { type, typeLength, maxDef, codec, defLevels (per row, optional
// for non-struct leaves), values (per row, null when not present), pages: [...] } where a page is
// { kind: 'dict', enc? } or { kind: 'v1' | 'v2', rows, enc, levels?: style, compressed?: bool }.
// Returns { bytes, meta } with offsets relative to the chunk start.
function buildChunk(leaf, rowStart, rowEnd) {
  const out = [];
  const encodings = new Set();
  let dictOffset, dataOffset, uncompressedTotal = 0;
  const rows = leaf.values.slice(rowStart, rowEnd);
  const defs = leaf.maxDef === 0 ? null
    : (leaf.defLevels ? leaf.defLevels.slice(rowStart, rowEnd) : rows.map((v) => (v === null ? 0 : leaf.maxDef)));
  // The dictionary holds the distinct values of the dictionary-encoded pages only: after the
  // fallback, pages are PLAIN and their values never enter it.
  let dict = null;
  const isDictEnc = (p) => p.enc === 'RLE_DICTIONARY' || p.enc === 'PLAIN_DICTIONARY';
  {
    let at = 0;
    const entries = new Map();
    for (const p of leaf.pages) {
      if (p.kind === 'dict') continue;
      if (isDictEnc(p)) {
        for (let i = at; i < at + p.rows; ++i) {
          if (rows[i] !== null && !entries.has(valueKey(rows[i]))) entries.set(valueKey(rows[i]), [entries.size, rows[i]]);
        }
      }
      at += p.rows;
    }
    if (at !== rows.length) throw new Error(`pages cover ${at} of ${rows.length} rows`);
    dict = entries;
  }
  let at = 0;
  for (const p of leaf.pages) {
    const headerFields = [];
    let body;
    if (p.kind === 'dict') {
      const values = [...dict.values()].map(([, v]) => v);
      const raw = plain(leaf.type, values, leaf.typeLength);
      body = compress(leaf.codec, raw);
      dictOffset = out.length;
      encodings.add(p.enc || 'PLAIN');
      headerFields.push([1, 'i32', 2], [2, 'i32', raw.length], [3, 'i32', body.length],
        [7, 'struct', [[1, 'i32', values.length], [2, 'i32', ENC[p.enc || 'PLAIN']]]]);
      uncompressedTotal += raw.length;
    } else {
      if (dataOffset === undefined) dataOffset = out.length;
      const pageRows = rows.slice(at, at + p.rows);
      const pageDefs = defs ? defs.slice(at, at + p.rows) : null;
      const present = pageRows.filter((v, i) => (pageDefs ? pageDefs[i] === leaf.maxDef : true));
      let values;
      if (isDictEnc(p)) {
        const idx = present.map((v) => dict.get(valueKey(v))[0]);
        const w = bitWidth(Math.max(0, dict.size - 1));
        values = [w, ...hybrid(idx, w, p.levels === 'rle' ? 'rle' : 'packed')];
      } else {
        values = encodeValues(p.enc, leaf.type, present, leaf.typeLength, p.levels || 'rle');
      }
      encodings.add(p.enc);
      const levelBytes = pageDefs ? hybrid(pageDefs, bitWidth(leaf.maxDef), p.levels || 'rle') : [];
      if (pageDefs) encodings.add('RLE');
      if (p.kind === 'v1') {
        const raw = pageDefs ? [...le32(levelBytes.length), ...levelBytes, ...values] : values;
        body = compress(leaf.codec, raw);
        headerFields.push([1, 'i32', 0], [2, 'i32', raw.length], [3, 'i32', body.length],
          [5, 'struct', [[1, 'i32', p.rows], [2, 'i32', ENC[p.enc]], [3, 'i32', ENC.RLE], [4, 'i32', ENC.RLE]]]);
        uncompressedTotal += raw.length;
      } else {
        const compressed = p.compressed !== false;
        const valueBody = compressed ? compress(leaf.codec, values) : Buffer.from(values);
        body = Buffer.concat([Buffer.from(levelBytes), valueBody]);
        const nulls = pageRows.length - present.length;
        headerFields.push([1, 'i32', 3], [2, 'i32', levelBytes.length + values.length], [3, 'i32', body.length],
          [8, 'struct', [[1, 'i32', p.rows], [2, 'i32', nulls], [3, 'i32', p.rows], [4, 'i32', ENC[p.enc]],
            [5, 'i32', levelBytes.length], [6, 'i32', 0], [7, 'bool', compressed]]]);
        uncompressedTotal += levelBytes.length + values.length;
      }
      at += p.rows;
    }
    const header = [];
    thriftStruct(header, headerFields);
    uncompressedTotal += header.length;
    pushBytes(out, header);
    pushBytes(out, body);
  }
  return {
    bytes: out, dictOffset, dataOffset, uncompressedTotal,
    encodings: [...encodings].map((e) => ENC[e]),
  };
}

// Assembles a whole file. schema: flat list of SchemaElement field lists (root first); leaves:
// leaf columns in schema order, each with a `path` array; rowGroups: [rows per group];
// pagesFor(leaf, groupIndex) gives that chunk's page list.
function writeHandmadeFile(name, { schema, leaves, rowGroups, pagesFor, kv }) {
  const out = [...Buffer.from('PAR1')];
  const groups = [];
  let rowStart = 0;
  rowGroups.forEach((n, g) => {
    const chunks = [];
    let groupBytes = 0;
    for (const leaf of leaves) {
      const chunk = buildChunk({ ...leaf, pages: pagesFor(leaf, g) }, rowStart, rowStart + n);
      const base = out.length;
      pushBytes(out, chunk.bytes);
      groupBytes += chunk.uncompressedTotal;
      chunks.push([
        [2, 'i64', base],
        [3, 'struct', [
          [1, 'i32', TYPE[leaf.type]], [2, 'list:i32', chunk.encodings], [3, 'list:bin', leaf.path],
          [4, 'i32', CODEC[leaf.codec]], [5, 'i64', n], [6, 'i64', chunk.uncompressedTotal],
          [7, 'i64', chunk.bytes.length], [9, 'i64', base + chunk.dataOffset],
          [11, 'i64', chunk.dictOffset === undefined ? undefined : base + chunk.dictOffset]]],
      ]);
    }
    groups.push([[1, 'list:struct', chunks], [2, 'i64', groupBytes], [3, 'i64', n]]);
    rowStart += n;
  });
  const footer = [];
  thriftStruct(footer, [
    [1, 'i32', 1], [2, 'list:struct', schema], [3, 'i64', rowStart], [4, 'list:struct', groups],
    [5, 'list:struct', kv ? Object.entries(kv).map(([k, v]) => [[1, 'bin', k], [2, 'bin', v]]) : undefined],
    [6, 'bin', 'omnitune make_test_parquet.mjs'],
  ]);
  pushBytes(out, footer);
  pushBytes(out, le32(footer.length));
  pushBytes(out, Buffer.from('PAR1'));
  fs.writeFileSync(path.join(outDir, `${name}.parquet`), Buffer.from(out));
}

function leafElement(name, type, rep, extra = []) {
  return [[1, 'i32', TYPE[type]], ...extra.filter(([id]) => id === 2), [3, 'i32', REP[rep]], [4, 'bin', name],
    ...extra.filter(([id]) => id !== 2)];
}
const UTF8 = [[6, 'i32', 0]];                       // ConvertedType UTF8
const LOGICAL_STRING = [[10, 'struct', [[1, 'struct', []]]]];  // LogicalType STRING only

function expectedColumns(leaves) {
  return leaves.map((l) => ({
    path: l.path.join('.'), type: l.type, is_string: Boolean(l.isString), max_def_level: l.maxDef,
    values: l.values.map((v, i) => (l.defLevels ? (l.defLevels[i] === l.maxDef ? v : null) : v))
      .map((v) => expectValue(l.type, v)),
  }));
}

// Dictionary pages, dictionary-encoded pages and then PLAIN pages in one column chunk: what
// pyarrow writes once a chunk's dictionary outgrows its limit. Also legacy PLAIN_DICTIONARY,
// every level style, a page of only nulls, bit width 0 indices, REQUIRED columns and GZIP.
function writeHandmadeFallback() {
  const r = rng(6);
  const rowGroups = [60, 25];
  const n = 85;
  const phrases = Array.from({ length: 6 }, (_, k) => `dictionary entry ${k}: ` + 'long text '.repeat(20 + k));
  const text = Array.from({ length: n }, (_, i) => {
    if (i % 11 === 5) return null;
    if (i >= 80) return null;                               // rg1's last page holds only nulls
    if (i < 30 || (i >= 60 && i < 80)) return phrases[randInt(r, phrases.length)];
    return `unique value ${i} ${randString(r, 8)}`;           // the PLAIN phase
  });
  const leaves = [
    { path: ['id'], type: 'INT64', maxDef: 0, codec: 'GZIP', values: Array.from({ length: n }, (_, i) => BigInt(i) * 1000003n - 5n) },
    { path: ['text'], type: 'BYTE_ARRAY', isString: true, maxDef: 1, codec: 'GZIP', values: text },
    { path: ['code'], type: 'INT32', maxDef: 0, codec: 'UNCOMPRESSED',
      values: Array.from({ length: n }, (_, i) => (i < 60 ? 7 : [-3, 0, 99, 2147483647, -2147483648][randInt(r, 5)])) },
  ];
  const pagesFor = (leaf, g) => {
    const name = leaf.path[0];
    if (name === 'id') return g === 0 ? [{ kind: 'v1', rows: 30, enc: 'PLAIN' }, { kind: 'v1', rows: 30, enc: 'PLAIN' }]
      : [{ kind: 'v1', rows: 25, enc: 'PLAIN' }];
    if (name === 'text') return g === 0
      ? [{ kind: 'dict' }, { kind: 'v1', rows: 15, enc: 'RLE_DICTIONARY', levels: 'rle' },
        { kind: 'v1', rows: 15, enc: 'PLAIN_DICTIONARY', levels: 'packed' },
        { kind: 'v1', rows: 15, enc: 'PLAIN', levels: 'packed-trim' },
        { kind: 'v2', rows: 15, enc: 'PLAIN', levels: 'packed' }]
      : [{ kind: 'dict', enc: 'PLAIN_DICTIONARY' }, { kind: 'v1', rows: 20, enc: 'RLE_DICTIONARY' },
        { kind: 'v1', rows: 5, enc: 'PLAIN' }];
    return g === 0 ? [{ kind: 'dict' }, { kind: 'v1', rows: 60, enc: 'RLE_DICTIONARY', levels: 'rle' }]
      : [{ kind: 'dict' }, { kind: 'v2', rows: 25, enc: 'RLE_DICTIONARY', levels: 'packed' }];
  };
  const schema = [
    [[4, 'bin', 'schema'], [5, 'i32', 3]],
    leafElement('id', 'INT64', 'REQUIRED'),
    leafElement('text', 'BYTE_ARRAY', 'OPTIONAL', UTF8),
    leafElement('code', 'INT32', 'REQUIRED'),
  ];
  writeHandmadeFile('handmade_fallback', { schema, leaves, rowGroups, pagesFor });
  writeExpected('handmade_fallback', {
    num_rows: n, row_groups: rowGroups, columns: expectedColumns(leaves),
    pages: [
      { path: 'text', row_group: 0, exact: true,
        page_types: ['DICTIONARY_PAGE', 'DATA_PAGE', 'DATA_PAGE', 'DATA_PAGE', 'DATA_PAGE_V2'],
        encodings: ['PLAIN', 'RLE_DICTIONARY', 'PLAIN_DICTIONARY', 'PLAIN', 'PLAIN'] },
      { path: 'code', row_group: 1, exact: true, page_types: ['DICTIONARY_PAGE', 'DATA_PAGE_V2'],
        encodings: ['PLAIN', 'RLE_DICTIONARY'] },
    ],
  });
}

// Data page v2 throughout: RLE booleans, DELTA_BINARY_PACKED with wrapping INT32 deltas,
// DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT on FIXED_LEN_BYTE_ARRAY, an uncompressed v2 page inside a
// GZIP chunk, an HF image struct (levels 0/1/2) whose bytes fall back from dictionary to PLAIN,
// and an INT96 column that must be refused while the others read.
function writeHandmadeV2() {
  const r = rng(7);
  const n = 300;
  const flag = Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : i < 40 ? true : r() < 0.5));
  const words = ['apple', 'apples', 'applesauce', 'banana', 'band', 'bandana', '', '日本', '日本語'];
  const name = Array.from({ length: n }, (_, i) => (i % 17 === 3 ? null : words[randInt(r, words.length)] + (i % 5 === 0 ? '' : String(i))));
  const small = Array.from({ length: n }, (_, i) => (i % 19 === 4 ? null
    : i % 3 === 0 ? 2147483647 : i % 3 === 1 ? -2147483648 : randI32(r)));
  const big = Array.from({ length: n }, (_, i) => (i === 0 ? -(2n ** 63n) : i === 1 ? 2n ** 63n - 1n : randI64(r)));
  const fixed = Array.from({ length: n }, (_, i) => (i % 23 === 1 ? null : randBytes(r, 4)));
  const imgs = [randBytes(r, 3000), randBytes(r, 10), randBytes(r, 700)];
  // Per row: 0 = image struct null, 1 = struct present with this field null, 2 = value present.
  const imgDefs = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? 0 : 2));
  const bytesDefs = imgDefs.map((d, i) => (d && i % 7 === 0 ? 1 : d));
  const pathDefs = imgDefs.map((d, i) => (d && i % 9 === 0 ? 1 : d));
  const imgBytes = Array.from({ length: n }, (_, i) => (i < 150 ? imgs[i % 3] : randBytes(r, 1 + randInt(r, 50))));
  const imgPath = Array.from({ length: n }, (_, i) => `case_${i % 4}/image ${i}.png`);
  const int96 = Array.from({ length: n }, () => randBytes(r, 12));
  const leaves = [
    { path: ['flag'], type: 'BOOLEAN', maxDef: 1, codec: 'GZIP', values: flag },
    { path: ['name'], type: 'BYTE_ARRAY', isString: true, maxDef: 1, codec: 'GZIP', values: name },
    { path: ['small'], type: 'INT32', maxDef: 1, codec: 'UNCOMPRESSED', values: small },
    { path: ['big'], type: 'INT64', maxDef: 0, codec: 'GZIP', values: big },
    { path: ['fixed'], type: 'FIXED_LEN_BYTE_ARRAY', typeLength: 4, maxDef: 1, codec: 'UNCOMPRESSED', values: fixed },
    { path: ['img', 'bytes'], type: 'BYTE_ARRAY', maxDef: 2, codec: 'GZIP', values: imgBytes, defLevels: bytesDefs },
    { path: ['img', 'path'], type: 'BYTE_ARRAY', isString: true, maxDef: 2, codec: 'GZIP', values: imgPath, defLevels: pathDefs },
    { path: ['ts'], type: 'INT96', maxDef: 1, codec: 'UNCOMPRESSED', values: int96 },
  ];
  const pagesFor = (leaf) => {
    switch (leaf.path.join('.')) {
      case 'flag': return [{ kind: 'v2', rows: 150, enc: 'RLE', compressed: false },
        { kind: 'v2', rows: 100, enc: 'RLE', levels: 'packed' }, { kind: 'v1', rows: 50, enc: 'PLAIN' }];
      case 'name': return [{ kind: 'v2', rows: 300, enc: 'DELTA_BYTE_ARRAY' }];
      case 'small': return [{ kind: 'v2', rows: 200, enc: 'DELTA_BINARY_PACKED' },
        { kind: 'v1', rows: 100, enc: 'DELTA_BINARY_PACKED', levels: 'packed' }];
      case 'big': return [{ kind: 'v2', rows: 300, enc: 'DELTA_BINARY_PACKED' }];
      case 'fixed': return [{ kind: 'v2', rows: 300, enc: 'BYTE_STREAM_SPLIT' }];
      case 'img.bytes': return [{ kind: 'dict' }, { kind: 'v2', rows: 150, enc: 'RLE_DICTIONARY' },
        { kind: 'v2', rows: 150, enc: 'PLAIN', levels: 'packed' }];
      case 'img.path': return [{ kind: 'v2', rows: 120, enc: 'PLAIN' }, { kind: 'v2', rows: 180, enc: 'PLAIN', compressed: false }];
      default: return [{ kind: 'v1', rows: 300, enc: 'PLAIN' }];
    }
  };
  const schema = [
    [[4, 'bin', 'schema'], [5, 'i32', 7]],
    leafElement('flag', 'BOOLEAN', 'OPTIONAL'),
    leafElement('name', 'BYTE_ARRAY', 'OPTIONAL', LOGICAL_STRING),
    leafElement('small', 'INT32', 'OPTIONAL'),
    leafElement('big', 'INT64', 'REQUIRED'),
    leafElement('fixed', 'FIXED_LEN_BYTE_ARRAY', 'OPTIONAL', [[2, 'i32', 4]]),
    [[3, 'i32', REP.OPTIONAL], [4, 'bin', 'img'], [5, 'i32', 2]],
    leafElement('bytes', 'BYTE_ARRAY', 'OPTIONAL'),
    leafElement('path', 'BYTE_ARRAY', 'OPTIONAL', [...UTF8, ...LOGICAL_STRING]),
    leafElement('ts', 'INT96', 'OPTIONAL'),
  ];
  const kv = { huggingface: '{"info": {"features": {"img": {"_type": "Image"}}}}', empty: '' };
  writeHandmadeFile('handmade_v2', { schema, leaves, rowGroups: [n], pagesFor, kv });
  writeExpected('handmade_v2', {
    num_rows: n, row_groups: [n], kv,
    columns: expectedColumns(leaves.filter((l) => l.type !== 'INT96')),
    errors: [{ path: 'ts', row_group: 0, contains: 'INT96' }],
    pages: [
      { path: 'flag', row_group: 0, exact: true, page_types: ['DATA_PAGE_V2', 'DATA_PAGE_V2', 'DATA_PAGE'],
        encodings: ['RLE', 'RLE', 'PLAIN'] },
      { path: 'name', row_group: 0, exact: true, page_types: ['DATA_PAGE_V2'], encodings: ['DELTA_BYTE_ARRAY'] },
      { path: 'img.bytes', row_group: 0, exact: true,
        page_types: ['DICTIONARY_PAGE', 'DATA_PAGE_V2', 'DATA_PAGE_V2'], encodings: ['PLAIN', 'RLE_DICTIONARY', 'PLAIN'] },
    ],
  });
}

await writeDuckdbFiles();
writeHandmadeFallback();
writeHandmadeV2();
console.log(`make_test_parquet: wrote ${fs.readdirSync(outDir).filter((f) => f.endsWith('.parquet')).length} parquet files to ${outDir}`);
