#!/usr/bin/env bash
# The main job on embedded defaults: a 4-node local devnet (separate node
# processes, each with a microchain validator and the spacecore supervisor),
# then the hello spacecore deployed onto it and fetched through the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/vimana
DIR=${DEVNET_HOME:-.devnet}
$BIN devnet up --nodes "${NODES:-4}" --home "$DIR"
out=$($BIN --home "$DIR" spacecore run examples/hello/hac.toml -o json)
echo "$out"
url=$(printf '%s' "$out" | sed -n 's/.*"url": "\([^"]*\)".*/\1/p')
for _ in $(seq 50); do
  if body=$(curl -fsS "$url" 2>/dev/null); then
    echo "GET $url -> $body"
    echo "devnet is up in $DIR: 'bin/vimana devnet status --home $DIR', 'bin/vimana --home $DIR spacecore ls', 'bin/vimana devnet down --home $DIR'"
    exit 0
  fi
  sleep 0.2
done
echo "the hello spacecore did not answer at $url" >&2
exit 1
