package gvisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
	"github.com/vistara-labs/vimana/internal/hypercore/machinefs"
)

// Delete implements hypercore.Provider.
func (p *Provider) Delete(ctx context.Context, id string) error {
	m, err := p.loadMeta(id)
	if err != nil {
		return err
	}
	if err := p.Stop(ctx, id, 0); err != nil {
		return err
	}
	if err := p.teardown(ctx, id, m); err != nil {
		return fmt.Errorf("deleting gvisor machine %s: %w", id, err)
	}
	return nil
}

// teardown removes everything machine id holds, tolerating parts that were
// never made; Create uses it to roll back.
func (p *Provider) teardown(ctx context.Context, id string, m *meta) error {
	var errs []error
	// runsc run destroys its container when the workload ends; after a
	// crash (or a start that failed half-way) runsc may still know it.
	if m.RunscID != "" && p.status(ctx, m) != "" {
		_, _ = p.runsc(ctx, m, "kill", m.RunscID, "KILL")
		if _, err := p.runsc(ctx, m, "delete", "--force", m.RunscID); err != nil && p.status(ctx, m) != "" {
			errs = append(errs, err)
		}
	}
	if shimAlive(m) {
		_ = syscall.Kill(m.ShimPid, syscall.SIGKILL)
		for i := 0; i < 100 && shimAlive(m); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if m.RunscID != "" {
		// runsc leaves the sandbox's cgroup behind when a start fails.
		hostcgroup.Remove(p.opts.CgroupParent, m.RunscID)
	}
	if m.Net != nil {
		if err := p.net.Unpublish(id, m.Net, m.Spec.Network.Egress, m.Ports); err != nil {
			errs = append(errs, err)
		}
		if err := p.net.Detach(id, m.Net); err != nil {
			errs = append(errs, err)
		}
	}
	dir := p.machineDir(id)
	if err := removeNetNS(filepath.Join(dir, "netns")); err != nil {
		errs = append(errs, err)
	}
	if err := machinefs.Unmount(dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if h := p.handle(id); h != nil {
		h.once.Do(func() { close(h.done) })
	}
	p.forget(id)
	return errors.Join(errs...)
}
