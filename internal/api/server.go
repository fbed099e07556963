// Package api serves the node API with connect (gRPC, gRPC-Web and
// HTTP/JSON on one port, plus a unix socket for local admin) and holds the
// Go client the CLI uses. Domain errors become API codes here and only
// here. Over TCP every request must be signed by an authorized ed25519 key
// (auth.go), and a key can only see and touch the spacecores it owns.
//
// It must not import hypercore providers, chain or market.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/api/vimana/v1/vimanav1connect"
	"github.com/vistara-labs/vimana/internal/buildinfo"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/spacecore"
)

// Deps are what the API serves.
type Deps struct {
	Supervisor *spacecore.Supervisor
	// URLs returns the gateway URLs of a spacecore.
	URLs func(id string) []string
	// Hardware returns the node's hardware report (any JSON value).
	Hardware func(ctx context.Context) (any, error)
	// NodePublicKey is the node's identity (hex).
	NodePublicKey string
	// Authorized reports whether a caller key (hex) may use the TCP API.
	Authorized func(key string) bool
	// MayCreate, when set, limits who may create spacecores over TCP;
	// other authorized keys (e.g. tenants of marketplace leases) may only
	// act on spacecores they own.
	MayCreate func(key string) bool
	// Leases, when set, serves the lease service (provider nodes).
	Leases Leases
}

// Handler returns the connect services on one mux. local=true is for the
// unix socket (callers are the local admin); otherwise requests must be
// signed.
func Handler(d Deps, local bool) http.Handler {
	var icpt connect.Interceptor = localInterceptor{}
	if !local {
		auth := d.Authorized
		if auth == nil {
			auth = func(string) bool { return false }
		}
		icpt = authInterceptor{v: newVerifier(auth)}
	}
	opts := connect.WithInterceptors(icpt)
	mux := http.NewServeMux()
	s := &server{d: d}
	mux.Handle(vimanav1connect.NewSpacecoreServiceHandler(s, opts))
	mux.Handle(vimanav1connect.NewNodeServiceHandler(s, opts))
	if d.Leases != nil {
		mux.Handle(vimanav1connect.NewLeaseServiceHandler(leaseServer{d.Leases}, opts))
	}
	return mux
}

type server struct{ d Deps }

var (
	_ vimanav1connect.SpacecoreServiceHandler = (*server)(nil)
	_ vimanav1connect.NodeServiceHandler      = (*server)(nil)
)

// owned returns the record if the caller may touch it. Foreign records
// answer NotFound, so one tenant cannot even learn another's ids.
func (s *server) owned(ctx context.Context, id string) (spacecore.Record, error) {
	rec, err := s.d.Supervisor.Get(id)
	if err != nil {
		return rec, toConnect(err)
	}
	caller := Identity(ctx)
	if caller != LocalAdmin && rec.Owner != caller {
		return rec, connect.NewError(connect.CodeNotFound, fmt.Errorf("spacecore %s: %w", id, hypercore.ErrNotFound))
	}
	return rec, nil
}

func (s *server) toProto(ctx context.Context, r spacecore.Record) *vimanav1.Spacecore {
	out := &vimanav1.Spacecore{
		Id: r.ID, Name: r.Name, Owner: r.Owner, Phase: string(r.Phase), Desired: string(r.Desired),
		ImageRef: r.ImageRef, ImageDigest: r.ImageDigest, Isolation: string(r.Spec.Isolation),
		Restarts: int32(r.RestartCount), CreatedAt: r.CreatedAt.UTC().Format(time.RFC3339), LastError: r.LastError,
		Restart: string(r.Restart), MilliCpu: r.Spec.Resources.MilliCPU, MemoryBytes: r.Spec.Resources.MemoryBytes,
	}
	if r.LastExit != nil {
		out.HasExit, out.ExitCode = true, int32(r.LastExit.Code)
	}
	if st, err := s.d.Supervisor.Status(ctx, r.ID); err == nil {
		out.Ip = st.IP
		for _, p := range st.Ports {
			out.Ports = append(out.Ports, &vimanav1.Port{Port: int32(p.Port), HostPort: int32(p.HostPort), Protocol: p.Protocol})
		}
	}
	if s.d.URLs != nil {
		out.Urls = s.d.URLs(r.ID)
	}
	return out
}

func (s *server) Run(ctx context.Context, req *connect.Request[vimanav1.RunRequest]) (*connect.Response[vimanav1.RunResponse], error) {
	if caller := Identity(ctx); caller != LocalAdmin && s.d.MayCreate != nil && !s.d.MayCreate(caller) {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("this key may use its leases here but not create spacecores; deploy through the marketplace"))
	}
	m := req.Msg
	name := m.Filename
	if name == "" {
		name = "hac.toml"
	} else if !filepath.IsAbs(name) {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("filename must be absolute (relative image paths resolve against it)"))
	}
	spec, _, err := hac.Parse(name, []byte(m.HacToml))
	if err != nil {
		return nil, toConnect(err)
	}
	ms := spec.MachineSpec()
	rec, err := s.d.Supervisor.Create(ctx, spacecore.CreateRequest{
		Name: spec.Spacecore.Name, Owner: Identity(ctx), Spec: ms, ImageRef: spec.Image.Ref,
		Override: spacecore.Override{Command: spec.Image.Command, Args: spec.Image.Args, Env: spec.Image.EnvList(),
			Workdir: spec.Image.Workdir, User: spec.Image.User},
		Restart: spacecore.RestartPolicy(spec.Deploy.Restart),
	})
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.RunResponse{Spacecore: s.toProto(ctx, rec)}), nil
}

