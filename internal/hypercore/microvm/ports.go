package microvm

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// portsDir holds one claim file per published host port
// ("<proto>-<port>", created O_EXCL, holding the machine id), shared by
// every vimana process and provider on the host (the sandbox uses the same
// directory), so a port is never handed to two spacecores. QEMU binds the
// port itself only at Start; the claim covers the time in between.
const portsDir = "/run/vimana/ports"

func claimPath(proto string, port int) string {
	return filepath.Join(portsDir, proto+"-"+strconv.Itoa(port))
}

// claimPort records that id publishes port; false when another machine
// holds it.
func claimPort(id, proto string, port int) (bool, error) {
	if err := os.MkdirAll(portsDir, 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(claimPath(proto, port), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = f.WriteString(id)
	f.Close()
	return true, err
}

// releasePort drops id's claim on port, and only id's.
func releasePort(id, proto string, port int) {
	path := claimPath(proto, port)
	if b, err := os.ReadFile(path); err == nil && string(b) == id {
		_ = os.Remove(path)
	}
}

// Automatic host ports come from [AutoPortMin, AutoPortMax], below Linux's
// default ephemeral range (32768-60999, net.ipv4.ip_local_port_range).
const (
	AutoPortMin = 20000
	AutoPortMax = 29999
)

// reservePort claims the host port of p for id (picking a free one when
// HostPort is 0) after checking that no host socket has it bound.
func reservePort(id string, p hypercore.Port) (int, error) {
	auto := p.HostPort == 0
	for try := 0; try < 64; try++ {
		q := p
		if auto {
			// Outside the kernel's ephemeral range, so a published port
			// never collides with an outgoing connection's source port.
			q.HostPort = AutoPortMin + mrand.IntN(AutoPortMax-AutoPortMin+1)
		}
		hp, err := bindCheck(q)
		if err != nil {
			if auto {
				continue // taken: try another
			}
			return 0, err
		}
		ok, err := claimPort(id, p.Protocol, hp)
		if err != nil {
			return 0, err
		}
		if ok {
			return hp, nil
		}
		if p.HostPort != 0 {
			return 0, fmt.Errorf("%w: host port %d/%s is published by another spacecore", hypercore.ErrResources, hp, p.Protocol)
		}
	}
	return 0, fmt.Errorf("%w: no free host port for %d/%s", hypercore.ErrResources, p.Port, p.Protocol)
}

// bindCheck binds the host port briefly (port 0 picks a free one).
func bindCheck(p hypercore.Port) (int, error) {
	host := p.HostIP
	if host == "" {
		host = "0.0.0.0"
	}
	addr := net.JoinHostPort(host, strconv.Itoa(p.HostPort))
	if p.Protocol == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, fmt.Errorf("%w: host port %s/udp is taken: %v", hypercore.ErrResources, addr, err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, fmt.Errorf("%w: host port %s/tcp is taken: %v", hypercore.ErrResources, addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
