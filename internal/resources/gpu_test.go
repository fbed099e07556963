package resources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseNvidiaSMI(t *testing.T) {
	tests := []struct {
		file    string
		want    []GPU
		wantErr bool
	}{
		{file: "two-gpus.csv", want: []GPU{
			{Vendor: "nvidia", Name: "NVIDIA A100-SXM4-40GB", UUID: "GPU-5e3f4e2a-1111-2222-3333-444455556666",
				MemoryBytes: 40960 << 20, PCIBus: "0000:07:00.0", Driver: "nvidia", DriverVersion: "535.104.05", Source: "nvidia-smi"},
			{Vendor: "nvidia", Name: "NVIDIA GeForce RTX 4090,Founders Edition", UUID: "GPU-0b1c2d3e-aaaa-bbbb-cccc-ddddeeeeffff",
				MemoryBytes: 24564 << 20, PCIBus: "0000:0a:00.0", Driver: "nvidia", DriverVersion: "535.104.05", Source: "nvidia-smi"},
		}},
		{file: "not-available.csv", want: []GPU{
			{Vendor: "nvidia", Name: "Tesla T4", PCIBus: "0000:00:1e.0", Driver: "nvidia", Source: "nvidia-smi"},
		}},
		{file: "truncated.csv", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseNvidiaSMI(readTestdata(t, filepath.Join("nvidia-smi", tt.file)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if got, err := parseNvidiaSMI(""); err != nil || len(got) != 0 {
		t.Errorf("empty output = %v, %v", got, err)
	}
}

func TestNormBus(t *testing.T) {
	for in, want := range map[string]string{
		"00000000:0A:00.0": "0000:0a:00.0",
		"0000:03:00.0":     "0000:03:00.0",
		" 0001:03:00.1\n":  "0001:03:00.1",
		"":                 "",
	} {
		if got := normBus(in); got != want {
			t.Errorf("normBus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDRMGPUs(t *testing.T) {
	got, err := drmGPUs(filepath.Join("testdata", "sys"))
	if err != nil {
		t.Fatal(err)
	}
	want := []GPU{
		{Vendor: "amd", Name: "amd device 0x73bf", MemoryBytes: 17163091968, PCIBus: "0000:03:00.0", Driver: "amdgpu", Source: "drm"},
		{Vendor: "nvidia", Name: "nvidia device 0x20b0", PCIBus: "0000:07:00.0", Driver: "nvidia", Source: "drm"},
		// card2 is virtio-gpu: a display adapter, left out.
		{Vendor: "intel", Name: "intel device 0x56a0", PCIBus: "0000:00:02.0", Driver: "i915", Source: "drm"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got, err := drmGPUs(t.TempDir()); !errors.Is(err, errAbsent) || len(got) != 0 {
		t.Errorf("no drm class = %v, %v; want nothing, absent", got, err)
	}
}

func TestDRMBusFromSymlink(t *testing.T) {
	sys := t.TempDir()
	pci := filepath.Join(sys, "devices", "pci0000:00", "0000:05:00.0")
	card := filepath.Join(sys, "class", "drm", "card0")
	for _, d := range []string{pci, card} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(pci, "vendor"), []byte("0x1002\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../devices/pci0000:00/0000:05:00.0", filepath.Join(card, "device")); err != nil {
		t.Fatal(err)
	}
	got, err := drmGPUs(sys)
	if err != nil || len(got) != 1 || got[0].PCIBus != "0000:05:00.0" {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// fakeNvidiaSMI writes a script that checks its arguments and then behaves
// like nvidia-smi: prints body on stdout, or stderr and an exit code.
func fakeNvidiaSMI(t *testing.T, body string, code int) string {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "out")
	if err := os.WriteFile(data, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
[ "$1" = "--query-gpu=` + nvidiaSMIQuery + `" ] && [ "$2" = "--format=csv,noheader,nounits" ] || { echo "bad args: $*" >&2; exit 2; }
`
	if code == 0 {
		script += "cat '" + data + "'\n"
	} else {
		script += "cat '" + data + "' >&2\nexit " + string(rune('0'+code)) + "\n"
	}
	path := filepath.Join(dir, "nvidia-smi")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDiscoverGPUs(t *testing.T) {
	sys := filepath.Join("testdata", "sys")
	failing := "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n"
	tests := []struct {
		name       string
		src        Sources
		wantSource []string // per GPU, in order
		wantWarn   string
		wantNotes  string // GPUSources, joined by "|"
	}{
		{name: "nvidia-smi and drm",
			src:        Sources{SysFS: sys, NvidiaSMI: fakeNvidiaSMI(t, readTestdata(t, "nvidia-smi/two-gpus.csv"), 0)},
			wantSource: []string{"drm/intel", "drm/amd", "nvidia-smi/nvidia", "nvidia-smi/nvidia"},
			wantNotes:  "nvml: skipped|nvidia-smi: 2 GPU(s)|drm: 3 GPU(s)"},
		{name: "nvidia-smi fails: drm still lists the card",
			src:        Sources{SysFS: sys, NvidiaSMI: fakeNvidiaSMI(t, failing, 9)},
			wantSource: []string{"drm/intel", "drm/amd", "drm/nvidia"},
			wantWarn:   "couldn't communicate with the NVIDIA driver",
			wantNotes:  "nvml: skipped|nvidia-smi: failed|drm: 3 GPU(s)"},
		{name: "no nvidia-smi installed",
			src:        Sources{SysFS: sys, NvidiaSMI: "/nonexistent/nvidia-smi"},
			wantSource: []string{"drm/intel", "drm/amd", "drm/nvidia"},
			wantNotes:  "nvml: skipped|nvidia-smi: absent: /nonexistent/nvidia-smi not found|drm: 3 GPU(s)"},
		{name: "nothing at all",
			src:        Sources{SysFS: "/nonexistent", NvidiaSMI: "-"},
			wantSource: nil,
			wantNotes:  "nvml: skipped|nvidia-smi: skipped|drm: absent: no /nonexistent/class/drm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.src.withDefaults()
			s.NoNVML = true
			gpus, notes, warns := s.discoverGPUs(context.Background())
			if got := strings.Join(notes, "|"); got != tt.wantNotes {
				t.Errorf("sources %q, want %q", got, tt.wantNotes)
			}
			var got []string
			for i, g := range gpus {
				if g.Index != i {
					t.Errorf("gpu %d has index %d", i, g.Index)
				}
				got = append(got, g.Source+"/"+g.Vendor)
			}
			if !reflect.DeepEqual(got, tt.wantSource) {
				t.Errorf("gpus %v, want %v", got, tt.wantSource)
			}
			joined := strings.Join(warns, "\n")
			if tt.wantWarn == "" && len(warns) > 0 || !strings.Contains(joined, tt.wantWarn) {
				t.Errorf("warnings %q, want %q", warns, tt.wantWarn)
			}
		})
	}
}

// TestNVMLDegrades runs the NVML path of this build (the stub without
// -tags nvml; the real bindings with it). Without an NVIDIA driver both
// must say "absent", which discovery does not report as a warning.
func TestNVMLDegrades(t *testing.T) {
	gpus, err := nvmlGPUs(context.Background())
	switch {
	case errors.Is(err, errAbsent):
	case err != nil:
		t.Logf("nvml present but failing here (becomes a warning): %v", err)
	default:
		t.Logf("nvml lists %d GPUs", len(gpus))
	}
}
