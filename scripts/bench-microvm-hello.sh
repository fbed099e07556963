#!/usr/bin/env bash
# `vimana run` of examples/hello with isolation = "microvm", N times: seconds
# from launching the command to HTTP 200 on the published port, and QEMU's
# resident memory then. Needs root, `make hello-image` (which builds
# bin/vimana and bin/vimana-agent) and a free port 18080. With AGENT=self the
# vimana binary itself is the guest agent (bin/vimana-agent hidden).
# Each probe gives up after 0.5 s: QEMU's user networking accepts on the host
# port at once and retries its SYN to a guest that is not listening yet with
# exponential backoff, so one long-lived probe would measure that backoff.
set -euo pipefail
N=${N:-5}
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/vimana-mvm-hello-XXXX)
trap 'rm -rf "$dir"' EXIT
sed -e 's/host_port = 8080/host_port = 18080/' -e 's/^\[hardware\]$/[hardware]\nisolation = "microvm"/' \
    -e "s#oci-layout:image:latest#oci-layout:$PWD/examples/hello/image:latest#" examples/hello/hac.toml > "$dir/hac.toml"
bin=bin/vimana
if [ "${AGENT:-}" = self ]; then
  mkdir "$dir/bin" && cp bin/vimana "$dir/bin/" && bin=$dir/bin/vimana
fi
export VIMANA_MICROVM_CACHE=${VIMANA_MICROVM_CACHE:-/var/cache/vimana/microvm}
for i in $(seq 1 "$N"); do
  t0=$(date +%s.%N)
  "$bin" --home "$dir/home" run "$dir/hac.toml" >"$dir/out" 2>"$dir/err" &
  pid=$!
  until curl -sf -m 0.5 -o /dev/null http://127.0.0.1:18080/; do
    kill -0 $pid 2>/dev/null || { cat "$dir/err"; exit 1; }
    sleep 0.02
  done
  t1=$(date +%s.%N)
  q=$(pgrep -f "$dir/home/hypercore/microvm/machines" | head -1)
  rss=$(awk '/VmRSS/{print $2}' "/proc/$q/status")
  printf 'run %d: %.2f s to HTTP 200, QEMU RSS %d MiB (load %s)\n' "$i" "$(echo "$t1 - $t0" | bc)" $((rss / 1024)) "$(cut -d' ' -f1 /proc/loadavg)"
  kill -INT $pid
  wait $pid || true
done
