package spacecore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// EventType names what happened to a spacecore.
type EventType string

// Event types.
const (
	EventCreated   EventType = "created"
	EventStarted   EventType = "started"
	EventExited    EventType = "exited"
	EventRestarted EventType = "restarted"
	EventStopped   EventType = "stopped"
	EventRemoved   EventType = "removed"
	EventAdopted   EventType = "adopted" // found running after a daemon restart
	EventFailed    EventType = "failed"  // a create/start attempt failed
)

// Event is one change in a spacecore's life.
type Event struct {
	Type         EventType             `json:"type"`
	ID           string                `json:"id"`
	Name         string                `json:"name"`
	Owner        string                `json:"owner"`
	Time         time.Time             `json:"time"`
	Generation   int64                 `json:"generation"`
	Phase        Phase                 `json:"phase"`
	RestartCount int                   `json:"restart_count"`
	Exit         *hypercore.ExitStatus `json:"exit,omitempty"`
	Error        string                `json:"error,omitempty"`
}

// subscriberBuffer is how many events a subscriber may fall behind before
// it is dropped (its channel closed): a slow reader must never stall the
// supervisor.
const subscriberBuffer = 256

type broker struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch   chan Event
	once sync.Once
}

func (s *subscriber) close() { s.once.Do(func() { close(s.ch) }) }

func newBroker() *broker { return &broker{subs: map[*subscriber]struct{}{}} }

// subscribe returns a channel of events that is closed when ctx ends, the
// subscriber falls behind, or the broker closes.
func (b *broker) subscribe(ctx context.Context) <-chan Event {
	sub := &subscriber{ch: make(chan Event, subscriberBuffer)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		sub.close()
		return sub.ch
	}
	b.subs[sub] = struct{}{}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() { b.drop(sub) })
	return sub.ch
}

func (b *broker) drop(sub *subscriber) {
	b.mu.Lock()
	delete(b.subs, sub)
	b.mu.Unlock()
	sub.close()
}

func (b *broker) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.subs {
		select {
		case sub.ch <- ev:
		default:
			delete(b.subs, sub)
			sub.close()
		}
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for sub := range b.subs {
		delete(b.subs, sub)
		sub.close()
	}
}

// Reason says in a few words why the event happened: the error of a
// failed attempt, how the workload ended, or which restart this is.
func (e Event) Reason() string {
	switch {
	case e.Error != "":
		return e.Error
	case e.Exit != nil && e.Exit.OOMKilled:
		return "killed: out of memory"
	case e.Exit != nil && e.Exit.Signal != 0:
		return fmt.Sprintf("killed by signal %d", e.Exit.Signal)
	case e.Exit != nil:
		return fmt.Sprintf("exit code %d", e.Exit.Code)
	case e.Type == EventRestarted:
		return fmt.Sprintf("restart %d by its restart policy", e.RestartCount)
	case e.Type == EventAdopted:
		return "found running after a node restart"
	}
	return ""
}
