package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/fake"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

// twResolver stands in for the image store: every ref is the tw workload.
type twResolver struct{}

func (twResolver) Resolve(ctx context.Context, ref, digest string, o spacecore.Override) (spacecore.Image, error) {
	args := append(append([]string{}, o.Command...), o.Args...)
	return spacecore.Image{Digest: "sha256:fake", RootFS: "/nonexistent", Process: hypercore.Process{Args: args, Env: o.Env}}, nil
}

type env struct {
	url       string
	sup       *spacecore.Supervisor
	tenantA   ed25519.PrivateKey
	tenantB   ed25519.PrivateKey
	stranger  ed25519.PrivateKey
	authorize map[string]bool
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }

func setup(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	sup, err := spacecore.Open(ctx, spacecore.Options{
		DBPath: filepath.Join(dir, "db"), LogDir: filepath.Join(dir, "logs"),
		Providers: map[hypercore.Isolation]hypercore.Provider{hypercore.IsolationSandbox: fake.New()},
		Resolver:  twResolver{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close() })
	go sup.Run(ctx)
	e := &env{sup: sup, tenantA: newKey(t), tenantB: newKey(t), stranger: newKey(t)}
	e.authorize = map[string]bool{pub(e.tenantA): true, pub(e.tenantB): true}
	h := Handler(Deps{Supervisor: sup, Authorized: func(k string) bool { return e.authorize[k] }}, false)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols) // as the daemon: HTTP/1.1 and h2c
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

const hacTW = `
[spacecore]
name = "tw"
[image]
ref = "fake/tw:1"
command = ["/bin/tw", "sleep"]
[network]
egress = false
`

func code(err error) connect.Code { return connect.CodeOf(err) }

func TestTenantsAreIsolated(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a, b := DialTCP(e.url, e.tenantA), DialTCP(e.url, e.tenantB)
	run, err := a.Spacecores.Run(ctx, connect.NewRequest(&vimanav1.RunRequest{HacToml: hacTW, Filename: "/x/hac.toml"}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	id := run.Msg.Spacecore.Id
	if run.Msg.Spacecore.Owner != pub(e.tenantA) {
		t.Fatalf("owner = %q, want tenant A's key", run.Msg.Spacecore.Owner)
	}
	// B sees nothing of A's and cannot touch it: every call answers
	// NotFound, as for an id that does not exist.
	list, err := b.Spacecores.List(ctx, connect.NewRequest(&vimanav1.ListRequest{}))
	if err != nil || len(list.Msg.Spacecores) != 0 {
		t.Fatalf("B's List = %v, %v; want empty", list.Msg.GetSpacecores(), err)
	}
	calls := map[string]error{}
	_, calls["Get"] = b.Spacecores.Get(ctx, connect.NewRequest(&vimanav1.GetRequest{Id: id}))
	_, calls["Stop"] = b.Spacecores.Stop(ctx, connect.NewRequest(&vimanav1.StopRequest{Id: id}))
	_, calls["Remove"] = b.Spacecores.Remove(ctx, connect.NewRequest(&vimanav1.RemoveRequest{Id: id}))
	_, calls["Exec"] = b.Spacecores.Exec(ctx, connect.NewRequest(&vimanav1.ExecRequest{Id: id, Args: []string{"/bin/tw", "echo", "x"}}))
	_, calls["Stats"] = b.Spacecores.Stats(ctx, connect.NewRequest(&vimanav1.StatsRequest{Id: id}))
	stream, err := b.Spacecores.Logs(ctx, connect.NewRequest(&vimanav1.LogsRequest{Id: id}))
	if err == nil {
		for stream.Receive() {
			t.Errorf("B read A's logs: %q", stream.Msg().Data)
		}
		err = stream.Err()
	}
	calls["Logs"] = err
	for name, err := range calls {
		if code(err) != connect.CodeNotFound {
			t.Errorf("B %s on A's spacecore: %v, want not_found", name, err)
		}
	}
	// A still owns it and can exec into and remove it.
	ex, err := a.Spacecores.Exec(ctx, connect.NewRequest(&vimanav1.ExecRequest{Id: id, Args: []string{"/bin/tw", "echo", "mine"}}))
	if err != nil || strings.TrimSpace(string(ex.Msg.Stdout)) != "mine" {
		t.Fatalf("A's Exec = %v, %v", ex, err)
	}
	if _, err := a.Spacecores.Remove(ctx, connect.NewRequest(&vimanav1.RemoveRequest{Id: id})); err != nil {
		t.Fatalf("A's Remove: %v", err)
	}
}

func TestUnsignedForgedReplayedAndUnknownKeys(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	// Unsigned.
	plain := DialUnixLike(e.url)
	if _, err := plain.Spacecores.List(ctx, connect.NewRequest(&vimanav1.ListRequest{})); code(err) != connect.CodeUnauthenticated {
		t.Errorf("unsigned: %v, want unauthenticated", err)
	}
	// Valid signature, key not authorized on this node.
	if _, err := DialTCP(e.url, e.stranger).Spacecores.List(ctx, connect.NewRequest(&vimanav1.ListRequest{})); code(err) != connect.CodePermissionDenied {
		t.Errorf("unknown key: %v, want permission_denied", err)
	}
	// Forged: A's key in the header, signed by someone else.
	forger := &signer{key: e.stranger, now: time.Now}
	req := connect.NewRequest(&vimanav1.ListRequest{})
	forger.sign("/vimana.v1.SpacecoreService/List", req.Header(), req.Msg)
	req.Header().Set(HeaderKey, pub(e.tenantA))
	if _, err := plain.Spacecores.List(ctx, req); code(err) != connect.CodeUnauthenticated {
		t.Errorf("forged: %v, want unauthenticated", err)
	}
	// Replayed: the same signed request twice.
	s := &signer{key: e.tenantA, now: time.Now}
	req1 := connect.NewRequest(&vimanav1.ListRequest{})
	s.sign("/vimana.v1.SpacecoreService/List", req1.Header(), req1.Msg)
	req2 := connect.NewRequest(&vimanav1.ListRequest{})
	for k, v := range req1.Header() {
		req2.Header()[k] = v
	}
	if _, err := plain.Spacecores.List(ctx, req1); err != nil {
		t.Fatalf("first use of a signed request: %v", err)
	}
	if _, err := plain.Spacecores.List(ctx, req2); code(err) != connect.CodeUnauthenticated {
		t.Errorf("replay: %v, want unauthenticated", err)
	}
	// Stale: signed two minutes ago.
	old := &signer{key: e.tenantA, now: func() time.Time { return time.Now().Add(-2 * time.Minute) }}
	req3 := connect.NewRequest(&vimanav1.ListRequest{})
	old.sign("/vimana.v1.SpacecoreService/List", req3.Header(), req3.Msg)
	if _, err := plain.Spacecores.List(ctx, req3); code(err) != connect.CodeUnauthenticated {
		t.Errorf("stale: %v, want unauthenticated", err)
	}
	// A signature for one message does not cover another.
	req4 := connect.NewRequest(&vimanav1.GetRequest{Id: "a"})
	s.sign("/vimana.v1.SpacecoreService/Get", req4.Header(), req4.Msg)
	req4.Msg.Id = "b"
	if _, err := plain.Spacecores.Get(ctx, req4); code(err) != connect.CodeUnauthenticated {
		t.Errorf("tampered body: %v, want unauthenticated", err)
	}
}

func TestErrorCodes(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a := DialTCP(e.url, e.tenantA)
	if _, err := a.Spacecores.Get(ctx, connect.NewRequest(&vimanav1.GetRequest{Id: "sc-nope"})); code(err) != connect.CodeNotFound {
		t.Errorf("unknown id: %v", err)
	}
	bad := "[spacecore]\nname = \"x\"\n[hardware]\nmemroy = \"1GB\"\n"
	_, err := a.Spacecores.Run(ctx, connect.NewRequest(&vimanav1.RunRequest{HacToml: bad, Filename: "/x/hac.toml"}))
	if code(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "hac.toml:4:1: hardware.memroy") {
		t.Errorf("bad spec: %v, want invalid_argument with a located message", err)
	}
	for cls, want := range map[error]connect.Code{
		hypercore.ErrResources: connect.CodeResourceExhausted, hypercore.ErrState: connect.CodeFailedPrecondition,
		hypercore.ErrAlreadyExists: connect.CodeAlreadyExists, hypercore.ErrUnavailable: connect.CodeUnavailable,
		errors.New("boom"): connect.CodeInternal,
	} {
		if got := code(toConnect(fmt.Errorf("wrapped: %w", cls))); got != want {
			t.Errorf("%v maps to %v, want %v", cls, got, want)
		}
	}
}

// DialUnixLike is a client with no signing over TCP (for refusal tests).
func DialUnixLike(url string) *Client { return newClient(http.DefaultClient, url) }
