#!/usr/bin/env bash
# Builds README.md from docs/readme-head.md and the docs pages (headings demoted one level).
# Edit those, then run: bash scripts/build-readme.sh
set -e
cd "$(dirname "$0")/.."
out=README.md
cat docs/readme-head.md > $out
echo >> $out
echo "## Contents" >> $out
for f in service science simulator preview bsread kernels performance soak operations deploy; do
  [ -f docs/$f.md ] || continue
  t=$(head -1 docs/$f.md | sed 's/^# //')
  a=$(echo "$t" | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9 -]//g; s/ /-/g')
  echo "- [$t](#$a)" >> $out
done
echo "- [Development](#development)" >> $out
for f in service science simulator preview bsread kernels performance soak operations deploy; do
  [ -f docs/$f.md ] || continue
  echo >> $out
  # demote headings outside code fences; fix relative links to docs/ pictures
  awk 'BEGIN{f=0} /^```/{f=!f} { if(!f && /^#/) print "#" $0; else print }' docs/$f.md \
    | sed 's#(preview\.png)#(docs/preview.png)#g; s#(\./preview\.png)#(docs/preview.png)#g' >> $out
done
cat >> $out <<'EOT'

## Development

See [CONTRIBUTING.md](CONTRIBUTING.md) for the layout and conventions. Useful commands:

| command | what it does |
|---|---|
| `npm run build` | AssemblyScript → `build/kernel.wasm` (release), `build/kernel.shared.wasm` (the same with a shared memory, for the `--threads` workers) and `build/kernel.debug.wasm`, `tsc` → `dist/`, the preview bundle |
| `npm test` | build, type-check (service, tests and `assembly/`), then every uvu suite; last line `N passed, N failed` |
| `npm run bench` | kernel benchmark (`--json` for one JSON object per line) |
| `npm run bench:service` | whole-service benchmark with sender and consumers in separate processes |
| `npm run soak -- --minutes N` | long run at 100 Hz with periodic faults |
| `.ci/run` | what CI runs on a clean clone: installs Debian's chromium and bitshuffle when missing, `npm ci`, `npm test` |

Every kernel has a plain TypeScript reference in `test/reference/`, and the tests compare both on random
and on golden data. The golden bsread messages in `test/fixtures/vectors/` were made by the reference
Python library (copied from the project's shared vectors; never edited).
EOT
