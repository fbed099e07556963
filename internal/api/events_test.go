package api

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
)

// watch opens WatchEvents and returns its events once the subscription
// is live (after the "watching" message).
func watch(t *testing.T, c *Client, id string) <-chan *vimanav1.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := c.Spacecores.WatchEvents(ctx, connect.NewRequest(&vimanav1.WatchEventsRequest{Id: id}))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Receive() || st.Msg().Type != EventWatching {
		t.Fatalf("first WatchEvents message: %v, %v", st.Msg(), st.Err())
	}
	out := make(chan *vimanav1.Event, 64)
	go func() {
		defer close(out)
		for st.Receive() {
			out <- st.Msg()
		}
	}()
	return out
}

// next returns the next event (the deadline only turns a hang into a
// failure).
func next(t *testing.T, events <-chan *vimanav1.Event) *vimanav1.Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event")
	}
	return nil
}

// until skips events up to and including the first of type typ for id.
func until(t *testing.T, events <-chan *vimanav1.Event, id, typ string) *vimanav1.Event {
	t.Helper()
	for {
		if ev := next(t, events); ev.Id == id && ev.Type == typ {
			return ev
		}
	}
}

// TestWatchEvents: a tenant sees its own spacecores' lifecycle in order
// (with phase, time and reason), and nothing of another tenant's; the
// local admin sees everyone's.
func TestWatchEvents(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a, b := DialTCP(e.url, e.tenantA), DialTCP(e.url, e.tenantB)
	evA, evB := watch(t, a, ""), watch(t, b, "")
	admin := httptest.NewServer(Handler(Deps{Supervisor: e.sup}, true))
	t.Cleanup(admin.Close)
	evAdmin := watch(t, newClient(admin.Client(), admin.URL), "")

	id := runTW(t, a)
	if _, err := a.Spacecores.Stop(ctx, connect.NewRequest(&vimanav1.StopRequest{Id: id, GraceSeconds: 5})); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Spacecores.Remove(ctx, connect.NewRequest(&vimanav1.RemoveRequest{Id: id})); err != nil {
		t.Fatal(err)
	}
	var got []string
	var last time.Time
	for _, want := range []string{"created", "started", "stopped", "removed"} {
		ev := next(t, evA)
		got = append(got, ev.Type)
		if ev.Id != id || ev.Type != want || ev.Owner != pub(e.tenantA) {
			t.Fatalf("A's events so far %v; last %+v, want %s of %s", got, ev, want, id)
		}
		at, err := time.Parse(time.RFC3339Nano, ev.Time)
		if err != nil || at.Before(last) {
			t.Errorf("event %s time %q (after %v): %v", ev.Type, ev.Time, last, err)
		}
		last = at
		if want == "started" && ev.Phase != "running" {
			t.Errorf("started event phase %q", ev.Phase)
		}
		if want == "stopped" && (!ev.HasExit || ev.Reason == "") {
			t.Errorf("stopped event without exit or reason: %+v", ev)
		}
	}
	if ev := until(t, evAdmin, id, "removed"); ev.Owner != pub(e.tenantA) {
		t.Errorf("admin saw %+v", ev)
	}
	// B's first event is its own spacecore's: none of A's reached it.
	idB := runTW(t, b)
	if ev := next(t, evB); ev.Id != idB || ev.Type != "created" {
		t.Errorf("B's first event %+v, want created of its own %s", ev, idB)
	}
	// Watching an id the caller cannot see is not_found (as for A's ids).
	st, err := b.Spacecores.WatchEvents(ctx, connect.NewRequest(&vimanav1.WatchEventsRequest{Id: idB + "x"}))
	if err == nil {
		st.Receive()
		err = st.Err()
	}
	if code(err) != connect.CodeNotFound {
		t.Errorf("watching an unknown id: %v, want not_found", err)
	}
}

// TestWatchEventsExitAndRestart: a crashing workload's exit carries its
// code, and the restart policy's restart follows.
func TestWatchEventsExitAndRestart(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a := DialTCP(e.url, e.tenantA)
	events := watch(t, a, "")
	hac := "[spacecore]\nname = \"crash\"\n[image]\nref = \"fake/tw:1\"\ncommand = [\"/bin/tw\", \"exit\", \"3\"]\n[network]\negress = false\n[deploy]\nrestart = \"on-failure\"\n"
	run, err := a.Spacecores.Run(ctx, connect.NewRequest(&vimanav1.RunRequest{HacToml: hac, Filename: "/x/hac.toml"}))
	if err != nil {
		t.Fatal(err)
	}
	id := run.Msg.Spacecore.Id
	ex := until(t, events, id, "exited")
	if !ex.HasExit || ex.ExitCode != 3 || ex.Reason != "exit code 3" {
		t.Errorf("exited event %+v", ex)
	}
	if r := until(t, events, id, "restarted"); r.Reason == "" || r.Phase != "running" {
		t.Errorf("restarted event %+v", r)
	}
	a.Spacecores.Remove(ctx, connect.NewRequest(&vimanav1.RemoveRequest{Id: id}))
}
