// Package fake is an in-memory hypercore provider for unit tests of the
// layers above hypercore (spacecore, node, api, gateway). It runs no
// processes: it interprets the conformance workload's commands (/bin/tw
// exit|echo|sleep|ignore-term|http|env|pwd) in goroutines, and its `http`
// command really listens on the published host ports so gateway tests can
// reach it. It enforces no limits and forgets everything when dropped.
package fake

import (
	"context"
	"fmt"
	"io"
	"net"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Provider is the fake provider. The zero value is not usable; call New.
type Provider struct {
	mu       sync.Mutex
	machines map[string]*machine
	// Isolation is what Capabilities reports; default sandbox.
	Isolation hypercore.Isolation
	// ProbeErr is returned by Probe, to test unavailable providers.
	ProbeErr error
}

var _ hypercore.Provider = (*Provider)(nil)

// New returns an empty fake provider.
func New() *Provider {
	return &Provider{machines: map[string]*machine{}, Isolation: hypercore.IsolationSandbox}
}

// Factory adapts New to hypercore.Factory (the directory is ignored).
func Factory(string) (hypercore.Provider, error) { return New(), nil }

// Name implements hypercore.Provider.
func (p *Provider) Name() string { return "fake" }

// Probe implements hypercore.Provider.
func (p *Provider) Probe(context.Context) error { return p.ProbeErr }

// Capabilities implements hypercore.Provider.
func (p *Provider) Capabilities() hypercore.Capabilities {
	return hypercore.Capabilities{Isolation: p.Isolation, Network: true, PortPublish: true, Exec: true}
}

func (p *Provider) get(id string) (*machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.machines[id]
	if !ok {
		return nil, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
	}
	return m, nil
}

// Create implements hypercore.Provider.
func (p *Provider) Create(ctx context.Context, id string, spec hypercore.MachineSpec) error {
	if err := hypercore.ValidID(id); err != nil {
		return err
	}
	if len(spec.Process.Args) == 0 {
		return fmt.Errorf("creating %s: %w: no process args", id, hypercore.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.machines[id]; dup {
		return fmt.Errorf("creating %s: %w", id, hypercore.ErrAlreadyExists)
	}
	m := &machine{id: id, spec: spec, state: hypercore.StateCreated, created: time.Now(),
		done: make(chan struct{}), term: make(chan struct{}), kill: make(chan struct{})}
	m.cond = sync.NewCond(&m.mu)
	// Bind published ports at create, as real providers do, so a taken
	// port fails here.
	for _, port := range spec.Network.Ports {
		host := port.HostIP
		if host == "" {
			host = "127.0.0.1"
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port.HostPort)))
		if err != nil {
			m.closeListeners()
			return fmt.Errorf("creating %s: publishing port %d: %w: %v", id, port.Port, hypercore.ErrResources, err)
		}
		port.HostPort = ln.Addr().(*net.TCPAddr).Port
		m.ports = append(m.ports, port)
		m.listeners = append(m.listeners, ln)
	}
	p.machines[id] = m
	return nil
}

// Start implements hypercore.Provider.
func (p *Provider) Start(ctx context.Context, id string) error {
	m, err := p.get(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != hypercore.StateCreated {
		return fmt.Errorf("starting %s: %w: machine is %s", id, hypercore.ErrState, m.state)
	}
	if path.Base(m.spec.Process.Args[0]) != "tw" {
		return fmt.Errorf("starting %s: %w: executable %q not found", id, hypercore.ErrInvalid, m.spec.Process.Args[0])
	}
	m.state = hypercore.StateRunning
	m.started = time.Now()
	go m.run()
	return nil
}

// Stop implements hypercore.Provider.
func (p *Provider) Stop(ctx context.Context, id string, grace time.Duration) error {
	m, err := p.get(id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	running := m.state == hypercore.StateRunning
	m.mu.Unlock()
	if !running {
		return nil
	}
	m.signal(m.term)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-m.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	m.signal(m.kill)
	<-m.done
	return nil
}

// Delete implements hypercore.Provider.
func (p *Provider) Delete(ctx context.Context, id string) error {
	m, err := p.get(id)
	if err != nil {
		return err
	}
	if err := p.Stop(ctx, id, 0); err != nil {
		return err
	}
	m.closeListeners()
	p.mu.Lock()
	delete(p.machines, id)
	p.mu.Unlock()
	return nil
}

// State implements hypercore.Provider.
func (p *Provider) State(ctx context.Context, id string) (hypercore.Status, error) {
	m, err := p.get(id)
	if err != nil {
		return hypercore.Status{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := hypercore.Status{ID: id, State: m.state, Ports: append([]hypercore.Port(nil), m.ports...),
		CreatedAt: m.created, StartedAt: m.started, Labels: m.spec.Labels, IP: "127.0.0.1"}
	if m.exit != nil {
		e := *m.exit
		st.Exit = &e
	}
	return st, nil
}

// Wait implements hypercore.Provider.
func (p *Provider) Wait(ctx context.Context, id string) (hypercore.ExitStatus, error) {
	m, err := p.get(id)
	if err != nil {
		return hypercore.ExitStatus{}, err
	}
	select {
	case <-m.done:
	case <-ctx.Done():
		return hypercore.ExitStatus{}, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.exit, nil
}

// List implements hypercore.Provider.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.machines))
	for id := range p.machines {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// Logs implements hypercore.Provider.
func (p *Provider) Logs(ctx context.Context, id string, opts hypercore.LogOptions) (io.ReadCloser, error) {
	m, err := p.get(id)
	if err != nil {
		return nil, err
	}
	return m.reader(ctx, opts.Follow), nil
}

// Stats implements hypercore.Provider; the fake measures nothing.
func (p *Provider) Stats(ctx context.Context, id string) (hypercore.Stats, error) {
	if _, err := p.get(id); err != nil {
		return hypercore.Stats{}, err
	}
	return hypercore.Stats{}, nil
}
