package microvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/microvm/wire"
)

// agentConn is the host end of the control port. QEMU's socket chardev
// serves one client at a time, so a connection is opened when a call needs
// the agent and closed when the last user is done: a second Provider value
// over the same state (a restarted daemon) can then talk to the machine too.
type agentConn struct {
	c    net.Conn
	w    *wire.Writer
	refs int

	mu      sync.Mutex
	streams map[uint32]chan wire.Frame
	next    uint32
	dead    error
}

// acquire returns a connection to id's agent, dialling and greeting it when
// none is open; pair with release.
func (p *Provider) acquire(ctx context.Context, id string) (*agentConn, error) {
	// One dial at a time per machine: QEMU accepts the next client only
	// after the current one leaves, so a second concurrent dial would sit
	// unanswered in the backlog until its caller gives up.
	p.mu.Lock()
	dial := p.dialing[id]
	if dial == nil {
		dial = make(chan struct{}, 1)
		p.dialing[id] = dial
	}
	p.mu.Unlock()
	select {
	case dial <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-dial }()
	p.mu.Lock()
	if ac := p.conns[id]; ac != nil && ac.err() == nil {
		ac.refs++
		p.mu.Unlock()
		return ac, nil
	}
	p.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p.path(id, fileCtl))
	if err != nil {
		return nil, fmt.Errorf("%w: connecting to the agent of %s: %v", hypercore.ErrUnavailable, id, err)
	}
	ac := &agentConn{c: c, w: wire.NewWriter(c), streams: map[uint32]chan wire.Frame{}, next: 1, refs: 1}
	// The greeting separates this connection from whatever an earlier
	// one left in flight: everything before Ready is dropped.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = ac.w.Write(wire.Frame{Type: wire.THello})
	for err == nil {
		var f wire.Frame
		if f, err = wire.Read(c); err == nil && f.Type == wire.TReady {
			break
		}
	}
	if !stop() || err != nil {
		c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%w: greeting the agent of %s: %v", hypercore.ErrUnavailable, id, err)
	}
	go ac.readLoop()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[id] = ac
	return ac, nil
}

func (p *Provider) release(id string, ac *agentConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ac.refs--
	if ac.refs <= 0 {
		if p.conns[id] == ac {
			delete(p.conns, id)
		}
		ac.c.Close()
	}
}

func (ac *agentConn) err() error {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.dead
}

func (ac *agentConn) readLoop() {
	for {
		f, err := wire.Read(ac.c)
		if err != nil {
			ac.mu.Lock()
			ac.dead = fmt.Errorf("%w: agent connection: %v", hypercore.ErrUnavailable, err)
			for id, ch := range ac.streams {
				close(ch)
				delete(ac.streams, id)
			}
			ac.mu.Unlock()
			ac.c.Close()
			return
		}
		ac.mu.Lock()
		ch := ac.streams[f.Stream]
		ac.mu.Unlock()
		if ch != nil {
			ch <- f
		}
	}
}

// open allocates a stream and returns its id and frame channel (closed when
// the connection ends).
func (ac *agentConn) open() (uint32, chan wire.Frame, error) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.dead != nil {
		return 0, nil, ac.dead
	}
	id := ac.next
	ac.next++
	ch := make(chan wire.Frame, 64)
	ac.streams[id] = ch
	return id, ch, nil
}

func (ac *agentConn) closeStream(id uint32) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	delete(ac.streams, id)
}

// call sends one JSON request and decodes the one reply of type want.
func (ac *agentConn) call(ctx context.Context, t wire.Type, req any, want wire.Type, reply any) error {
	sid, ch, err := ac.open()
	if err != nil {
		return err
	}
	defer ac.closeStream(sid)
	if err := ac.w.WriteJSON(t, sid, req); err != nil {
		return fmt.Errorf("%w: agent: %v", hypercore.ErrUnavailable, err)
	}
	select {
	case f, ok := <-ch:
		if !ok {
			return ac.err()
		}
		return decodeReply(f, want, reply)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func decodeReply(f wire.Frame, want wire.Type, reply any) error {
	switch f.Type {
	case want:
		if reply == nil {
			return nil
		}
		return json.Unmarshal(f.Payload, reply)
	case wire.TError:
		var e wire.Error
		_ = json.Unmarshal(f.Payload, &e)
		return errors.New(e.Message)
	}
	return fmt.Errorf("%w: agent answered frame type %d, want %d", hypercore.ErrUnavailable, f.Type, want)
}
