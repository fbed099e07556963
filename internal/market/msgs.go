package market

import (
	"crypto/ecdh"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Message types, as carried in a transaction's "type" field.
const (
	TypeRegister   = "provider.register"
	TypeUpdate     = "provider.update"
	TypeDeregister = "provider.deregister"
	TypeHeartbeat  = "provider.heartbeat"
	TypeWithdraw   = "provider.withdraw"
	TypeOrder      = "order.create"
	TypeBid        = "order.bid"
	TypeClose      = "lease.close"
	TypeTopUp      = "lease.topup"
)

// Types lists every market message type.
var Types = []string{TypeRegister, TypeUpdate, TypeDeregister, TypeHeartbeat, TypeWithdraw, TypeOrder, TypeBid, TypeClose, TypeTopUp,
	TypeStorageDeal, TypeAuditProof, TypeRepairDeal, TypeCloseStorageDeal, TypeRenewStorageDeal, TypeSetIndex}

// Msg is a market message. Validate checks it without state.
type Msg interface {
	Validate() error
	// Debit is what the message takes from the sender's balance (beyond
	// the fee), for the mempool's balance check.
	Debit() uint64
}

// Register registers the sender as a provider, locking Stake.
type Register struct {
	Offer
	Stake uint64 `json:"stake"`
}

// Offer is what a provider offers; Update replaces it.
type Offer struct {
	Endpoint   string     `json:"endpoint"`
	Ingress    string     `json:"ingress"`
	X25519     []byte     `json:"x25519"`
	Attributes Attributes `json:"attributes"`
	Capacity   Resources  `json:"capacity"`
	Prices     Prices     `json:"prices"`
	Storage    uint64     `json:"storage,omitempty"` // bytes offered for storage deals
}

// Update replaces a provider's offer.
type Update struct{ Offer }

// Deregister starts unbonding; the provider's leases are moved.
type Deregister struct{}

// Heartbeat says the provider is alive.
type Heartbeat struct{}

// Withdraw settles the provider's leases and moves its earnings to its
// balance.
type Withdraw struct{}

// Create opens an order, moving Deposit into escrow.
type Create struct {
	Name          string     `json:"name"`
	Image         string     `json:"image"`
	Resources     Resources  `json:"resources"`
	Ports         []Port     `json:"ports,omitempty"`
	Isolation     string     `json:"isolation,omitempty"`
	Regions       []string   `json:"regions,omitempty"`
	Attributes    Attributes `json:"attributes"`
	MinReputation uint64     `json:"min_reputation,omitempty"`
	Replicas      uint64     `json:"replicas"`
	MaxPrice      uint64     `json:"max_price"`
	Deposit       uint64     `json:"deposit"`
	// Secrets names environment variables whose values the tenant seals to
	// the winning provider; the provider starts the lease once they arrive.
	// Only names are on chain.
	Secrets []string `json:"secrets,omitempty"`
}

// BidMsg offers Price per block for Order.
type BidMsg struct {
	Order string `json:"order"`
	Price uint64 `json:"price"`
}

// Close closes a lease (its tenant: now, with a refund; its provider: after
// the notice period).
type Close struct {
	Lease string `json:"lease"`
}

// TopUp adds Amount to a lease's escrow.
type TopUp struct {
	Lease  string `json:"lease"`
	Amount uint64 `json:"amount"`
}

// New returns an empty message of type t, or nil if t is unknown.
func New(t string) Msg {
	switch t {
	case TypeRegister:
		return &Register{}
	case TypeUpdate:
		return &Update{}
	case TypeDeregister:
		return &Deregister{}
	case TypeHeartbeat:
		return &Heartbeat{}
	case TypeWithdraw:
		return &Withdraw{}
	case TypeOrder:
		return &Create{}
	case TypeBid:
		return &BidMsg{}
	case TypeClose:
		return &Close{}
	case TypeTopUp:
		return &TopUp{}
	case TypeStorageDeal:
		return &StorageDeal{}
	case TypeAuditProof:
		return &AuditProof{}
	case TypeRepairDeal:
		return &RepairDeal{}
	case TypeCloseStorageDeal:
		return &CloseStorageDeal{}
	case TypeRenewStorageDeal:
		return &RenewStorageDeal{}
	case TypeSetIndex:
		return &SetIndex{}
	}
	return nil
}

var (
	idPattern    = regexp.MustCompile(`^[a-z2-7]{16}$`)
	namePattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	digestRef    = regexp.MustCompile(`^[a-zA-Z0-9._:/-]{1,200}@sha256:[0-9a-f]{64}$`)
	labelPattern = regexp.MustCompile(`^[A-Za-z0-9._ ()@/+-]{0,64}$`)
	envPattern   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	isolations   = []string{"gvisor", "microvm", "sandbox"}
)

// Isolations lists the isolation levels orders and offers may name, sorted.
func Isolations() []string { return slices.Clone(isolations) }

// ValidID reports whether s has the form of an order/lease ID.
func ValidID(s string) bool { return idPattern.MatchString(s) }

func (a Attributes) validate() error {
	for _, s := range []string{a.Region, a.Arch, a.CPUModel, a.GPUVendor, a.GPUModel} {
		if !labelPattern.MatchString(s) {
			return fmt.Errorf("attribute %q: at most 64 letters, digits or ._ ()@/+-", s)
		}
	}
	if len(a.Isolation) > len(isolations) {
		return fmt.Errorf("isolation: at most %d levels", len(isolations))
	}
	for i, iso := range a.Isolation {
		if !slices.Contains(isolations, iso) {
			return fmt.Errorf("isolation %q: want one of %s", iso, strings.Join(isolations, ", "))
		}
		if i > 0 && a.Isolation[i-1] >= iso {
			return fmt.Errorf("isolation: levels must be sorted and unique")
		}
	}
	return nil
}

func (o *Offer) validate() error {
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(o.Endpoint) > 200 {
		return fmt.Errorf("endpoint %q: want an http(s) URL of at most 200 bytes", o.Endpoint)
	}
	if o.Ingress == "" || len(o.Ingress) > 200 || strings.ContainsAny(o.Ingress, "/ @") {
		return fmt.Errorf("ingress %q: want a base domain[:port]", o.Ingress)
	}
	if _, err := ecdh.X25519().NewPublicKey(o.X25519); err != nil {
		return fmt.Errorf("x25519: %v", err)
	}
	if err := o.Attributes.validate(); err != nil {
		return err
	}
	if len(o.Attributes.Isolation) == 0 {
		return fmt.Errorf("attributes: offer at least one isolation level")
	}
	if o.Capacity.CPUMilli == 0 || o.Capacity.MemoryMiB == 0 {
		return fmt.Errorf("capacity: cpu and memory must be positive")
	}
	const limit = 1 << 40
	if o.Capacity.CPUMilli > limit || o.Capacity.MemoryMiB > limit || o.Capacity.DiskMiB > limit || o.Capacity.GPU > limit {
		return fmt.Errorf("capacity: too large")
	}
	if o.Storage > 1<<60 {
		return fmt.Errorf("storage: too large")
	}
	if _, ok := o.Prices.Quote(o.Capacity); !ok {
		return fmt.Errorf("prices: the whole capacity's price overflows")
	}
	return nil
}

// Validate implements Msg.
func (m *Register) Validate() error {
	if m.Stake == 0 {
		return fmt.Errorf("stake must be positive")
	}
	return m.Offer.validate()
}

// Debit implements Msg.
func (m *Register) Debit() uint64 { return m.Stake }

// Validate implements Msg.
func (m *Update) Validate() error { return m.Offer.validate() }

// Debit implements Msg.
func (*Update) Debit() uint64 { return 0 }

// Validate implements Msg.
func (*Deregister) Validate() error { return nil }

// Debit implements Msg.
func (*Deregister) Debit() uint64 { return 0 }

// Validate implements Msg.
func (*Heartbeat) Validate() error { return nil }

// Debit implements Msg.
func (*Heartbeat) Debit() uint64 { return 0 }

// Validate implements Msg.
func (*Withdraw) Validate() error { return nil }

// Debit implements Msg.
func (*Withdraw) Debit() uint64 { return 0 }

// Validate implements Msg.
func (m *Create) Validate() error {
	switch {
	case !namePattern.MatchString(m.Name):
		return fmt.Errorf("name %q: want a DNS label", m.Name)
	case !digestRef.MatchString(m.Image):
		return fmt.Errorf("image %q: want a digest-pinned reference (NAME@sha256:HEX)", m.Image)
	case m.Resources.CPUMilli == 0 || m.Resources.MemoryMiB == 0:
		return fmt.Errorf("resources: cpu and memory must be positive")
	case len(m.Ports) > 16:
		return fmt.Errorf("ports: at most 16")
	case m.Isolation != "" && !slices.Contains(isolations, m.Isolation):
		return fmt.Errorf("isolation %q: want one of %s", m.Isolation, strings.Join(isolations, ", "))
	case len(m.Regions) > 8:
		return fmt.Errorf("regions: at most 8")
	case m.Replicas != 1:
		return fmt.Errorf("replicas %d: only 1 is supported so far", m.Replicas)
	case m.MaxPrice == 0:
		return fmt.Errorf("max_price must be positive")
	case m.Deposit < m.MaxPrice:
		return fmt.Errorf("deposit %d uvis does not cover one block at max_price %d", m.Deposit, m.MaxPrice)
	case m.MinReputation > MaxReputation:
		return fmt.Errorf("min_reputation above %d", MaxReputation)
	case len(m.Attributes.Isolation) != 0:
		return fmt.Errorf("attributes.isolation: use isolation")
	}
	for _, p := range m.Ports {
		if p.Port == 0 || p.Port > 65535 || (p.Proto != "tcp" && p.Proto != "udp") {
			return fmt.Errorf("port %d/%s: want 1-65535 and tcp or udp", p.Port, p.Proto)
		}
	}
	if len(m.Secrets) > 16 {
		return fmt.Errorf("secrets: at most 16 names")
	}
	for i, n := range m.Secrets {
		if !envPattern.MatchString(n) || slices.Contains(m.Secrets[:i], n) {
			return fmt.Errorf("secret %q: want unique environment variable names", n)
		}
	}
	for _, r := range m.Regions {
		if r == "" || !labelPattern.MatchString(r) {
			return fmt.Errorf("region %q: want a label of at most 64 characters", r)
		}
	}
	const limit = 1 << 40
	if m.Resources.CPUMilli > limit || m.Resources.MemoryMiB > limit || m.Resources.DiskMiB > limit || m.Resources.GPU > limit {
		return fmt.Errorf("resources: too large")
	}
	return m.Attributes.validate()
}

// Debit implements Msg.
func (m *Create) Debit() uint64 { return m.Deposit }

// Validate implements Msg.
func (m *BidMsg) Validate() error {
	if !ValidID(m.Order) {
		return fmt.Errorf("order %q: not an order id", m.Order)
	}
	if m.Price == 0 {
		return fmt.Errorf("price must be positive")
	}
	return nil
}

// Debit implements Msg.
func (*BidMsg) Debit() uint64 { return 0 }

// Validate implements Msg.
func (m *Close) Validate() error {
	if !ValidID(m.Lease) {
		return fmt.Errorf("lease %q: not a lease id", m.Lease)
	}
	return nil
}

// Debit implements Msg.
func (*Close) Debit() uint64 { return 0 }

// Validate implements Msg.
func (m *TopUp) Validate() error {
	if !ValidID(m.Lease) {
		return fmt.Errorf("lease %q: not a lease id", m.Lease)
	}
	if m.Amount == 0 {
		return fmt.Errorf("amount must be positive")
	}
	return nil
}

// Debit implements Msg.
func (m *TopUp) Debit() uint64 { return m.Amount }
