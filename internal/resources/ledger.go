package resources

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Capacity is an amount of the resources the ledger accounts for.
type Capacity struct {
	MilliCPU    int64 `json:"milli_cpu" toml:"milli_cpu"` // 1000 = one core
	MemoryBytes int64 `json:"memory_bytes" toml:"memory_bytes"`
	DiskBytes   int64 `json:"disk_bytes" toml:"disk_bytes"`
	GPUs        int   `json:"gpus" toml:"gpus"`
}

// Policy says how much of the hardware is offered to spacecores.
type Policy struct {
	// Reserved is held back for the host (daemon, kernel, image cache)
	// before anything is offered.
	Reserved Capacity `json:"reserved" toml:"reserved"`
	// Overcommit ratios multiply what is left after Reserved: 1 (or 0,
	// the zero value) offers exactly the hardware, 2 offers twice it.
	// GPUs are never overcommitted.
	CPUOvercommit    float64 `json:"cpu_overcommit" toml:"cpu_overcommit"`
	MemoryOvercommit float64 `json:"memory_overcommit" toml:"memory_overcommit"`
	DiskOvercommit   float64 `json:"disk_overcommit" toml:"disk_overcommit"`
}

// DefaultPolicy holds back one core and 1 GiB of memory for the host and
// does not overcommit.
func DefaultPolicy() Policy {
	return Policy{Reserved: Capacity{MilliCPU: 1000, MemoryBytes: 1 << 30},
		CPUOvercommit: 1, MemoryOvercommit: 1, DiskOvercommit: 1}
}

// Validate checks the policy on its own; NewLedger also checks it against
// the capacity.
func (p Policy) Validate() error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"cpu_overcommit", p.CPUOvercommit}, {"memory_overcommit", p.MemoryOvercommit}, {"disk_overcommit", p.DiskOvercommit}} {
		if math.IsNaN(r.v) || math.IsInf(r.v, 0) || (r.v != 0 && r.v < 1) || r.v > 100 {
			return fmt.Errorf("%w: resources policy %s = %v: want 1 to 100 (1 = no overcommit)", hypercore.ErrInvalid, r.name, r.v)
		}
	}
	if p.Reserved.MilliCPU < 0 || p.Reserved.MemoryBytes < 0 || p.Reserved.DiskBytes < 0 || p.Reserved.GPUs < 0 {
		return fmt.Errorf("%w: resources policy reserved %+v: negative", hypercore.ErrInvalid, p.Reserved)
	}
	return nil
}

// Admitter is what the spacecore supervisor asks before it creates or
// starts a machine, and tells when a machine no longer holds resources.
type Admitter interface {
	Reserve(id string, r hypercore.Resources) error
	Release(id string)
}

var _ Admitter = (*Ledger)(nil)

// Ledger accounts for the resources promised to spacecores. It is safe for
// concurrent use. It counts what spacecores ask for (their limits), not what
// they use: a zero field counts as zero, so callers fill in provider
// defaults before reserving.
type Ledger struct {
	alloc Capacity // what may be promised in total

	mu   sync.Mutex
	held map[string]Capacity
	used Capacity
}

// NewLedger offers capacity minus policy.Reserved, times the overcommit
// ratios. It fails when the policy is invalid or reserves more than there is.
func NewLedger(capacity Capacity, policy Policy) (*Ledger, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if capacity.MilliCPU < 0 || capacity.MemoryBytes < 0 || capacity.DiskBytes < 0 || capacity.GPUs < 0 {
		return nil, fmt.Errorf("%w: negative capacity %+v", hypercore.ErrInvalid, capacity)
	}
	rv, c := policy.Reserved, capacity
	for _, d := range []struct {
		name      string
		have, res int64
		fmt       func(int64) string
	}{
		{"cpu", c.MilliCPU, rv.MilliCPU, FormatMilliCPU},
		{"memory", c.MemoryBytes, rv.MemoryBytes, FormatBytes},
		{"disk", c.DiskBytes, rv.DiskBytes, FormatBytes},
		{"gpus", int64(c.GPUs), int64(rv.GPUs), fmtCount},
	} {
		if d.res > d.have {
			return nil, fmt.Errorf("%w: resources policy reserves %s of %s for the host but this node has %s",
				hypercore.ErrInvalid, d.fmt(d.res), d.name, d.fmt(d.have))
		}
	}
	alloc := Capacity{
		MilliCPU:    scale(c.MilliCPU-rv.MilliCPU, policy.CPUOvercommit),
		MemoryBytes: scale(c.MemoryBytes-rv.MemoryBytes, policy.MemoryOvercommit),
		DiskBytes:   scale(c.DiskBytes-rv.DiskBytes, policy.DiskOvercommit),
		GPUs:        c.GPUs - rv.GPUs,
	}
	return &Ledger{alloc: alloc, held: map[string]Capacity{}}, nil
}

