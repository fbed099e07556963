package node

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vistara-labs/vimana/internal/chain"
	"github.com/vistara-labs/vimana/internal/hac"
	"github.com/vistara-labs/vimana/internal/provider"
	"github.com/vistara-labs/vimana/internal/storage/piecestore"
	"github.com/vistara-labs/vimana/internal/storage/repair"
	"github.com/vistara-labs/vimana/internal/wallet"
)

// storageNode is the node's storage side ([storage]): the piece store on
// the API, the auditor, the GC loop and the optional repair worker.
type storageNode struct {
	store   *piecestore.Store
	handler http.Handler
	auditor *provider.Auditor
	worker  *repair.Worker
	lookup  piecestore.DealLookup
	self    wallet.Address
	cfg     StorageConfig
	log     *slog.Logger
}

// newStorageNode opens the piece store (when enabled) and builds the
// repair worker (when configured); signer is the node key's chain signer,
// shared with the provider agent so their nonces do not collide.
func newStorageNode(home string, cfg Config, wk *wallet.Key, signer *chain.Signer, reg prometheus.Registerer, log *slog.Logger) (*storageNode, error) {
	s := &storageNode{cfg: cfg.Storage, log: log.With("component", "storage"), self: wk.Address()}
	cc := signer.C
	s.lookup = piecestore.ChainLookup(cc.Deal, chain.ErrNotFound)
	if cfg.Storage.Enabled {
		capBytes, _ := hac.ParseSize(cfg.Storage.Capacity) // validated
		dir := cfg.Storage.Dir
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(home, dir)
		}
		st, err := piecestore.Open(dir, uint64(capBytes), wk)
		if err != nil {
			return nil, err
		}
		s.store = st
		s.handler = piecestore.Handler(st, piecestore.DealAuthorizer(s.lookup))
		if reg != nil {
			s.handler = piecestore.Instrument(reg, st, s.handler)
		}
		s.auditor = &provider.Auditor{Addr: wk.Address(), Chain: cc, Submit: signer, Pieces: st, Logger: log}
	}
	if cfg.Storage.Repair {
		s.worker = &repair.Worker{Key: wk, Chain: cc, Submit: signer, Logger: log}
	}
	return s, nil
}

// mount serves the piece store next to the connect API.
func (s *storageNode) mount(api http.Handler) http.Handler {
	if s == nil || s.handler == nil {
		return api
	}
	mux := http.NewServeMux()
	mux.Handle(piecestore.Prefix, s.handler)
	mux.Handle(piecestore.Prefix+"/", s.handler)
	mux.Handle("/", api)
	return mux
}

// run answers audits, collects garbage and repairs until ctx ends.
func (s *storageNode) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if s.auditor != nil {
		g.Go(func() error { return s.auditor.Run(ctx) })
		g.Go(func() error {
			t := time.NewTicker(s.cfg.GCEvery.Duration)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
				freed, err := s.store.GC(piecestore.DealState(s.lookup, s.self), s.cfg.PendingTTL.Duration)
				if err != nil {
					s.log.Warn("piece gc", "err", err)
				} else if freed > 0 {
					s.log.Info("piece gc", "freed_bytes", freed)
				}
			}
		})
	}
	if s.worker != nil {
		g.Go(func() error { return s.worker.Run(ctx) })
	}
	return g.Wait()
}
