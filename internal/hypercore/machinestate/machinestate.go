// Package machinestate is the metadata file every provider keeps per
// machine (machines/<id>/meta.json): written atomically, read back after a
// daemon restart, listed to find the machines a provider owns. The
// providers (sandbox, gvisor, microvm) each define what goes in it.
package machinestate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// File is the metadata file's name inside a machine's directory.
const File = "meta.json"

// Save writes v as JSON to dir/meta.json atomically: a unique temporary
// file (concurrent writers, e.g. an exit being recorded while a start is
// saved, never share one), then a rename over the old file.
func Save(dir string, v any) error {
	b, err := json.Marshal(v) // no indent: an OCI spec makes this hot on every start
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+File+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, File))
}

// Load reads machine id's dir/meta.json into a new T. A missing file is
// hypercore.ErrNotFound; undecodable content says so.
func Load[T any](dir, id string) (*T, error) {
	b, err := os.ReadFile(filepath.Join(dir, File))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("machine %s: %w", id, hypercore.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("machine %s: corrupt %s: %w", id, File, err)
	}
	return &v, nil
}

// List returns, sorted, the names of the directories under machines that
// hold a meta.json (a directory without one is a create in progress or
// rolled back).
func List(machines string) ([]string, error) {
	ents, err := os.ReadDir(machines)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(machines, e.Name(), File)); err == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}
