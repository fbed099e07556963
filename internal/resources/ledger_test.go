package resources

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

const gib = 1 << 30

func res(milliCPU, memGiB, diskGiB int64, gpus int) hypercore.Resources {
	return hypercore.Resources{MilliCPU: milliCPU, MemoryBytes: memGiB * gib, DiskBytes: diskGiB * gib, GPUs: gpus}
}

func TestNewLedger(t *testing.T) {
	node := Capacity{MilliCPU: 4000, MemoryBytes: 8 * gib, DiskBytes: 100 * gib, GPUs: 1}
	tests := []struct {
		name    string
		policy  Policy
		offered Capacity
		err     string
	}{
		{name: "default holds back a core and a GiB", policy: DefaultPolicy(),
			offered: Capacity{MilliCPU: 3000, MemoryBytes: 7 * gib, DiskBytes: 100 * gib, GPUs: 1}},
		{name: "zero policy offers everything", policy: Policy{}, offered: node},
		{name: "overcommit after the reserve", policy: Policy{Reserved: Capacity{MilliCPU: 1000, MemoryBytes: gib}, CPUOvercommit: 2, MemoryOvercommit: 1.5},
			offered: Capacity{MilliCPU: 6000, MemoryBytes: 10*gib + gib/2, DiskBytes: 100 * gib, GPUs: 1}},
		{name: "ratio below one", policy: Policy{CPUOvercommit: 0.5}, err: "cpu_overcommit = 0.5"},
		{name: "NaN ratio", policy: Policy{DiskOvercommit: math.NaN()}, err: "disk_overcommit"},
		{name: "negative reserve", policy: Policy{Reserved: Capacity{MemoryBytes: -1}}, err: "negative"},
		{name: "reserve above capacity", policy: Policy{Reserved: Capacity{MemoryBytes: 9 * gib}},
			err: "reserves 9 GiB of memory for the host but this node has 8 GiB"},
		{name: "reserve more gpus than exist", policy: Policy{Reserved: Capacity{GPUs: 2}}, err: "reserves 2 of gpus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLedger(node, tt.policy)
			if tt.err != "" {
				if !errors.Is(err, hypercore.ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Offered(); got != tt.offered {
				t.Errorf("offered %+v, want %+v", got, tt.offered)
			}
			if got := l.Free(); got != tt.offered {
				t.Errorf("free %+v, want %+v", got, tt.offered)
			}
		})
	}
}

func TestLedgerReserve(t *testing.T) {
	type step struct {
		op   string // "reserve" or "release"
		id   string
		r    hypercore.Resources
		err  error  // class
		msg  string // substring of the error
		used Capacity
	}
	node := Capacity{MilliCPU: 4000, MemoryBytes: 8 * gib, DiskBytes: 20 * gib, GPUs: 1}
	u := func(milliCPU, memGiB, diskGiB int64, gpus int) Capacity {
		return toCapacity(res(milliCPU, memGiB, diskGiB, gpus))
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "fill exactly, then refuse", steps: []step{
			{op: "reserve", id: "a", r: res(2000, 4, 10, 0), used: u(2000, 4, 10, 0)},
			{op: "reserve", id: "b", r: res(1000, 3, 10, 1), used: u(3000, 7, 20, 1)},
			{op: "reserve", id: "c", r: res(1, 0, 0, 0), err: hypercore.ErrResources,
				msg: "cpu: asked 0.001 cores, 0 cores free of 3 cores offered", used: u(3000, 7, 20, 1)},
		}},
		{name: "every shortfall is named", steps: []step{
			{op: "reserve", id: "big", r: res(8000, 16, 1, 2), err: hypercore.ErrResources,
				msg: "cpu: asked 8 cores, 3 cores free of 3 cores offered; memory: asked 16 GiB, 7 GiB free of 7 GiB offered; gpus: asked 2, 1 free of 1 offered"},
		}},
		{name: "same id and amount is idempotent", steps: []step{
			{op: "reserve", id: "a", r: res(1000, 1, 1, 0), used: u(1000, 1, 1, 0)},
			{op: "reserve", id: "a", r: res(1000, 1, 1, 0), used: u(1000, 1, 1, 0)},
		}},
		{name: "same id, new amount resizes using its own share", steps: []step{
			{op: "reserve", id: "a", r: res(2000, 6, 0, 0), used: u(2000, 6, 0, 0)},
			{op: "reserve", id: "a", r: res(3000, 7, 0, 0), used: u(3000, 7, 0, 0)},
			{op: "reserve", id: "a", r: res(3000, 8, 0, 0), err: hypercore.ErrResources,
				msg: "memory: asked 8 GiB, 7 GiB free of 7 GiB offered", used: u(3000, 7, 0, 0)},
		}},
		{name: "release makes room; unknown release is a no-op", steps: []step{
			{op: "reserve", id: "a", r: res(3000, 1, 0, 0), used: u(3000, 1, 0, 0)},
			{op: "reserve", id: "b", r: res(1000, 1, 0, 0), err: hypercore.ErrResources, used: u(3000, 1, 0, 0)},
			{op: "release", id: "nobody", used: u(3000, 1, 0, 0)},
			{op: "release", id: "a", used: Capacity{}},
			{op: "release", id: "a", used: Capacity{}},
			{op: "reserve", id: "b", r: res(1000, 1, 0, 0), used: u(1000, 1, 0, 0)},
		}},
		{name: "zero request fits anywhere", steps: []step{
			{op: "reserve", id: "a", r: res(3000, 7, 20, 1), used: u(3000, 7, 20, 1)},
			{op: "reserve", id: "z", r: hypercore.Resources{}, used: u(3000, 7, 20, 1)},
		}},
		{name: "bad input", steps: []step{
			{op: "reserve", id: "", r: res(1, 0, 0, 0), err: hypercore.ErrInvalid, msg: "empty id"},
			{op: "reserve", id: "neg", r: res(-1, 0, 0, 0), err: hypercore.ErrInvalid, msg: "negative"},
		}},
		{name: "pids are not accounted", steps: []step{
			{op: "reserve", id: "a", r: hypercore.Resources{Pids: 1 << 40}, used: Capacity{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLedger(node, DefaultPolicy())
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				if s.op == "release" {
					l.Release(s.id)
				} else {
					err := l.Reserve(s.id, s.r)
					switch {
					case s.err == nil && err != nil:
						t.Fatalf("step %d: Reserve(%s) = %v", i, s.id, err)
					case s.err != nil && !errors.Is(err, s.err):
						t.Fatalf("step %d: Reserve(%s) = %v, want %v", i, s.id, err, s.err)
					case s.msg != "" && !strings.Contains(err.Error(), s.msg):
						t.Fatalf("step %d: Reserve(%s) = %q, want it to contain %q", i, s.id, err, s.msg)
					}
				}
				if got := l.Used(); got != s.used {
					t.Fatalf("step %d: used %+v, want %+v", i, got, s.used)
				}
				if got, want := l.Free(), sub(l.Offered(), s.used); got != want {
					t.Fatalf("step %d: free %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

func TestLedgerRefusalSentence(t *testing.T) {
	l, err := NewLedger(Capacity{MilliCPU: 2000, MemoryBytes: 2 * gib}, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	err = l.Reserve("web-1", hypercore.Resources{MilliCPU: 500, MemoryBytes: 1536 << 20})
	want := "reserving resources for web-1: resources exhausted: does not fit on this node (memory: asked 1.5 GiB, 1 GiB free of 1 GiB offered)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestLedgerConcurrent(t *testing.T) {
	// 8 cores offered, 64 goroutines each try to reserve one core under
	// its own id, twice (idempotent), while others release: exactly 8
	// may hold a core at any time and the books must balance at the end.
	l, err := NewLedger(Capacity{MilliCPU: 9000, MemoryBytes: 65 * gib}, DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := map[string]bool{}
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("sc-%d", i)
			r := res(1000, 1, 0, 0)
			for round := range 50 {
				err1 := l.Reserve(id, r)
				err2 := l.Reserve(id, r)
				if (err1 == nil) != (err2 == nil) && err1 == nil {
					t.Errorf("%s: second identical Reserve failed: %v", id, err2)
				}
				if err1 != nil && !errors.Is(err1, hypercore.ErrResources) {
					t.Errorf("%s: %v", id, err1)
				}
				if used := l.Used(); used.MilliCPU > 8000 || used.MemoryBytes > 64*gib {
					t.Errorf("overcommitted: %+v", used)
				}
				if err1 == nil && round == 49 && i%2 == 0 {
					mu.Lock()
					granted[id] = true
					mu.Unlock()
					continue // keep it
				}
				l.Release(id)
			}
		}()
	}
	wg.Wait()
	if got := len(l.Reservations()); got != len(granted) {
		t.Errorf("%d reservations held, want %d", got, len(granted))
	}
	if got, want := l.Used().MilliCPU, int64(len(granted))*1000; got != want {
		t.Errorf("used %d mCPU, want %d", got, want)
	}
	for id := range granted {
		l.Release(id)
	}
	if l.Used() != (Capacity{}) || l.Free() != l.Offered() {
		t.Errorf("after releasing everything: used %+v free %+v", l.Used(), l.Free())
	}
}

func TestFmtBytes(t *testing.T) {
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536 << 20: "1.5 GiB", 100 * gib: "100 GiB", 3 << 40: "3 TiB"} {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

var _ Admitter = (*Ledger)(nil)
