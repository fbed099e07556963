package hostnet

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Firewall layout (iptables; every rule vimana adds lives in its own
// chains, per-machine rules carry the comment "vimana:<id>"):
//
//	filter INPUT   -i <bridge> -> VIMANA-INPUT: established ok, else DROP
//	               (a spacecore reaches no host address or port, loopback
//	               included)
//	filter FORWARD -> VIMANA-FORWARD: bridge to bridge DROP (no
//	               spacecore to spacecore, not even hairpinned through a
//	               published port), bridge to link-local DROP (cloud
//	               metadata services), -> VIMANA-MACHINES (per-machine
//	               accepts: DNATed published ports in, egress out), then
//	               established back in ok, anything else from or to the
//	               bridge DROP (no egress unless allowed; no spacecore to
//	               spacecore through the host)
//	nat PREROUTING/OUTPUT (dst LOCAL) -> VIMANA-DNAT: host_port -> ip:port
//	nat POSTROUTING -> VIMANA-POSTROUTING: MASQUERADE for egress machines
//	               and for host-local sources hairpinning onto the bridge
//
// Each change is one iptables-restore --noflush batch, applied atomically.

var iptablesMu sync.Mutex // one writer at a time from this process

func iptablesRestore(rules string) error {
	iptablesMu.Lock()
	defer iptablesMu.Unlock()
	cmd := exec.Command("iptables-restore", "--noflush", "--wait")
	cmd.Stdin = strings.NewReader(rules)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

func iptables(args ...string) error {
	out, err := exec.Command("iptables", append([]string{"--wait"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (n *Network) baseRules() error {
	if _, err := exec.LookPath("iptables-restore"); err != nil {
		return fmt.Errorf("%w: iptables-restore not found (install iptables)", hypercore.ErrUnavailable)
	}
	// Create chains (ignore "already exists"), then rewrite the static
	// chains wholesale; VIMANA-MACHINES and VIMANA-DNAT keep their rules.
	for _, c := range [][2]string{{"filter", "VIMANA-INPUT"}, {"filter", "VIMANA-FORWARD"}, {"filter", "VIMANA-MACHINES"},
		{"nat", "VIMANA-DNAT"}, {"nat", "VIMANA-POSTROUTING"}} {
		_ = iptables("-t", c[0], "-N", c[1])
	}
	br := n.bridge
	static := fmt.Sprintf(`*filter
-F VIMANA-INPUT
-A VIMANA-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A VIMANA-INPUT -j DROP
-F VIMANA-FORWARD
-A VIMANA-FORWARD -i %[1]s -o %[1]s -j DROP
-A VIMANA-FORWARD -i %[1]s -d 169.254.0.0/16 -j DROP
-A VIMANA-FORWARD -j VIMANA-MACHINES
-A VIMANA-FORWARD -o %[1]s -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A VIMANA-FORWARD -i %[1]s -j DROP
-A VIMANA-FORWARD -o %[1]s -j DROP
COMMIT
*nat
-F VIMANA-POSTROUTING
-A VIMANA-POSTROUTING -o %[1]s -m addrtype --src-type LOCAL -j MASQUERADE
COMMIT
`, br)
	if err := iptablesRestore(static); err != nil {
		return err
	}
	jumps := [][]string{
		{"-t", "filter", "INPUT", "-i", br, "-j", "VIMANA-INPUT"},
		{"-t", "filter", "FORWARD", "-j", "VIMANA-FORWARD"},
		{"-t", "nat", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "VIMANA-DNAT"},
		{"-t", "nat", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "VIMANA-DNAT"},
		{"-t", "nat", "POSTROUTING", "-j", "VIMANA-POSTROUTING"},
	}
	for _, j := range jumps {
		table, chain, rest := j[:2], j[2], j[3:]
		check := append(append(append([]string{}, table...), "-C", chain), rest...)
		if iptables(check...) == nil {
			continue
		}
		ins := append(append(append([]string{}, table...), "-I", chain, "1"), rest...)
		if err := iptables(ins...); err != nil {
			return err
		}
	}
	return nil
}

// machineRules renders id's rules as iptables-restore lines with op "-A"
// or "-D".
func machineRules(op, id, ip string, egress bool, ports []hypercore.Port) string {
	tag := fmt.Sprintf(`-m comment --comment "vimana:%s"`, id)
	var f, nat strings.Builder
	if egress {
		fmt.Fprintf(&f, "%s VIMANA-MACHINES -s %s/32 %s -j ACCEPT\n", op, ip, tag)
		fmt.Fprintf(&nat, "%s VIMANA-POSTROUTING -s %s/32 ! -d %s/32 %s -j MASQUERADE\n", op, ip, ip, tag)
	}
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		dst := ""
		if p.HostIP != "" && p.HostIP != "0.0.0.0" {
			dst = "-d " + p.HostIP + "/32 "
		}
		fmt.Fprintf(&f, "%s VIMANA-MACHINES -d %s/32 -p %s --dport %d -m conntrack --ctstate DNAT %s -j ACCEPT\n", op, ip, proto, p.Port, tag)
		fmt.Fprintf(&nat, "%s VIMANA-DNAT %s-p %s --dport %d %s -j DNAT --to-destination %s:%d\n", op, dst, proto, p.HostPort, tag, ip, p.Port)
	}
	var b strings.Builder
	if f.Len() > 0 {
		b.WriteString("*filter\n" + f.String() + "COMMIT\n")
	}
	if nat.Len() > 0 {
		b.WriteString("*nat\n" + nat.String() + "COMMIT\n")
	}
	return b.String()
}

// Publish resolves host ports (0 = pick a free one), refuses ports that
// are taken, and installs id's rules. On error it returns the ports
// claimed so far (the caller's teardown releases them) and no rule is in
// place: the rules go in as one batch after every port is claimed.
func (n *Network) Publish(id string, st *State, nw hypercore.Network) ([]hypercore.Port, error) {
	var ports []hypercore.Port
	for _, p := range nw.Ports {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.Protocol != "tcp" && p.Protocol != "udp" {
			return ports, fmt.Errorf("%w: port %d: protocol %q (want tcp or udp)", hypercore.ErrInvalid, p.Port, p.Protocol)
		}
		if p.Port < 1 || p.Port > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			return ports, fmt.Errorf("%w: port %d -> host port %d out of range", hypercore.ErrInvalid, p.Port, p.HostPort)
		}
		if p.HostIP != "" && net.ParseIP(p.HostIP).To4() == nil {
			return ports, fmt.Errorf("%w: host ip %q: want an IPv4 address", hypercore.ErrInvalid, p.HostIP)
		}
		hp, err := ReservePort(id, p)
		if err != nil {
			return ports, err
		}
		p.HostPort = hp
		ports = append(ports, p)
	}
	rules := machineRules("-A", id, st.IP, nw.Egress, ports)
	if rules == "" {
		return ports, nil
	}
	if err := iptablesRestore(rules); err != nil {
		return ports, fmt.Errorf("firewall: %w", err)
	}
	return ports, nil
}

// Unpublish removes id's rules: first as one batch, and rule by rule if
// the batch fails (e.g. a rule was already gone after a crash).
func (n *Network) Unpublish(id string, st *State, egress bool, ports []hypercore.Port) error {
	if st == nil || st.IP == "" {
		return nil
	}
	for _, p := range ports {
		ReleasePort(id, p.Protocol, p.HostPort)
	}
	rules := machineRules("-D", id, st.IP, egress, ports)
	if rules == "" || iptablesRestore(rules) == nil {
		return nil
	}
	// Slow path: delete what exists, one by one.
	var table string
	for _, line := range strings.Split(rules, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, "-D "):
			args := append([]string{"-t", table}, splitRule(line)...)
			_ = iptables(args...)
		}
	}
	return nil
}

// splitRule splits an iptables-restore line into args, honouring the
// double-quoted comment.
func splitRule(line string) []string {
	var out []string
	for len(line) > 0 {
		line = strings.TrimLeft(line, " ")
		if line == "" {
			break
		}
		if line[0] == '"' {
			end := strings.IndexByte(line[1:], '"')
			out = append(out, line[1:end+1])
			line = line[end+2:]
			continue
		}
		sp := strings.IndexByte(line, ' ')
		if sp < 0 {
			out = append(out, line)
			break
		}
		out = append(out, line[:sp])
		line = line[sp+1:]
	}
	return out
}
