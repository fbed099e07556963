// Command tw is the test workload the hypercore conformance suite runs inside
// every provider: one static binary with small, predictable behaviours
// (exit codes, output, signals, limits, networking). It imports only the
// standard library so it builds with CGO_ENABLED=0 into any rootfs.
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tw exit|echo|sleep|ignore-term|http|dial|forkbomb|memhog|env|write|cat|pwd|id|tty ...")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "exit":
		os.Exit(atoi(arg(args, 0, "0")))
	case "echo":
		fmt.Println(strings.Join(args, " "))
		if len(args) > 0 {
			fmt.Fprintln(os.Stderr, "stderr:", strings.Join(args, " "))
		}
	case "sleep":
		// Exit 0 on SIGTERM so graceful stop is observable.
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("sleeping")
		<-c
		fmt.Println("got SIGTERM")
		os.Exit(0)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		for { // not select{}: the runtime would call that a deadlock
			time.Sleep(time.Hour)
		}
	case "http":
		port := arg(args, 0, "8080")
		fmt.Println("listening on", port)
		err := http.ListenAndServe(":"+port, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h, _ := os.Hostname()
			fmt.Fprintf(w, "ok %s\n", h)
		}))
		fail(err)
	case "dial":
		c, err := net.DialTimeout("tcp", arg(args, 0, ""), 2*time.Second)
		if err != nil {
			fmt.Println("dial failed:", err)
			os.Exit(1)
		}
		c.Close()
		fmt.Println("dial ok")
	case "forkbomb":
		forkbomb(atoi(arg(args, 0, "100000")))
	case "memhog":
		memhog(atoi(arg(args, 0, "1024")))
	case "env":
		env := os.Environ()
		sort.Strings(env)
		for _, e := range env {
			fmt.Println(e)
		}
	case "write":
		write(arg(args, 0, "/tmp/fill"), atoi(arg(args, 1, "1")))
	case "cat":
		b, err := os.ReadFile(arg(args, 0, ""))
		fail(err)
		os.Stdout.Write(b)
	case "pwd":
		wd, _ := os.Getwd()
		fmt.Println(wd)
	case "id":
		fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	case "tty":
		ttyLoop()
	default:
		fmt.Fprintln(os.Stderr, "tw: unknown command", os.Args[1])
		os.Exit(2)
	}
}

// forkbomb starts up to n sleeping children and reports how many it got;
// it exits 0 when a limit stopped it and 3 when it reached n.
func forkbomb(n int) {
	var procs []*os.Process
	for i := 0; i < n; i++ {
		cmd := exec.Command("/proc/self/exe", "sleep")
		if err := cmd.Start(); err != nil {
			fmt.Printf("forkbomb stopped after %d: %v\n", i, err)
			for _, p := range procs {
				p.Kill()
			}
			os.Exit(0)
		}
		procs = append(procs, cmd.Process)
	}
	fmt.Printf("forkbomb reached %d\n", n)
	os.Exit(3)
}

// memhog touches mib MiB of memory, one MiB at a time, and exits 0 if it
// survives.
func memhog(mib int) {
	var keep [][]byte
	for i := 0; i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	fmt.Printf("memhog holds %d MiB\n", len(keep))
}

// write fills path with mib MiB; it exits 1 with the error (e.g. ENOSPC).
func write(path string, mib int) {
	f, err := os.Create(path)
	fail(err)
	buf := make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		if _, err := f.Write(buf); err != nil {
			fmt.Printf("write failed after %d MiB: %v\n", i, err)
			os.Exit(1)
		}
	}
	fail(f.Sync())
	fail(f.Close())
	fmt.Printf("wrote %d MiB\n", mib)
}

func arg(a []string, i int, def string) string {
	if i < len(a) {
		return a[i]
	}
	return def
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	fail(err)
	return n
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "tw:", err)
		os.Exit(1)
	}
}

// ttyLoop is an interactive session: it reports whether stdin is a
// terminal and its size, "resized=RxC" on every SIGWINCH, answers each
// input line with "got: LINE", and exits N on "exit N" (0 on EOF).
func ttyLoop() {
	size := func() string {
		var ws [4]uint16 // struct winsize: rows, cols, xpixel, ypixel
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, 0, syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws))); e != 0 {
			return "none"
		}
		return fmt.Sprintf("%dx%d", ws[0], ws[1])
	}
	// Catch SIGWINCH before saying we are up: a test resizes as soon as it
	// reads the first line, and an uncaught SIGWINCH is ignored (lost).
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	fmt.Printf("tty=%v size=%s\n", size() != "none", size())
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- strings.TrimRight(sc.Text(), "\r")
		}
		close(lines)
	}()
	for {
		select {
		case <-winch:
			fmt.Printf("resized=%s\n", size())
		case l, ok := <-lines:
			if !ok {
				os.Exit(0)
			}
			if n, found := strings.CutPrefix(l, "exit "); found {
				os.Exit(atoi(n))
			}
			fmt.Printf("got: %s\n", l)
		}
	}
}
