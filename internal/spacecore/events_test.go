package spacecore

import (
	"context"
	"slices"
	"sync"
	"testing"
)

func TestBrokerFanOutAndSlowSubscriber(t *testing.T) {
	b := newBroker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := b.subscribe(ctx) // never read until the end
	type reader struct {
		mu  sync.Mutex
		ids []int64
		end chan struct{}
	}
	readers := []*reader{{end: make(chan struct{})}, {end: make(chan struct{})}}
	for _, r := range readers {
		ch := b.subscribe(ctx)
		go func() {
			defer close(r.end)
			for ev := range ch {
				r.mu.Lock()
				r.ids = append(r.ids, ev.Generation)
				r.mu.Unlock()
			}
		}()
	}
	seen := func(n int) func() bool {
		return func() bool {
			for _, r := range readers {
				r.mu.Lock()
				l := len(r.ids)
				r.mu.Unlock()
				if l < n {
					return false
				}
			}
			return true
		}
	}
	// Fill the slow subscriber's buffer exactly; everyone keeps up.
	for i := range subscriberBuffer {
		b.publish(Event{Generation: int64(i)})
	}
	waitFor(t, "fast readers", seen(subscriberBuffer))
	// One more: the slow subscriber is dropped, publish does not block.
	for i := subscriberBuffer; i < subscriberBuffer+10; i++ {
		b.publish(Event{Generation: int64(i)})
	}
	waitFor(t, "fast readers", seen(subscriberBuffer+10))
	n := 0
	for range slow {
		n++
	}
	if n != subscriberBuffer {
		t.Errorf("slow subscriber got %d events before being dropped, want %d", n, subscriberBuffer)
	}
	cancel()
	for _, r := range readers {
		<-r.end
		for i, id := range r.ids {
			if id != int64(i) {
				t.Fatalf("fast reader got event %d at position %d", id, i)
			}
		}
	}
}

func TestBrokerCloseAndLateSubscribe(t *testing.T) {
	b := newBroker()
	ch := b.subscribe(context.Background())
	b.close()
	if _, ok := <-ch; ok {
		t.Error("subscriber channel open after close")
	}
	if _, ok := <-b.subscribe(context.Background()); ok {
		t.Error("subscribe after close returned an open channel")
	}
	b.publish(Event{}) // no panic on closed subscribers
}

func TestSupervisorEventsFanOut(t *testing.T) {
	e := newEnv(t)
	s := e.open()
	a, b := record(t, s), record(t, s)
	rec := create(t, s, "ev", RestartNever, "exit", "0")
	waitFor(t, "exited events", func() bool {
		return slices.Contains(a.types(rec.ID), EventExited) && slices.Contains(b.types(rec.ID), EventExited)
	})
	if !slices.Equal(a.types(rec.ID), b.types(rec.ID)) {
		t.Errorf("subscribers differ: %v vs %v", a.types(rec.ID), b.types(rec.ID))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ev := range a.evs {
		if ev.Type == EventExited && (ev.Exit == nil || ev.Exit.Code != 0) {
			t.Errorf("exited event without its exit status: %+v", ev)
		}
	}
}