func (s *server) List(ctx context.Context, req *connect.Request[vimanav1.ListRequest]) (*connect.Response[vimanav1.ListResponse], error) {
	caller := Identity(ctx)
	out := &vimanav1.ListResponse{}
	for _, r := range s.d.Supervisor.List(spacecore.Filter{}) {
		if caller == LocalAdmin || r.Owner == caller {
			out.Spacecores = append(out.Spacecores, s.toProto(ctx, r))
		}
	}
	return connect.NewResponse(out), nil
}

func (s *server) Get(ctx context.Context, req *connect.Request[vimanav1.GetRequest]) (*connect.Response[vimanav1.GetResponse], error) {
	rec, err := s.owned(ctx, req.Msg.Id)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&vimanav1.GetResponse{Spacecore: s.toProto(ctx, rec)}), nil
}

func (s *server) Logs(ctx context.Context, req *connect.Request[vimanav1.LogsRequest], stream *connect.ServerStream[vimanav1.LogsResponse]) error {
	caller, err := streamIdentity(ctx, vimanav1connect.SpacecoreServiceLogsProcedure, req.Header(), req.Msg)
	if err != nil {
		return err
	}
	ctx = withIdentity(ctx, caller)
	if _, err := s.owned(ctx, req.Msg.Id); err != nil {
		return err
	}
	tail := int(req.Msg.Tail)
	if tail <= 0 {
		tail = -1 // the API's 0 means everything kept
	}
	rc, err := s.d.Supervisor.Logs(ctx, req.Msg.Id, req.Msg.Follow, tail)
	if err != nil {
		return toConnect(err)
	}
	defer rc.Close()
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if err := stream.Send(&vimanav1.LogsResponse{Data: append([]byte(nil), buf[:n]...)}); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return toConnect(rerr)
		}
	}
}

func (s *server) Stop(ctx context.Context, req *connect.Request[vimanav1.StopRequest]) (*connect.Response[vimanav1.StopResponse], error) {
	if _, err := s.owned(ctx, req.Msg.Id); err != nil {
		return nil, err
	}
	grace := time.Duration(req.Msg.GraceSeconds) * time.Second
	if grace <= 0 {
		grace = 10 * time.Second
	}
	if err := s.d.Supervisor.Stop(ctx, req.Msg.Id, grace); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.StopResponse{}), nil
}

func (s *server) Start(ctx context.Context, req *connect.Request[vimanav1.StartRequest]) (*connect.Response[vimanav1.StartResponse], error) {
	if _, err := s.owned(ctx, req.Msg.Id); err != nil {
		return nil, err
	}
	if err := s.d.Supervisor.Start(ctx, req.Msg.Id); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.StartResponse{}), nil
}

func (s *server) Remove(ctx context.Context, req *connect.Request[vimanav1.RemoveRequest]) (*connect.Response[vimanav1.RemoveResponse], error) {
	if _, err := s.owned(ctx, req.Msg.Id); err != nil {
		return nil, err
	}
	if err := s.d.Supervisor.Remove(ctx, req.Msg.Id); err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.RemoveResponse{}), nil
}

func (s *server) Stats(ctx context.Context, req *connect.Request[vimanav1.StatsRequest]) (*connect.Response[vimanav1.StatsResponse], error) {
	if _, err := s.owned(ctx, req.Msg.Id); err != nil {
		return nil, err
	}
	st, err := s.d.Supervisor.Stats(ctx, req.Msg.Id)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.StatsResponse{CpuUsageNs: st.CPUUsageNanos, MemoryBytes: st.MemoryBytes,
		MemoryLimit: st.MemoryLimit, Pids: st.Pids, NetRxBytes: st.NetRxBytes, NetTxBytes: st.NetTxBytes, DiskBytes: st.DiskBytes}), nil
}

// maxExecOutput bounds what one Exec call buffers per stream.
const maxExecOutput = 4 << 20

func (s *server) Exec(ctx context.Context, req *connect.Request[vimanav1.ExecRequest]) (*connect.Response[vimanav1.ExecResponse], error) {
	if _, err := s.owned(ctx, req.Msg.Id); err != nil {
		return nil, err
	}
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxExecOutput, maxExecOutput
	code, err := s.d.Supervisor.Exec(ctx, req.Msg.Id, hypercore.ExecRequest{
		Args: req.Msg.Args, Env: req.Msg.Env, Stdin: bytes.NewReader(req.Msg.Stdin), Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.ExecResponse{ExitCode: int32(code), Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}), nil
}

func (s *server) Hardware(ctx context.Context, req *connect.Request[vimanav1.HardwareRequest]) (*connect.Response[vimanav1.HardwareResponse], error) {
	if s.d.Hardware == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("no hardware report on this node"))
	}
	rep, err := s.d.Hardware(ctx)
	if err != nil {
		return nil, toConnect(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&vimanav1.HardwareResponse{ReportJson: string(b)}), nil
}

func (s *server) Version(ctx context.Context, req *connect.Request[vimanav1.VersionRequest]) (*connect.Response[vimanav1.VersionResponse], error) {
	bi := buildinfo.Get()
	return connect.NewResponse(&vimanav1.VersionResponse{Version: bi.Version, Commit: bi.Commit, NodePublicKey: s.d.NodePublicKey}), nil
}

func withIdentity(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// limitedBuffer keeps the first max bytes and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}
