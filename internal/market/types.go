package market

import (
	"math/bits"

	"github.com/vistara-labs/vimana/internal/wallet"
)

// Resources is an amount of compute. Disk is in MiB for accounting and is
// priced per started GiB.
type Resources struct {
	CPUMilli  uint64 `json:"cpu_milli"`
	MemoryMiB uint64 `json:"memory_mib"`
	DiskMiB   uint64 `json:"disk_mib"`
	GPU       uint64 `json:"gpu,omitempty"`
}

// fits reports whether r fits into free.
func (r Resources) fits(free Resources) bool {
	return r.CPUMilli <= free.CPUMilli && r.MemoryMiB <= free.MemoryMiB && r.DiskMiB <= free.DiskMiB && r.GPU <= free.GPU
}

// add returns r+o; callers guarantee no overflow (bounded by capacity).
func (r Resources) add(o Resources) Resources {
	return Resources{r.CPUMilli + o.CPUMilli, r.MemoryMiB + o.MemoryMiB, r.DiskMiB + o.DiskMiB, r.GPU + o.GPU}
}

// sub returns r-o, clamped at zero.
func (r Resources) sub(o Resources) Resources {
	d := func(a, b uint64) uint64 {
		if b > a {
			return 0
		}
		return a - b
	}
	return Resources{d(r.CPUMilli, o.CPUMilli), d(r.MemoryMiB, o.MemoryMiB), d(r.DiskMiB, o.DiskMiB), d(r.GPU, o.GPU)}
}

// Prices are uvis per block per unit: per milli-CPU, per MiB of memory,
// per started GiB of disk, per GPU.
type Prices struct {
	CPUMilli  uint64 `json:"cpu_milli"`
	MemoryMiB uint64 `json:"memory_mib"`
	DiskGiB   uint64 `json:"disk_gib"`
	GPU       uint64 `json:"gpu,omitempty"`
	// StorageMiB is the least a storage deal may pay per started MiB of
	// piece per block (0: any price).
	StorageMiB uint64 `json:"storage_mib,omitempty"`
}

// Quote is the price per block of r at these prices; ok is false on
// overflow.
func (p Prices) Quote(r Resources) (total uint64, ok bool) {
	terms := [][2]uint64{
		{r.CPUMilli, p.CPUMilli}, {r.MemoryMiB, p.MemoryMiB},
		{(r.DiskMiB + 1023) / 1024, p.DiskGiB}, {r.GPU, p.GPU},
	}
	for _, t := range terms {
		hi, lo := bits.Mul64(t[0], t[1])
		if hi != 0 {
			return 0, false
		}
		var c uint64
		total, c = bits.Add64(total, lo, 0)
		if c != 0 {
			return 0, false
		}
	}
	return total, true
}

// Attributes describe a provider's machines; orders constrain them.
type Attributes struct {
	Region    string   `json:"region,omitempty"`
	Arch      string   `json:"arch,omitempty"`
	CPUModel  string   `json:"cpu_model,omitempty"`
	GPUVendor string   `json:"gpu_vendor,omitempty"`
	GPUModel  string   `json:"gpu_model,omitempty"`
	Isolation []string `json:"isolation,omitempty"` // sorted: sandbox, gvisor, microvm
}

// Provider states.
const (
	ProviderActive    = "active"
	ProviderLost      = "lost"      // missed heartbeats; leases were moved
	ProviderUnbonding = "unbonding" // deregistered; stake returns at UnbondAt
)

// Provider is a registered provider.
type Provider struct {
	Address    wallet.Address `json:"address"`
	Endpoint   string         `json:"endpoint"` // node API URL
	Ingress    string         `json:"ingress"`  // ingress base domain[:port]
	X25519     []byte         `json:"x25519"`   // sealing key for secrets
	Attributes Attributes     `json:"attributes"`
	Capacity   Resources      `json:"capacity"`
	Used       Resources      `json:"used"`
	Prices     Prices         `json:"prices"`
	Stake      uint64         `json:"stake"`
	Reputation uint64         `json:"reputation"` // 0..MaxReputation
	Status     string         `json:"status"`
	Heartbeat  int64          `json:"heartbeat"` // height of the last heartbeat
	UnbondAt   int64          `json:"unbond_at,omitempty"`
	Earned     uint64         `json:"earned"` // settled, not yet withdrawn
	Leases     []string       `json:"leases,omitempty"`
	Registered int64          `json:"registered"`
	// Storage is the bytes offered for storage deals' pieces (0: none);
	// StorageUsed what active deals place on it; Deals those deals.
	Storage     uint64   `json:"storage,omitempty"`
	StorageUsed uint64   `json:"storage_used,omitempty"`
	Deals       []string `json:"deals,omitempty"`
}

// Reputation bounds and steps.
const (
	MaxReputation     = 1000
	InitialReputation = 500
	lossPenalty       = 100
	closeReward       = 10
)

// Order states. A leased order is a lease; its ID is the lease ID and
// survives rescheduling.
const (
	OrderOpen   = "open"
	OrderLeased = "leased"
	OrderClosed = "closed"
)

