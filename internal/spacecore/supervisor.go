// Package spacecore is the workload supervisor hosted by the node daemon.
// It owns the spacecore records (persisted in a bbolt file), the state
// machine that drives each record's hypercore machine towards its desired
// state (running, stopped, deleted), restart policies with exponential
// backoff, re-adoption of machines after a daemon restart, log capture
// (rotated files plus an in-memory tail with follow), exec, stats and an
// event stream.
//
// The desired state is written before the supervisor acts on a provider
// and every action is idempotent, so a crash at any point is repaired by
// the next reconcile (see docs/spacecore.md). Providers, the image
// resolver and the capacity admitter are handed in by internal/node; this
// package must not import chain, market, api, node or any provider
// implementation.
package spacecore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Options configure a Supervisor. DBPath, LogDir and Providers are required.
type Options struct {
	DBPath    string // bbolt file
	LogDir    string // one directory per spacecore
	Providers map[hypercore.Isolation]hypercore.Provider
	Resolver  Resolver // needed for records with an image ref
	Admitter  Admitter // optional capacity check before create
	Clock     Clock    // default: the wall clock
	Backoff   Backoff  // zero fields take DefaultBackoff's
	Logs      LogConfig
	// StopGrace is the SIGTERM->SIGKILL grace for Remove and for stops
	// the supervisor finishes after a crash; default 10s.
	StopGrace time.Duration
	// Resync is how often Run sweeps orphans and re-checks every record;
	// default 30s.
	Resync time.Duration
	// MaxParallelStarts bounds concurrent machine starts (a daemon restart
	// with many records must not stampede the host); default 4.
	MaxParallelStarts int
	Registry          *prometheus.Registry // optional
	Logger            *slog.Logger         // default slog.Default()

	// hook, set by tests, is called at named steps; an error simulates a
	// crash there (the runner stops dead, leaving everything as is).
	hook func(step, id string) error
	// onEvent, set by tests, sees every event from the first one (a
	// subscriber made after Open can miss what Open's re-adoption emits).
	onEvent func(Event)
}

// Supervisor runs spacecores. Its methods are safe for concurrent use.
type Supervisor struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	store   *store
	events  *broker
	metrics *metrics
	starts  chan struct{} // semaphore of MaxParallelStarts

	ctx    context.Context // lifetime of runners; cancelled by Run's end or Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	records map[string]*Record // cache of the database, written by runners
	runners map[string]*runner
	closed  bool
}

