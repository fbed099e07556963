package spacecore

import (
	"testing"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 10 * time.Second, ResetAfter: time.Minute}
	tests := []struct {
		step int
		want time.Duration
	}{
		{0, time.Second}, {1, 2 * time.Second}, {2, 4 * time.Second}, {3, 8 * time.Second},
		{4, 10 * time.Second}, {5, 10 * time.Second}, {1000, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := b.Delay(tt.step); got != tt.want {
			t.Errorf("Delay(%d) = %v, want %v", tt.step, got, tt.want)
		}
	}
}

func TestBackoffFill(t *testing.T) {
	var b Backoff
	b.fill()
	if b != DefaultBackoff {
		t.Errorf("zero Backoff filled to %+v, want %+v", b, DefaultBackoff)
	}
	b = Backoff{Base: time.Hour}
	b.fill()
	if b.Max < b.Base {
		t.Errorf("Max %v below Base %v", b.Max, b.Base)
	}
}

func TestShouldRestart(t *testing.T) {
	ok := &hypercore.ExitStatus{Code: 0}
	bad := &hypercore.ExitStatus{Code: 3}
	killed := &hypercore.ExitStatus{Code: 137, Signal: 9}
	oom := &hypercore.ExitStatus{Code: 0, OOMKilled: true}
	tests := []struct {
		policy RestartPolicy
		exit   *hypercore.ExitStatus
		want   bool
	}{
		{RestartAlways, ok, true},
		{RestartAlways, bad, true},
		{RestartAlways, nil, true},
		{RestartOnFailure, ok, false},
		{RestartOnFailure, bad, true},
		{RestartOnFailure, killed, true},
		{RestartOnFailure, oom, true},
		{RestartOnFailure, nil, true}, // vanished machine or failed start
		{"", bad, true},               // empty means on-failure
		{RestartNever, bad, false},
		{RestartNever, nil, false},
	}
	for _, tt := range tests {
		if got := shouldRestart(tt.policy, tt.exit); got != tt.want {
			t.Errorf("shouldRestart(%q, %+v) = %v, want %v", tt.policy, tt.exit, got, tt.want)
		}
	}
}

func TestScheduleRestart(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 8 * time.Second, ResetAfter: time.Minute}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bad := &hypercore.ExitStatus{Code: 1}
	tests := []struct {
		name     string
		rec      Record
		exit     *hypercore.ExitStatus
		want     bool
		wantAt   time.Time
		wantStep int
	}{
		{"first failure", Record{Restart: RestartAlways, StartedAt: now.Add(-time.Second)}, bad, true, now.Add(time.Second), 1},
		{"third quick failure", Record{Restart: RestartAlways, BackoffStep: 2, StartedAt: now.Add(-time.Second)}, bad, true, now.Add(4 * time.Second), 3},
		{"capped", Record{Restart: RestartAlways, BackoffStep: 9, StartedAt: now.Add(-time.Second)}, bad, true, now.Add(8 * time.Second), 10},
		{"healthy run resets", Record{Restart: RestartAlways, BackoffStep: 9, StartedAt: now.Add(-time.Hour)}, bad, true, now.Add(time.Second), 1},
		{"never start resets nothing", Record{Restart: RestartOnFailure, BackoffStep: 2}, nil, true, now.Add(4 * time.Second), 3},
		{"policy says stay down", Record{Restart: RestartNever, BackoffStep: 2, RestartAt: now}, bad, false, time.Time{}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			if got := b.scheduleRestart(&rec, now, tt.exit); got != tt.want {
				t.Fatalf("scheduleRestart = %v, want %v", got, tt.want)
			}
			if !rec.RestartAt.Equal(tt.wantAt) || rec.BackoffStep != tt.wantStep {
				t.Errorf("RestartAt %v step %d, want %v step %d", rec.RestartAt, rec.BackoffStep, tt.wantAt, tt.wantStep)
			}
		})
	}
}

func TestCreateRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  CreateRequest
		ok   bool
	}{
		{"complete", CreateRequest{Name: "a", Spec: twSpec("sleep")}, true},
		{"name from spec", CreateRequest{Spec: func() hypercore.MachineSpec { s := twSpec("sleep"); s.Name = "n"; return s }()}, true},
		{"image ref only", CreateRequest{Name: "a", ImageRef: "registry.example/app:1"}, true},
		{"no name", CreateRequest{Spec: twSpec("sleep")}, false},
		{"bad policy", CreateRequest{Name: "a", Spec: twSpec("sleep"), Restart: "sometimes"}, false},
		{"bad isolation", CreateRequest{Name: "a", Spec: func() hypercore.MachineSpec { s := twSpec("sleep"); s.Isolation = "chroot"; return s }()}, false},
		{"nothing to run", CreateRequest{Name: "a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			err := req.validate()
			if (err == nil) != tt.ok {
				t.Fatalf("validate = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !isErr(err, hypercore.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if err == nil && (req.Restart != RestartOnFailure || req.Spec.Isolation != hypercore.IsolationSandbox) {
				t.Errorf("defaults not filled: %+v", req)
			}
		})
	}
}
