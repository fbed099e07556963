// Package hostnet owns the host side of spacecore networking shared by the
// namespace-based providers (sandbox, gvisor): the vimana bridge, address
// leases (one file per address under /run/vimana/ipam), a veth pair per
// machine moved into the machine's network namespace, and the iptables
// firewall (isolation, NAT egress, DNAT port publishing, host port claims
// under /run/vimana/ports).
//
// It imports only hypercore; providers import it, never the reverse.
package hostnet

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// ipamDir holds one file per leased address (created with O_EXCL), shared
// by every provider on the host so parallel daemons and tests never
// collide.
const ipamDir = "/run/vimana/ipam"

// Network is the host side: the bridge, address leases, firewall. One value
// per provider; every method is safe for concurrent use.
type Network struct {
	bridge string
	subnet *net.IPNet
	gw     net.IP

	once    sync.Once
	initErr error
}

// State is what a machine's network holds; providers persist it (the JSON
// form is stable: it lives in their meta.json files).
type State struct {
	HostVeth string `json:"host_veth"` // host end on the bridge
	IP       string `json:"ip"`
}

// New describes the bridge and subnet; nothing is touched on the host until
// the first Reserve (or Ensure).
func New(bridge, cidr string) (*Network, error) {
	_, subnet, err := net.ParseCIDR(cidr)
	if err != nil || subnet.IP.To4() == nil {
		return nil, fmt.Errorf("%w: machine subnet %q: want an IPv4 CIDR", hypercore.ErrInvalid, cidr)
	}
	if ones, _ := subnet.Mask.Size(); ones > 29 {
		return nil, fmt.Errorf("%w: machine subnet %q is too small", hypercore.ErrInvalid, cidr)
	}
	gw := nthIP(subnet, 1)
	return &Network{bridge: bridge, subnet: subnet, gw: gw}, nil
}

func nthIP(n *net.IPNet, i uint32) net.IP {
	base := binary.BigEndian.Uint32(n.IP.To4())
	out := make(net.IP, 4)
	binary.BigEndian.PutUint32(out, base+i)
	return out
}

// Bridge is the bridge's name.
func (n *Network) Bridge() string { return n.bridge }

// Subnet is the machines' subnet.
func (n *Network) Subnet() *net.IPNet { return n.subnet }

// Gateway is the bridge's address, the machines' default route.
func (n *Network) Gateway() net.IP { return n.gw }

// Probe reports whether network namespaces are available.
func (n *Network) Probe() error {
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("no network namespaces: %v", err)
	}
	return nil
}

// Ensure creates the bridge and the base firewall chains once per process.
func (n *Network) Ensure() error {
	n.once.Do(func() { n.initErr = n.setupHost() })
	return n.initErr
}

