package sandbox

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/vistara-labs/vimana/internal/hypercore"
	"github.com/vistara-labs/vimana/internal/hypercore/machinestate"
)

// viewCache keeps, per machine, the part of meta.json that State reports,
// keyed by the file's identity. meta.json is only ever replaced by rename,
// so a new inode (or size or mtime) means new content; an unchanged file
// costs one stat instead of reading and decoding the whole OCI spec.
type viewCache struct {
	mu sync.Mutex
	m  map[string]view
}

type view struct {
	ino, size, mtime int64
	st               hypercore.Status // State left unset
}

// status returns id's Status from meta.json without State set.
func (c *viewCache) status(p *Provider, id string) (hypercore.Status, error) {
	path := filepath.Join(p.machineDir(id), machinestate.File)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		c.drop(id)
		return hypercore.Status{}, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
	}
	if err != nil {
		return hypercore.Status{}, err
	}
	key := view{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		key.ino = int64(sys.Ino)
	}
	c.mu.Lock()
	v, ok := c.m[id]
	c.mu.Unlock()
	if !ok || v.ino != key.ino || v.size != key.size || v.mtime != key.mtime {
		m, err := p.loadMeta(id)
		if err != nil {
			return hypercore.Status{}, err
		}
		v = key
		v.st = hypercore.Status{ID: id, CreatedAt: m.CreatedAt, StartedAt: m.StartedAt, Ports: m.Ports, Labels: m.Spec.Labels, Exit: m.Exit}
		if m.Net != nil {
			v.st.IP = m.Net.IP
		}
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]view{}
		}
		c.m[id] = v
		c.mu.Unlock()
	}
	// Callers get their own copies of the reference fields.
	st := v.st
	st.Ports = slices.Clone(st.Ports)
	st.Labels = maps.Clone(st.Labels)
	if st.Exit != nil {
		ex := *st.Exit
		st.Exit = &ex
	}
	return st, nil
}

func (c *viewCache) drop(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
