package hac

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

const head = "[spacecore]\nname = \"x\"\n[image]\nref = \"a/b:c\"\n" // 4 lines

// TestParseErrors pins exact messages and positions for single problems.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"value column", head + "[hardware]\nmemory = \"1MB\"\n",
			"hac.toml:6:10: hardware.memory: 1000000 bytes is less than the minimum of 4MiB"},
		{"unknown key column", head + "[hardware]\n  memroy = \"1GB\"\n",
			`hac.toml:6:3: hardware.memroy: unknown key; did you mean "memory"?`},
		{"unknown top-level", head + "[netwrk]\negress = true\n",
			`hac.toml:5:2: netwrk: unknown key; did you mean "network"?`},
		{"unknown without suggestion", head + "[hardware]\nflux = 1\n",
			"hac.toml:6:1: hardware.flux: unknown key (known: cores, memory, disk, pids, bandwidth, isolation, gpu)"},
		{"dotted key", "hardware.cores = 500\n" + head,
			"hac.toml:1:18: hardware.cores: 500 cores is more than the limit of 256"},
		{"array value", head + "[image]\n", "hac.toml:5:2: image: table image already exists"},
		{"inline table value", head + "[network]\nports = [{ port = 1 }, { port = 0 }]\n",
			"hac.toml:6:33: network.ports[1].port: 0 is outside 1-65535"},
		{"array of tables", head + "[[network.ports]]\nport = 80\n[[network.ports]]\nport = 80\nprotocol = \"udp\"\nhost_port = 99999\n",
			"hac.toml:10:13: network.ports[1].host_port: 99999 is outside 1-65535"},
		{"host port reuse across protocols is fine, same protocol is not", head + "[network]\nports = [{ port = 1, host_port = 5 }, { port = 2, host_port = 5, protocol = \"udp\" }, { port = 3, host_port = 5 }]\n",
			"hac.toml:6:110: network.ports[2].host_port: host port 5/tcp is used twice"},
		{"env at the top", "env = { A = \"1\" }\n" + head, "hac.toml:1:1: env: unknown key (known: spacecore, image, hardware, network, volumes, deploy, secrets)"},
		{"env value type", strings.Replace(head, "[image]\n", "[image]\nenv = { A = 1 }\n", 1),
			"hac.toml:4:13: image.env.A: want string, got integer"},
		{"secret also in env", strings.Replace(head, "[image]\n", "[image]\nenv = { TOKEN = \"x\" }\n", 1) + "[secrets]\nnames = [\"TOKEN\"]\n",
			`hac.toml:7:10: secrets.names[0]: "TOKEN" is also set in image.env; a secret's value must not be in the file`},
		{"volume names", head + "[[volumes]]\nname = \"a\"\npath = \"/a\"\n[[volumes]]\nname = \"a\"\npath = \"/a/\"\n",
			"hac.toml:9:8: volumes[1].name: volume \"a\" is defined twice\nhac.toml:10:8: volumes[1].path: \"/a/\" is mounted twice"},
		{"pids", head + "[hardware]\npids = 4\n", "hac.toml:6:8: hardware.pids: 4 is outside 8-1048576"},
		{"gpu count", head + "[hardware.gpu]\ncount = 17\nvendor = \"nvida\"\n",
			"hac.toml:6:9: hardware.gpu.count: 17 is outside 0-16\nhac.toml:7:10: hardware.gpu.vendor: \"nvida\" is not one of nvidia, amd, intel; did you mean \"nvidia\"?"},
		{"bad ref path", strings.Replace(head, "a/b:c", "./image", 1),
			`hac.toml:4:7: image.ref: "./image" looks like a path; write oci-layout:./image for an OCI layout directory or docker-archive:./image for a docker save tarball`},
		{"syntax", "[spacecore\n", "hac.toml:1:11: expected ']' to close table name"},
		{"empty file", "", "hac.toml:1:1: spacecore.name: missing; add [spacecore] name = \"hello\"\n" +
			`hac.toml:1:1: image.ref: missing; add [image] ref = "oci-layout:DIR:TAG" or a registry reference like "registry.example/app:1.0"`},
		{"legacy value names the legacy key", "[spacecore]\nname = \"x\"\ncontainer_image = \"a/b\"\n[resources]\nmemory = 1.5\n",
			"hac.toml:5:10: resources.memory: want a size like \"512MB\" or an integer number of bytes, got float"},
		{"legacy and canonical together", head + "[hardware]\nref = \"a/b:d\"\n",
			"hac.toml:6:1: hardware.ref: both hardware.ref and the canonical image.ref are set; keep only image.ref"},
		{"commands not a table", "commands = \"run\"\n[spacecore]\nname = \"x\"\ncontainer_image = \"a/b\"\n",
			"hac.toml:1:12: commands: want table, got string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error; want %s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestErrorTypes(t *testing.T) {
	_, _, err := Parse("dir/hac.toml", []byte(head+"[hardware]\nmemory = \"1MB\"\ncores = 0\n"))
	if !errors.Is(err, hypercore.ErrInvalid) {
		t.Fatalf("not ErrInvalid: %v", err)
	}
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("want Errors with 2 entries, got %#v", err)
	}
	var first *Error
	if !errors.As(err, &first) {
		t.Fatal("errors.As(*Error) failed")
	}
	want := Error{File: "dir/hac.toml", Line: 6, Col: 10, Key: "hardware.memory", Msg: "1000000 bytes is less than the minimum of 4MiB"}
	if *es[1] != want && *es[0] != want {
		t.Errorf("errors = %+v %+v, want one of them %+v", *es[0], *es[1], want)
	}
	_, _, err = ParseFile(filepath.Join(t.TempDir(), "missing.toml"))
	if !errors.Is(err, hypercore.ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v (want ErrInvalid and ErrNotExist)", err)
	}
	_, _, err = Parse("big.toml", make([]byte, MaxFileSize+1))
	if !errors.Is(err, hypercore.ErrInvalid) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestWarnings(t *testing.T) {
	_, warns, err := Parse("/srv/My App/hac.toml", []byte("[hardware]\ncores = 1\nmemory = 64\nkernel = \"vmlinux\"\nref = \"a/b:1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		`/srv/My App/hac.toml:3:1: hardware.memory: hypercore dialect: an integer is MB here; write hardware.memory = "64MiB"`,
		`/srv/My App/hac.toml:4:1: hardware.kernel: hypercore dialect: ignored; the provider picks the guest kernel, root drive and network device (see hardware.isolation)`,
		`/srv/My App/hac.toml:4:1: hardware.kernel: no spacecore.name in this legacy file; using "my-app" (write [spacecore] name = "my-app")`,
		`/srv/My App/hac.toml:5:1: hardware.ref: legacy key; write image.ref instead`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDialectMappings(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		check    func(*Spec) bool
	}{
		{"start split on blanks", "[spacecore]\nname = \"a\"\ncontainer_image = \"a/b\"\n[commands]\nstart = \"/app  -v serve\"\n",
			func(s *Spec) bool { return strings.Join(s.Image.Command, "|") == "/app|-v|serve" }},
		{"start with shell syntax", "[spacecore]\nname = \"a\"\ncontainer_image = \"a/b\"\n[commands]\nstart = \"app && echo done\"\n",
			func(s *Spec) bool { return strings.Join(s.Image.Command, "|") == "/bin/sh|-c|app && echo done" }},
		{"start as array", "[spacecore]\nname = \"a\"\ncontainer_image = \"a/b\"\n[commands]\nstart = [\"/app\", \"a b\"]\n",
			func(s *Spec) bool { return strings.Join(s.Image.Command, "|") == "/app|a b" }},
		{"backend firecracker", "[spacecore]\nname = \"a\"\ncontainer_image = \"a/b\"\nbackend = \"firecracker\"\n",
			func(s *Spec) bool { return s.Hardware.Isolation == "microvm" }},
		{"backend runsc", "[spacecore]\nname = \"a\"\ncontainer_image = \"a/b\"\nbackend = \"runsc\"\n",
			func(s *Spec) bool { return s.Hardware.Isolation == "gvisor" }},
		{"vimana dialect keeps canonical sections", "[spacecore]\nname = \"a\"\ncontainer_image = \"a/b\"\n[network]\negress = false\n",
			func(s *Spec) bool { return !s.Network.Egress && s.Image.Ref == "a/b" }},
		{"hypercore memory string", "[spacecore]\nname = \"a\"\n[hardware]\nmemory = \"1GiB\"\ndrive = \"x\"\n[image]\nref = \"a/b\"\n",
			func(s *Spec) bool { return s.Hardware.Memory == 1<<30 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := Parse("", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				b, _ := json.Marshal(s)
				t.Errorf("unexpected spec %s", b)
			}
		})
	}
}

func TestRefResolution(t *testing.T) {
	for _, tc := range []struct{ file, ref, want string }{
		{"/a/b/hac.toml", "oci-layout:image:latest", "oci-layout:/a/b/image:latest"},
		{"/a/b/hac.toml", "oci-layout:image", "oci-layout:/a/b/image"},
		{"/a/b/hac.toml", "oci-layout:../img:v1", "oci-layout:/a/img:v1"},
		{"/a/b/hac.toml", "oci-layout:/abs/img:v1", "oci-layout:/abs/img:v1"},
		{"/a/b/hac.toml", "docker-archive:app.tar", "docker-archive:/a/b/app.tar"},
		{"/a/b/hac.toml", "127.0.0.1:5000/hello:latest", "127.0.0.1:5000/hello:latest"},
	} {
		s, _, err := Parse(tc.file, []byte("[spacecore]\nname = \"x\"\n[image]\nref = \""+tc.ref+"\"\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if s.Image.Ref != tc.want {
			t.Errorf("%s resolved to %s, want %s", tc.ref, s.Image.Ref, tc.want)
		}
	}
}

func TestMachineSpec(t *testing.T) {
	s, _, err := Parse("", []byte(head+"[hardware]\ncores = \"1.5\"\nisolation = \"gvisor\"\n[hardware.gpu]\ncount = 2\n"+
		"[[volumes]]\nname = \"data\"\npath = \"/data\"\nsize = \"1GiB\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ms := s.MachineSpec()
	switch {
	case ms.Resources != hypercore.Resources{MilliCPU: 1500, MemoryBytes: DefaultMemory, DiskBytes: DefaultDisk, Pids: DefaultPids, GPUs: 2}:
		t.Errorf("resources = %+v", ms.Resources)
	case ms.Isolation != hypercore.Isolation("gvisor") || !ms.Network.Egress:
		t.Errorf("isolation %q egress %v", ms.Isolation, ms.Network.Egress)
	case len(ms.Process.Args) != 0 || ms.RootFS != "":
		t.Errorf("process/rootfs must be left to the image layer: %+v %q", ms.Process, ms.RootFS)
	case len(ms.Volumes) != 1 || ms.Volumes[0] != (hypercore.Volume{Name: "data", Path: "/data"}):
		t.Errorf("volumes = %+v", ms.Volumes)
	case ms.Labels["vimana.name"] != "x":
		t.Errorf("labels = %v", ms.Labels)
	}
}
