#!/usr/bin/env python3
"""Fails when a file of the repository refers to a path outside it.

A user clones omnitune anywhere, with nothing beside it: code, tests, benches, scripts, configs and
docs must not read from a folder next to the clone (the development machines' shared folder), climb
above the repository root, or name a development machine's own checkout. What is flagged:
  - the parent's `shared` folder and `shared/{fixtures,peers,research,hooks,DESIGN.md,STYLE.md}`
    (the fixtures the tests need live in tests/fixtures);
  - a run of `../` longer than the file's depth in the tree (`../../../../x` from tests/unit/parquet);
  - a source-root variable followed by `/..` (`OMNITUNE_SOURCE_DIR "/..`, `${PROJECT_SOURCE_DIR}/..`,
    `$src/..`, `$root/..`);
  - `/work/main` or `/work/shared` (a development checkout's absolute path).
Usage: outside_paths.py ROOT        check the tree at ROOT (exit 1 and one line per finding)
       outside_paths.py --self-test plant each kind of finding in a scratch tree and expect it caught
"""
import os
import re
import sys
import tempfile

UP_SHARED = '..' + '/shared'  # spelled apart so this file does not itself match the checks

SKIP_DIRS = {'.git', 'build', 'node_modules', '__pycache__'}
SKIP_PREFIXES = ('tests/fixtures/',)  # data files, provenance in their README
PATTERNS = [
    (re.compile(r'\.\./shared\b'), 'refers to the shared folder beside the checkout, which only development machines have'),
    (re.compile(r'(?<![\w/.-])shared/(fixtures|peers|research|hooks|DESIGN\.md|STYLE\.md)'),
     'refers to the development-only shared/ folder'),
    (re.compile(r'(OMNITUNE_SOURCE_DIR\)?\s*(\+\s*)?"/\.\.|(PROJECT|CMAKE)_SOURCE_DIR\}/\.\.|'
                r'\$\{?(src|root)\}?/\.\.(/|"|$))'),
     'climbs above the source root'),
    (re.compile(r'/work/(main|shared)\b'), "names a development machine's checkout"),
]
CLIMB = re.compile(r'(?<![\w.])((?:\.\./)+)')


def is_text(path):
    with open(path, 'rb') as f:
        return b'\0' not in f.read(8192)


def scan(root):
    findings = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith('build-'))
        for name in sorted(files):
            path = os.path.join(d, name)
            rel = os.path.relpath(path, root).replace(os.sep, '/')
            if rel.startswith(SKIP_PREFIXES) or rel == 'tests/lint/outside_paths.py' or not os.path.isfile(path) \
                    or not is_text(path):
                continue
            depth = rel.count('/')
            with open(path, encoding='utf-8', errors='replace') as f:
                for n, line in enumerate(f, 1):
                    for rx, why in PATTERNS:
                        if rx.search(line):
                            findings.append(f'{rel}:{n}: {why}: {line.strip()[:160]}')
                    for m in CLIMB.finditer(line):
                        if m.group(1).count('../') > depth:
                            findings.append(f'{rel}:{n}: {m.group(1)} climbs above the repository root '
                                            f'(the file is {depth} folder(s) deep): {line.strip()[:160]}')
    return findings


def self_test():
    bad = {
        'tests/unit/a_test.cpp': 'std::string d = std::string(OMNITUNE_SOURCE_DIR) + "/' + UP_SHARED + '/fixtures/x";\n',
        'tests/e2e/b.sh': 'fx=$src/../other/fixtures\n',
        'docs/c.md': 'See shared/fixtures/README.md for the model.\n',
        'tests/unit/parquet/d.mjs': "const f = path.resolve(here, '../../../../elsewhere');\n",
        'bench/e.sh': 'data=/work/main/tests/fixtures\n',
        'tests/f.cmake': 'set(X ${PROJECT_SOURCE_DIR}/../data)\n',
    }
    good = {
        'tests/unit/g_test.cpp': '#include "../test_util.h"\nconst char* p = "../../etc/x.safetensors";\n',
        'docs/h.md': 'enroot import -o /shared/images/omnitune.sqsh dockerd://omnitune:cuda\n',
        'tests/fixtures/README.md': 'copied from ' + UP_SHARED + '/fixtures\n',
    }
    ok = True
    with tempfile.TemporaryDirectory() as t:
        for files in (bad, good):
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(t, rel)), exist_ok=True)
                with open(os.path.join(t, rel), 'w') as f:
                    f.write(text)
        found = scan(t)
        for rel in bad:
            if not any(x.startswith(rel + ':') for x in found):
                print(f'self-test: FAIL: {rel} was not flagged')
                ok = False
        for rel in good:
            hits = [x for x in found if x.startswith(rel + ':')]
            if hits:
                print(f'self-test: FAIL: {rel} was flagged: {hits}')
                ok = False
    print(f'self-test: {"1 passed, 0 failed" if ok else "0 passed, 1 failed"}')
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ['--self-test']:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = scan(sys.argv[1])
    for f in found:
        print(f)
    print(f'outside_paths: {len(found)} reference(s) to paths outside the repository')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
