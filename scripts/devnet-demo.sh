#!/usr/bin/env bash
# The main job on embedded defaults: a 4-node local devnet (separate node
# processes, each a microchain validator; node 0 is the edge gateway, nodes
# 1-3 are providers) with its own image registry, then the hello spacecore
# deployed through the marketplace (order -> auction -> lease -> URL) and
# fetched through the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/vimana
DIR=${DEVNET_HOME:-.devnet}
$BIN devnet up --nodes "${NODES:-4}" --home "$DIR"
out=$($BIN --home "$DIR" deploy examples/hello/hac.toml -o json)
echo "$out"
url=$(printf '%s' "$out" | sed -n 's/.*"url": "\([^"]*\)".*/\1/p')
lease=$(printf '%s' "$out" | sed -n 's/.*"lease": "\([^"]*\)".*/\1/p')
# *.localhost resolves to loopback in browsers; tell curl explicitly.
hostport=${url#http://}; hostport=${hostport%%/*}
for _ in $(seq 50); do
  if body=$(curl -fsS --resolve "$hostport:127.0.0.1" "$url" 2>/dev/null); then
    echo "GET $url -> $body"
    echo "devnet is up in $DIR. Try: '$BIN --home $DIR lease status $lease', '$BIN --home $DIR lease logs $lease',"
    echo "'$BIN --home $DIR lease close $lease', '$BIN devnet status --home $DIR', '$BIN devnet down --home $DIR'"
    exit 0
  fi
  sleep 0.2
done
echo "the hello spacecore did not answer at $url" >&2
exit 1
