package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/vistara-labs/vimana/internal/hypercore/hostcgroup"
	"github.com/vistara-labs/vimana/internal/hypercore/machinefs"
	"golang.org/x/sys/unix"
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
	if err := p.teardown(id, m); err != nil {
		return fmt.Errorf("deleting sandbox %s: %w", id, err)
	}
	return nil
}

// teardown removes everything machine id holds, tolerating parts that were
// never made; Create uses it to roll back.
func (p *Provider) teardown(id string, m *meta) error {
	defer p.views.drop(id)
	var errs []error
	if c, err := libcontainer.Load(p.lcRoot(), id); err == nil {
		if s, _ := c.Status(); s != libcontainer.Stopped {
			_ = c.Signal(unix.SIGKILL)
			waitStopped(c)
		}
		if err := c.Destroy(); err != nil {
			errs = append(errs, err)
		}
	} else if !errors.Is(err, libcontainer.ErrNotExist) {
		errs = append(errs, err)
	}
	_ = os.RemoveAll(filepath.Join(p.lcRoot(), id)) // a start that failed half-way
	// libcontainer's Destroy leaves the per-id dirs on some v1
	// controllers when it races with the exiting init; sweep them.
	hostcgroup.Remove(p.opts.CgroupParent, id)
	if m != nil && m.Net != nil {
		if err := p.net.Unpublish(id, m.Net, m.Spec.Network.Egress, m.Ports); err != nil {
			errs = append(errs, err)
		}
		if err := p.net.Detach(id, m.Net); err != nil {
			errs = append(errs, err)
		}
	}
	dir := p.machineDir(id)
	if err := machinefs.Unmount(dir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if h := p.handle(id); h != nil {
		h.once.Do(func() { close(h.done) })
	}
	p.forget(id)
	return errors.Join(errs...)
}

func waitStopped(c *libcontainer.Container) {
	for i := 0; i < 200; i++ {
		if s, err := c.Status(); err != nil || s == libcontainer.Stopped {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