// Reason codes for closing or re-opening an order.
const (
	ReasonClosedByTenant   = "CLOSED_BY_TENANT"
	ReasonClosedByProvider = "CLOSED_BY_PROVIDER"
	ReasonEscrowEmpty      = "ESCROW_EMPTY"
	ReasonProviderLost     = "PROVIDER_LOST"
	ReasonProviderLeft     = "PROVIDER_DEREGISTERED"
	ReasonNoBids           = "NO_PROVIDER"
)

// Port is a port the workload serves.
type Port struct {
	Port  uint32 `json:"port"`
	Proto string `json:"proto"` // tcp or udp
}

// Order is a tenant's request and, once matched, its lease.
type Order struct {
	ID            string          `json:"id"`
	Owner         wallet.Address  `json:"owner"`
	OwnerKey      []byte          `json:"owner_key"` // ed25519 public key: providers authorize API calls with it
	Name          string          `json:"name"`
	Image         string          `json:"image"` // digest-pinned reference
	Resources     Resources       `json:"resources"`
	Ports         []Port          `json:"ports,omitempty"`
	Isolation     string          `json:"isolation,omitempty"`
	Regions       []string        `json:"regions,omitempty"`
	Attributes    Attributes      `json:"attributes"` // required values; empty = any
	MinReputation uint64          `json:"min_reputation,omitempty"`
	Secrets       []string        `json:"secrets,omitempty"` // names only; values go sealed to the provider
	MaxPrice      uint64          `json:"max_price"`         // uvis per block
	Escrow        uint64          `json:"escrow"`            // unspent deposit
	Paid          uint64          `json:"paid"`              // paid to providers so far
	State         string          `json:"state"`
	Created       int64           `json:"created"`
	CloseAt       int64           `json:"close_at,omitempty"` // auction close (open orders)
	Deadline      int64           `json:"deadline,omitempty"` // fail if unmatched by then
	Provider      *wallet.Address `json:"provider,omitempty"`
	Price         uint64          `json:"price,omitempty"` // uvis per block of the current lease
	LeasedAt      int64           `json:"leased_at,omitempty"`
	SettledAt     int64           `json:"settled_at,omitempty"`
	EndAt         int64           `json:"end_at,omitempty"` // provider's notice ends here
	Leases        uint64          `json:"leases"`           // how many times it was leased
	Reason        string          `json:"reason,omitempty"` // why it closed or was last re-opened
	Closed        int64           `json:"closed,omitempty"`
}

// Bid is a provider's offer for an open order.
type Bid struct {
	Provider wallet.Address `json:"provider"`
	Price    uint64         `json:"price"`
	Height   int64          `json:"height"`
}

// Params are the market's governance-ready parameters.
type Params struct {
	BidWindow        int64  `json:"bid_window"`         // blocks an auction stays open
	OrderTimeout     int64  `json:"order_timeout"`      // blocks an order may wait for a bid
	Grace            int64  `json:"grace"`              // blocks without heartbeat before a provider is lost
	MinStake         uint64 `json:"min_stake"`          // uvis
	Notice           int64  `json:"notice"`             // blocks a provider's close takes effect after
	Unbonding        int64  `json:"unbonding"`          // blocks until a deregistered stake returns
	MaxBids          int    `json:"max_bids"`           // per order
	MaxProviderLease int    `json:"max_provider_lease"` // leases per provider

	// Storage audits (zero = the default, so older genesis files work).
	AuditsPerBlock int    `json:"audits_per_block,omitempty"` // challenges issued per block
	AuditWindow    int64  `json:"audit_window,omitempty"`     // blocks a provider has to answer
	AuditSlash     uint64 `json:"audit_slash,omitempty"`      // uvis of stake per failed audit, paid to the deal owner
	AuditPenalty   uint64 `json:"audit_penalty,omitempty"`    // reputation per failed audit
	// RepairFeePerPiece is paid from a deal's escrow to whoever (not the
	// owner) moves one of its pieces with storage.repair, capped by the
	// escrow.
	RepairFeePerPiece uint64 `json:"repair_fee_per_piece,omitempty"`
}

// DefaultParams are the devnet defaults.
func DefaultParams() Params {
	return Params{BidWindow: 1, OrderTimeout: 30, Grace: 10, MinStake: 1_000_000, Notice: 10, Unbonding: 20, MaxBids: 64, MaxProviderLease: 1024,
		AuditsPerBlock: 4, AuditWindow: 10, AuditSlash: 10_000, AuditPenalty: 50, RepairFeePerPiece: 1_000}
}

// withDefaults fills unset storage-audit parameters.
func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.AuditsPerBlock == 0 {
		p.AuditsPerBlock = d.AuditsPerBlock
	}
	if p.AuditWindow == 0 {
		p.AuditWindow = d.AuditWindow
	}
	if p.AuditSlash == 0 {
		p.AuditSlash = d.AuditSlash
	}
	if p.AuditPenalty == 0 {
		p.AuditPenalty = d.AuditPenalty
	}
	if p.RepairFeePerPiece == 0 {
		p.RepairFeePerPiece = d.RepairFeePerPiece
	}
	return p
}
