package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Store keeps index blobs by name. Write must be atomic: a reader sees
// the old or the new blob, never a mix, also after a crash.
type Store interface {
	Read(ctx context.Context, name string) ([]byte, error) // ErrNotFound if absent
	Write(ctx context.Context, name string, data []byte) error
	Remove(ctx context.Context, name string) error
	List(ctx context.Context) ([]string, error) // blob names
}

// Locker is an optional Store ability: a lock across processes, held
// around each read-modify-write (two `vimana store put` at once).
type Locker interface {
	Lock(ctx context.Context) (unlock func(), error error)
}

// DirStore is the local Store: one file per blob in Dir, written to a
// temporary file, fsynced, renamed and the directory fsynced; a leftover
// temporary file from a crash is ignored by List. Lock is flock(2) on
// Dir/.lock.
type DirStore struct{ Dir string }

var (
	_ Store  = (*DirStore)(nil)
	_ Locker = (*DirStore)(nil)
)

func (s *DirStore) path(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%w: blob name %q", ErrInvalid, name)
	}
	return filepath.Join(s.Dir, name), nil
}

// Read implements Store.
func (s *DirStore) Read(_ context.Context, name string) ([]byte, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// Write implements Store.
func (s *DirStore) Write(_ context.Context, name string, data []byte) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	return syncDir(s.Dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Remove implements Store.
func (s *DirStore) Remove(_ context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	return syncDir(s.Dir)
}

// List implements Store.
func (s *DirStore) List(_ context.Context) ([]string, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Lock implements Locker.
func (s *DirStore) Lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}