func (n *Network) setupHost() error {
	br, err := netlink.LinkByName(n.bridge)
	if err != nil {
		la := netlink.NewLinkAttrs()
		la.Name = n.bridge
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating bridge %s: %w", n.bridge, err)
		}
		if br, err = netlink.LinkByName(n.bridge); err != nil {
			return err
		}
	}
	if err := pinBridgeMAC(br); err != nil {
		return err
	}
	ones, _ := n.subnet.Mask.Size()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.gw, Mask: net.CIDRMask(ones, 32)}}
	if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("addressing bridge %s: %w", n.bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return err
	}
	// Forwarding for egress and published ports; route_localnet so that
	// 127.0.0.1:<host_port> can be DNATed onto the bridge (INPUT drops
	// everything a machine sends to the host, so this opens nothing).
	// IPv6 off on the bridge: the firewall is IPv4 only, and a bridge with
	// a link-local address would let spacecores reach host services
	// listening on [::] at fe80::<bridge>%eth0.
	for path, v := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                           "1",
		"/proc/sys/net/ipv4/conf/" + n.bridge + "/route_localnet": "1",
		"/proc/sys/net/ipv6/conf/" + n.bridge + "/disable_ipv6":   "1",
	} {
		err := os.WriteFile(path, []byte(v), 0o644)
		if errors.Is(err, os.ErrNotExist) && strings.Contains(path, "/ipv6/") {
			continue // kernel without IPv6: nothing to turn off
		}
		if err != nil {
			return fmt.Errorf("sysctl %s: %w", path, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(ipamDir, n.bridge), 0o700); err != nil {
		return err
	}
	return n.baseRules()
}

// pinBridgeMAC gives the bridge a fixed address derived from its name.
// Left alone, a bridge takes the lowest MAC of its ports, so the gateway's
// MAC would change as spacecores come and go, leaving stale ARP entries
// in every other spacecore.
func pinBridgeMAC(br netlink.Link) error {
	b, _ := os.ReadFile("/sys/class/net/" + br.Attrs().Name + "/addr_assign_type")
	if strings.TrimSpace(string(b)) == "3" { // NET_ADDR_SET: already pinned
		return nil
	}
	h := sha256.Sum256([]byte("vimana-bridge:" + br.Attrs().Name))
	mac := net.HardwareAddr(h[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01 // locally administered, unicast
	if err := netlink.LinkSetHardwareAddr(br, mac); err != nil {
		return fmt.Errorf("setting bridge %s address: %w", br.Attrs().Name, err)
	}
	return nil
}

// VethName is the host end of id's veth pair (tests check it is gone).
func VethName(id string) string {
	h := sha256.Sum256([]byte(id))
	return "vc" + hex.EncodeToString(h[:6])
}

// lease reserves a free address for id.
func (n *Network) lease(id string) (net.IP, error) {
	ones, bits := n.subnet.Mask.Size()
	size := uint32(1) << (bits - ones)
	h := sha256.Sum256([]byte(id))
	start := binary.BigEndian.Uint32(h[:4])
	for i := uint32(0); i < size; i++ {
		off := (start + i) % size
		if off < 2 || off == size-1 { // network, gateway, broadcast
			continue
		}
		ip := nthIP(n.subnet, off)
		f, err := os.OpenFile(filepath.Join(ipamDir, n.bridge, ip.String()), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		_, err = f.WriteString(id)
		f.Close()
		return ip, err
	}
	return nil, fmt.Errorf("%w: no free address in %s", hypercore.ErrResources, n.subnet)
}

func (n *Network) release(ip string) {
	if ip != "" {
		_ = os.Remove(filepath.Join(ipamDir, n.bridge, ip))
	}
}

// Reserve leases an address for id (the namespace may not exist yet: the
// sandbox's libcontainer creates it at Start, and Plumb wires it up).
func (n *Network) Reserve(id string) (*State, error) {
	if err := n.Ensure(); err != nil {
		return &State{}, err
	}
	ip, err := n.lease(id)
	if err != nil {
		return &State{}, err
	}
	return &State{IP: ip.String(), HostVeth: VethName(id)}, nil
}

// Plumb puts eth0 into the network namespace of pid (the container's
// init, created but not yet running the workload) and connects the host
// end to the bridge. The namespace dies with the container, taking the
// peer (and so the pair) with it.
func (n *Network) Plumb(st *State, pid int) error {
	nsh, err := netns.GetFromPid(pid)
	if err != nil {
		return err
	}
	defer nsh.Close()
	return n.PlumbNS(st, nsh)
}

// PlumbNS is Plumb into the network namespace nsh (e.g. one the provider
// created and holds bind-mounted, as gvisor does).
func (n *Network) PlumbNS(st *State, nsh netns.NsHandle) error {
	host := st.HostVeth
	peer := "vp" + host[2:]
	la := netlink.NewLinkAttrs()
	la.Name = host
	la.MTU = 1500
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer}); err != nil {
		return fmt.Errorf("creating veth: %w", err)
	}
	hl, err := netlink.LinkByName(host)
	if err != nil {
		return err
	}
	// Spacecores are IPv4 only (the firewall is iptables, not ip6tables):
	// no IPv6 link-local address on either end (errors mean a kernel
	// without IPv6).
	_ = netlink.LinkSetIP6AddrGenMode(hl, nl.IN6_ADDR_GEN_MODE_NONE)
	br, err := netlink.LinkByName(n.bridge)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMaster(hl, br); err != nil {
		return err
	}
	// Isolated bridge ports cannot talk to each other, only to the
	// bridge (host): spacecores never see each other at layer 2.
	if err := netlink.LinkSetIsolated(hl, true); err != nil {
		return fmt.Errorf("isolating bridge port: %w", err)
	}
	if err := netlink.LinkSetUp(hl); err != nil {
		return err
	}
	pl, err := netlink.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetNsFd(pl, int(nsh)); err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return err
	}
	defer h.Close()
	return n.configureInside(h, peer, net.ParseIP(st.IP))
}

func (n *Network) configureInside(h *netlink.Handle, peer string, ip net.IP) error {
	l, err := h.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(l, "eth0"); err != nil {
		return err
	}
	_ = h.LinkSetIP6AddrGenMode(l, nl.IN6_ADDR_GEN_MODE_NONE) // reset by the move between namespaces
	ones, _ := n.subnet.Mask.Size()
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(ones, 32)}}); err != nil {
		return err
	}
	if err := h.LinkSetUp(l); err != nil {
		return err
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return err
		}
	}
	return h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: n.gw})
}

// Detach removes the veth (if the namespace has not taken it already) and
// the address lease.
func (n *Network) Detach(id string, st *State) error {
	var errs []error
	if st.HostVeth != "" {
		if l, err := netlink.LinkByName(st.HostVeth); err == nil {
			if err := netlink.LinkDel(l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	n.release(st.IP)
	return errors.Join(errs...)
}
