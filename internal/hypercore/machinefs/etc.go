package machinefs

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fallbackDNS is used when the host only has loopback resolvers (e.g.
// systemd-resolved's 127.0.0.53), which a spacecore can never reach.
var fallbackDNS = []string{"8.8.8.8", "1.1.1.1"}

// EtcMounts writes the machine's /etc/hosts, /etc/hostname and
// /etc/resolv.conf into rwDir (on the machine's tmpfs, so a workload that
// rewrites them is bounded by the disk limit like any other write) and
// returns the bind mounts placing them in the container. Bind mounts,
// rather than writes into the merged rootfs, because the runtime
// (libcontainer, runsc's gofer) resolves their destinations inside the rootfs: an image whose /etc is a symlink
// cannot redirect them onto the host.
func EtcMounts(rwDir, hostname, ip string, dns []string) ([]specs.Mount, error) {
	dir := filepath.Join(rwDir, "etc")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	var hosts bytes.Buffer
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if ip != "" {
		fmt.Fprintf(&hosts, "%s\t%s\n", ip, hostname)
	} else {
		fmt.Fprintf(&hosts, "127.0.1.1\t%s\n", hostname)
	}
	files := map[string][]byte{
		"hosts":       hosts.Bytes(),
		"hostname":    []byte(hostname + "\n"),
		"resolv.conf": resolvConf(dns),
	}
	var out []specs.Mount
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, files[name], 0o644); err != nil {
			return nil, err
		}
		out = append(out, specs.Mount{
			Destination: "/etc/" + name, Type: "bind", Source: src,
			Options: []string{"bind", "nosuid", "nodev", "noexec"},
		})
	}
	return out, nil
}

// resolvConf renders resolv.conf from dns, or from the host's resolv.conf
// without its loopback nameservers.
func resolvConf(dns []string) []byte {
	var b bytes.Buffer
	if len(dns) > 0 {
		for _, s := range dns {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
		return b.Bytes()
	}
	servers := 0
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			fields := strings.Fields(line)
			switch {
			case len(fields) >= 2 && fields[0] == "nameserver":
				// Machines have IPv4 only (see internal/hypercore/hostnet), and never the host's
				// loopback.
				if ip := net.ParseIP(fields[1]); ip == nil || ip.To4() == nil || ip.IsLoopback() {
					continue
				}
				servers++
				b.WriteString(line + "\n")
			case len(fields) >= 2 && (fields[0] == "search" || fields[0] == "options" || fields[0] == "domain"):
				b.WriteString(line + "\n")
			}
		}
		f.Close()
	}
	if servers == 0 {
		for _, s := range fallbackDNS {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
	}
	return b.Bytes()
}