// Open opens (creating) the database, loads every record, deletes orphan
// machines and starts supervising: each record is driven towards its
// desired state in the background (machines found running are adopted).
func Open(ctx context.Context, opts Options) (*Supervisor, error) {
	if opts.DBPath == "" || opts.LogDir == "" || len(opts.Providers) == 0 {
		return nil, fmt.Errorf("opening spacecore supervisor: %w: DBPath, LogDir and Providers are required", hypercore.ErrInvalid)
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.Resync <= 0 {
		opts.Resync = 30 * time.Second
	}
	if opts.MaxParallelStarts <= 0 {
		opts.MaxParallelStarts = 4
	}
	opts.Backoff.fill()
	opts.Logs.fill()
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	st, err := openStore(opts.DBPath)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		opts: opts, log: opts.Logger.With("component", "spacecore"), clock: opts.Clock,
		store: st, events: newBroker(), metrics: m, starts: make(chan struct{}, opts.MaxParallelStarts),
		records: map[string]*Record{}, runners: map[string]*runner{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.reconcile(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Run keeps supervising until ctx ends: it periodically sweeps orphan
// machines and re-checks every record. When ctx ends it stops the
// supervisor's goroutines but leaves machines running, so they are
// re-adopted by the next Open.
func (s *Supervisor) Run(ctx context.Context) error {
	t := s.clock.NewTimer(s.opts.Resync)
	defer func() { t.Stop() }()
	for {
		select {
		case <-ctx.Done():
			s.stopRunners()
			return nil
		case <-s.ctx.Done():
			return nil
		case <-t.C():
			s.resync(ctx)
			t = s.clock.NewTimer(s.opts.Resync)
		}
	}
}

// Close stops supervising (machines keep running) and closes the
// database. It is safe to call more than once.
func (s *Supervisor) Close() error {
	s.stopRunners()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.events.close()
	return s.store.close()
}

func (s *Supervisor) stopRunners() {
	s.cancel()
	s.wg.Wait()
}

// Create persists a new spacecore, then creates and starts its machine.
// When the first start fails the record is rolled back and the error
// returned; after a crash in between, the next Open finishes the start.
func (s *Supervisor) Create(ctx context.Context, req CreateRequest) (Record, error) {
	if err := req.validate(); err != nil {
		return Record{}, fmt.Errorf("creating spacecore: %w", err)
	}
	p, err := s.provider(req.Spec.Isolation)
	if err != nil {
		return Record{}, fmt.Errorf("creating spacecore %q: %w", req.Name, err)
	}
	if _, taken := s.byName(req.Owner, req.Name); taken {
		return Record{}, fmt.Errorf("creating spacecore %q: %w: name taken", req.Name, hypercore.ErrAlreadyExists)
	}
	id := req.ID
	if id == "" {
		id = newID()
	} else if _, err := s.Get(id); err == nil {
		return Record{}, fmt.Errorf("creating spacecore %q: %w: id %s taken", req.Name, hypercore.ErrAlreadyExists, id)
	}
	now := s.clock.Now()
	rec := Record{
		ID: id, Name: req.Name, Owner: req.Owner, Desired: DesiredRunning, Generation: 1,
		Spec: req.Spec, ImageRef: req.ImageRef, Override: req.Override, Restart: req.Restart,
		Phase: PhaseStarting, CreatedAt: now, UpdatedAt: now,
	}
	rec = rec.clone()
	if err := s.resolve(ctx, &rec); err != nil {
		return Record{}, fmt.Errorf("creating spacecore %q: %w", req.Name, err)
	}
	if err := s.admit(&rec); err != nil {
		return Record{}, err
	}
	if err := s.store.insert(&rec); err != nil {
		s.release(rec.ID)
		return Record{}, fmt.Errorf("creating spacecore %q: %w", req.Name, err)
	}
	s.cache(&rec)
	s.emit(EventCreated, &rec, nil)
	r, err := s.startRunner(rec, p, true, false)
	if err != nil {
		return Record{}, err
	}
	if err := s.hook("create:persisted", rec.ID); err != nil {
		r.kill()
		return Record{}, err
	}
	if err := r.call(ctx, op{kind: opCreate}); err != nil {
		return Record{}, err
	}
	return s.Get(rec.ID)
}

// Get returns a spacecore's record.
func (s *Supervisor) Get(id string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[id]
	if !ok {
		return Record{}, fmt.Errorf("spacecore %s: %w", id, hypercore.ErrNotFound)
	}
	return r.clone(), nil
}

// List returns the records matching f, oldest first.
func (s *Supervisor) List(f Filter) []Record {
	s.mu.Lock()
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		if f.match(r) {
			out = append(out, r.clone())
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Stop persists desired=stopped and stops the machine (SIGTERM, then
// SIGKILL after grace). Stopping a stopped spacecore is not an error.
func (s *Supervisor) Stop(ctx context.Context, id string, grace time.Duration) error {
	return s.do(ctx, id, op{kind: opStop, grace: grace})
}

// Start persists desired=running and starts the machine, resetting the
// backoff. Starting a running spacecore is not an error.
func (s *Supervisor) Start(ctx context.Context, id string) error {
	return s.do(ctx, id, op{kind: opStart})
}

// Remove persists desired=deleted, stops and deletes the machine, then
// deletes the record and its log files.
func (s *Supervisor) Remove(ctx context.Context, id string) error {
	return s.do(ctx, id, op{kind: opRemove, grace: s.opts.StopGrace})
}

func (s *Supervisor) provider(iso hypercore.Isolation) (hypercore.Provider, error) {
	p, ok := s.opts.Providers[iso]
	if !ok || p == nil {
		return nil, fmt.Errorf("%w: no %s provider on this node", hypercore.ErrUnavailable, iso)
	}
	return p, nil
}

func (s *Supervisor) runner(id string) (*runner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.runners[id]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("spacecore %s: %w", id, hypercore.ErrNotFound)
}

func (s *Supervisor) do(ctx context.Context, id string, o op) error {
	r, err := s.runner(id)
	if err != nil {
		return err
	}
	return r.call(ctx, o)
}

func (s *Supervisor) byName(owner, name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.records {
		if r.Owner == owner && r.Name == name {
			return id, true
		}
	}
	return "", false
}

// cache stores a copy of rec and refreshes the per-phase gauge.
func (s *Supervisor) cache(rec *Record) {
	c := rec.clone()
	s.mu.Lock()
	s.records[rec.ID] = &c
	s.countPhasesLocked()
	s.mu.Unlock()
}

func (s *Supervisor) forget(id string) {
	s.mu.Lock()
	delete(s.records, id)
	delete(s.runners, id)
	s.countPhasesLocked()
	s.mu.Unlock()
}

func (s *Supervisor) countPhasesLocked() {
	counts := map[Phase]int{}
	for _, r := range s.records {
		counts[r.Phase]++
	}
	s.metrics.setPhases(counts)
}

func (s *Supervisor) emit(t EventType, rec *Record, err error) {
	ev := Event{Type: t, ID: rec.ID, Name: rec.Name, Owner: rec.Owner, Time: s.clock.Now(),
		Generation: rec.Generation, Phase: rec.Phase, RestartCount: rec.RestartCount}
	if rec.LastExit != nil && (t == EventExited || t == EventStopped) {
		e := *rec.LastExit
		ev.Exit = &e
	}
	if err != nil {
		ev.Error = err.Error()
	}
	if s.opts.onEvent != nil {
		s.opts.onEvent(ev)
	}
	s.events.publish(ev)
}

func (s *Supervisor) hook(step, id string) error {
	if s.opts.hook == nil {
		return nil
	}
	return s.opts.hook(step, id)
}

func (s *Supervisor) logDir(id string) string { return filepath.Join(s.opts.LogDir, id) }

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "sc-" + hex.EncodeToString(b)
}
