package spacecore

import (
	"context"
	"errors"
	"sort"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// reconcile loads every record, deletes orphan machines and starts one
// runner per record; each runner then converges on its own: a machine
// running as desired is adopted, a missing or stopped one is restarted
// per policy (recreated if missing), a stop or delete cut short by a crash
// is finished.
func (s *Supervisor) reconcile(ctx context.Context) error {
	recs, err := s.store.load()
	if err != nil {
		return err
	}
	for i := range recs {
		s.cache(&recs[i])
	}
	s.sweepOrphans(ctx)
	for _, rec := range recs {
		p, err := s.provider(rec.Spec.Isolation)
		if err != nil {
			s.log.Warn("spacecore has no provider on this node", "spacecore", rec.ID, "err", err)
		}
		if _, err := s.startRunner(rec, p, false, true); err != nil {
			return err
		}
	}
	s.log.Info("spacecore supervisor open", "records", len(recs))
	return nil
}

// sweepOrphans deletes machines that carry this supervisor's label but
// have no record. Records are written before machines are created and
// deleted after machines are, so such a machine belongs to nobody.
// Machines without the label are not ours and are left alone.
func (s *Supervisor) sweepOrphans(ctx context.Context) {
	isos := make([]hypercore.Isolation, 0, len(s.opts.Providers))
	for iso := range s.opts.Providers {
		isos = append(isos, iso)
	}
	sort.Slice(isos, func(i, j int) bool { return isos[i] < isos[j] })
	for _, iso := range isos {
		p := s.opts.Providers[iso]
		ids, err := p.List(ctx)
		if err != nil {
			s.log.Warn("listing machines", "provider", p.Name(), "err", err)
			continue
		}
		for _, id := range ids {
			s.mu.Lock()
			_, known := s.records[id]
			s.mu.Unlock()
			if known {
				continue
			}
			st, err := p.State(ctx, id)
			if err != nil || st.Labels[LabelID] != id {
				continue
			}
			s.log.Warn("deleting orphan machine", "provider", p.Name(), "machine", id)
			if err := p.Delete(ctx, id); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
				s.log.Warn("deleting orphan machine", "machine", id, "err", err)
			}
		}
	}
}

// resync sweeps orphans and asks every runner to converge again, which
// catches anything a lost event missed.
func (s *Supervisor) resync(ctx context.Context) {
	s.sweepOrphans(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runners {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// settle makes every runner converge and waits for all of them (tests,
// and callers that want a consistent view right after Open).
func (s *Supervisor) settle(ctx context.Context) error {
	s.mu.Lock()
	rs := make([]*runner, 0, len(s.runners))
	for _, r := range s.runners {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	var errs []error
	for _, r := range rs {
		if err := r.call(ctx, op{kind: opConverge}); err != nil && !errors.Is(err, hypercore.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