func scale(v int64, ratio float64) int64 {
	if ratio == 0 || ratio == 1 {
		return v
	}
	f := float64(v) * ratio
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(f)
}

func toCapacity(r hypercore.Resources) Capacity {
	return Capacity{MilliCPU: r.MilliCPU, MemoryBytes: r.MemoryBytes, DiskBytes: r.DiskBytes, GPUs: r.GPUs}
}

// Reserve promises r to id, or refuses with an error wrapping
// hypercore.ErrResources that names every resource that does not fit, what
// was asked and what is free. Reserving again for an id that holds the same
// amount does nothing; a different amount replaces the old one when the new
// one fits in what is free plus the old one (else the old one stays).
func (l *Ledger) Reserve(id string, r hypercore.Resources) error {
	if id == "" {
		return fmt.Errorf("reserving resources: %w: empty id", hypercore.ErrInvalid)
	}
	want := toCapacity(r)
	if want.MilliCPU < 0 || want.MemoryBytes < 0 || want.DiskBytes < 0 || want.GPUs < 0 {
		return fmt.Errorf("reserving resources for %s: %w: negative amount %+v", id, hypercore.ErrInvalid, want)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.held[id]
	if had && old == want {
		return nil
	}
	free := sub(sub(l.alloc, l.used), neg(old)) // a resize may reuse its own share
	var short []string
	check := func(name string, asked, free, alloc int64, f func(int64) string) {
		if asked > free {
			short = append(short, fmt.Sprintf("%s: asked %s, %s free of %s offered", name, f(asked), f(max(free, 0)), f(alloc)))
		}
	}
	check("cpu", want.MilliCPU, free.MilliCPU, l.alloc.MilliCPU, FormatMilliCPU)
	check("memory", want.MemoryBytes, free.MemoryBytes, l.alloc.MemoryBytes, FormatBytes)
	check("disk", want.DiskBytes, free.DiskBytes, l.alloc.DiskBytes, FormatBytes)
	check("gpus", int64(want.GPUs), int64(free.GPUs), int64(l.alloc.GPUs), fmtCount)
	if len(short) > 0 {
		return fmt.Errorf("reserving resources for %s: %w: does not fit on this node (%s)",
			id, hypercore.ErrResources, strings.Join(short, "; "))
	}
	l.used = sub(l.used, old)
	l.used = sub(l.used, neg(want))
	l.held[id] = want
	return nil
}

// Release returns what id holds; releasing an unknown id does nothing.
func (l *Ledger) Release(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.held[id]; ok {
		l.used = sub(l.used, c)
		delete(l.held, id)
	}
}

// Offered is the total the ledger may promise (capacity after policy).
func (l *Ledger) Offered() Capacity { return l.alloc }

// Used is the sum of all reservations.
func (l *Ledger) Used() Capacity {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// Free is Offered minus Used.
func (l *Ledger) Free() Capacity {
	l.mu.Lock()
	defer l.mu.Unlock()
	return sub(l.alloc, l.used)
}

// Reservations returns the ids holding resources, sorted.
func (l *Ledger) Reservations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func sub(a, b Capacity) Capacity {
	return Capacity{a.MilliCPU - b.MilliCPU, a.MemoryBytes - b.MemoryBytes, a.DiskBytes - b.DiskBytes, a.GPUs - b.GPUs}
}

func neg(a Capacity) Capacity { return sub(Capacity{}, a) }

// FormatMilliCPU prints thousandths of a core as cores: "1.5 cores".
func FormatMilliCPU(m int64) string {
	s := strconv.FormatFloat(float64(m)/1000, 'f', -1, 64)
	if m == 1000 {
		return s + " core"
	}
	return s + " cores"
}

func fmtCount(n int64) string { return strconv.FormatInt(n, 10) }

// FormatBytes prints a size in IEC units with at most one decimal: "1.5 GiB".
func FormatBytes(b int64) string {
	const unit = 1024
	if b < unit && b > -unit {
		return strconv.FormatInt(b, 10) + " B"
	}
	v, i := float64(b), 0
	for math.Abs(v) >= unit && i < 6 {
		v /= unit
		i++
	}
	s := strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
	return s + " " + []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}[i]
}
