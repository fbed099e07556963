package image

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

func TestConfigProcess(t *testing.T) {
	t.Parallel()
	base := Config{Entrypoint: []string{"/app"}, Cmd: []string{"serve"}, Env: []string{"A=1", "B=2"}, WorkingDir: "/srv", User: "1000"}
	env := []string{"A=1", "B=2"}
	cases := []struct {
		name string
		c    Config
		o    Override
		want hypercore.Process
		err  bool
	}{
		{"image as is", base, Override{}, hypercore.Process{Args: []string{"/app", "serve"}, Env: env, Cwd: "/srv", User: "1000"}, false},
		{"args replace cmd", base, Override{Args: []string{"run", "-v"}}, hypercore.Process{Args: []string{"/app", "run", "-v"}, Env: env, Cwd: "/srv", User: "1000"}, false},
		{"command clears cmd", base, Override{Command: []string{"/bin/sh"}}, hypercore.Process{Args: []string{"/bin/sh"}, Env: env, Cwd: "/srv", User: "1000"}, false},
		{"command and args", base, Override{Command: []string{"/x"}, Args: []string{"y"}}, hypercore.Process{Args: []string{"/x", "y"}, Env: env, Cwd: "/srv", User: "1000"}, false},
		{"env merge, workdir, user", base, Override{Env: []string{"B=3", "C=4"}, Workdir: "/w", User: "0:0"}, hypercore.Process{Args: []string{"/app", "serve"}, Env: []string{"A=1", "B=3", "C=4"}, Cwd: "/w", User: "0:0"}, false},
		{"cmd only image", Config{Cmd: []string{"/bin/app", "-x"}}, Override{}, hypercore.Process{Args: []string{"/bin/app", "-x"}, Env: []string{}}, false},
		{"args without entrypoint", Config{Cmd: []string{"/bin/app"}}, Override{Args: []string{"/bin/other"}}, hypercore.Process{Args: []string{"/bin/other"}, Env: []string{}}, false},
		{"root by name", base, Override{User: "root"}, hypercore.Process{Args: []string{"/app", "serve"}, Env: env, Cwd: "/srv", User: "0:0"}, false},
		{"named user", base, Override{User: "www"}, hypercore.Process{}, true},
		{"bad user", base, Override{User: "1:2:3"}, hypercore.Process{}, true},
		{"nothing to run", Config{Env: env}, Override{}, hypercore.Process{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Process(tc.o)
			if tc.err {
				if !errors.Is(err, hypercore.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestImageProcessResolvesNames(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	root := filepath.Join(parent, "rootfs")
	os.MkdirAll(filepath.Join(parent, "outside"), 0o755)
	os.WriteFile(filepath.Join(parent, "outside/passwd"), []byte("www:x:99:99::/:/bin/false\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/bin/sh\nwww:x:33:34::/:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nstaff:x:50:\n"), 0o644)
	img := &Image{RootFS: root, Config: Config{Entrypoint: []string{"/app"}, User: "www"}}
	for user, want := range map[string]string{"": "33:34", "www:staff": "33:50", "7": "7", "7:staff": "7:50", "root": "0:0"} {
		p, err := img.Process(Override{User: user})
		if err != nil || p.User != want {
			t.Errorf("user %q: got %q, %v; want %q", user, p.User, err, want)
		}
	}
	if _, err := img.Process(Override{User: "ghost"}); !errors.Is(err, hypercore.ErrInvalid) {
		t.Errorf("unknown user: %v", err)
	}
	// An /etc/passwd symlink climbing out of the rootfs is resolved
	// inside it (and finds nothing there).
	os.Remove(filepath.Join(root, "etc/passwd"))
	os.Symlink("../../outside/passwd", filepath.Join(root, "etc/passwd"))
	if p, err := img.Process(Override{}); !errors.Is(err, hypercore.ErrInvalid) {
		t.Errorf("www with passwd pointing outside: %+v, %v; want ErrInvalid", p, err)
	}
}
