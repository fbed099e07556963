package hostnet

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// TestAutoPortsAvoidEphemeralRange: host ports picked for HostPort 0 lie
// in [AutoPortMin, AutoPortMax], outside the kernel's ephemeral range, and
// are distinct while claimed.
func TestAutoPortsAvoidEphemeralRange(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("port claims live in /run/vimana: needs root; CI runs this as root")
	}
	var lo, hi int
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi)
	}
	if lo != 0 && AutoPortMax >= lo && AutoPortMin <= hi {
		t.Skipf("this host's ephemeral range %d-%d overlaps the automatic range", lo, hi)
	}
	id := fmt.Sprintf("porttest-%d", time.Now().UnixNano()%1e9)
	seen := map[int]bool{}
	for i := 0; i < 8; i++ {
		hp, err := ReservePort(id, hypercore.Port{Port: 80, Protocol: "tcp", HostIP: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ReleasePort(id, "tcp", hp) })
		if hp < AutoPortMin || hp > AutoPortMax || seen[hp] {
			t.Fatalf("picked %d (range %d-%d, seen %v)", hp, AutoPortMin, AutoPortMax, seen)
		}
		seen[hp] = true
	}
}
