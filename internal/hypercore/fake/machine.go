package fake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

type machine struct {
	id      string
	spec    hypercore.MachineSpec
	created time.Time

	mu        sync.Mutex
	cond      *sync.Cond // signalled on log writes and exit
	state     hypercore.State
	started   time.Time
	exit      *hypercore.ExitStatus
	log       bytes.Buffer
	ports     []hypercore.Port
	listeners []net.Listener

	done       chan struct{}
	term, kill chan struct{}
	sigOnce    sync.Map // chan -> *sync.Once
}

func (m *machine) signal(c chan struct{}) {
	o, _ := m.sigOnce.LoadOrStore(c, &sync.Once{})
	o.(*sync.Once).Do(func() { close(c) })
}

func (m *machine) closeListeners() {
	m.mu.Lock()
	ls := m.listeners
	m.listeners = nil
	m.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

func (m *machine) write(s string) {
	m.mu.Lock()
	m.log.WriteString(s)
	m.mu.Unlock()
	m.cond.Broadcast()
}

func (m *machine) finish(code, sig int) {
	m.mu.Lock()
	m.state = hypercore.StateStopped
	m.exit = &hypercore.ExitStatus{Code: code, Signal: sig, At: time.Now()}
	m.mu.Unlock()
	close(m.done)
	m.cond.Broadcast()
}

// run interprets the tw workload.
func (m *machine) run() {
	code, sig := m.interpret(m.spec.Process.Args[1:], m.term, m.kill, m.write, m.write)
	m.finish(code, sig)
}

func (m *machine) interpret(args []string, term, kill <-chan struct{}, out, errOut func(string)) (code, sig int) {
	if len(args) == 0 {
		out("usage: tw ...\n")
		return 2, 0
	}
	killed := func() (int, int) { return 137, 9 }
	switch args[0] {
	case "exit":
		n := 0
		if len(args) > 1 {
			n, _ = strconv.Atoi(args[1])
		}
		return n, 0
	case "echo":
		s := strings.Join(args[1:], " ")
		out(s + "\n")
		if s != "" {
			errOut("stderr: " + s + "\n")
		}
		return 0, 0
	case "sleep":
		out("sleeping\n")
		select {
		case <-term:
			out("got SIGTERM\n")
			return 0, 0
		case <-kill:
			return killed()
		}
	case "ignore-term":
		out("ignoring SIGTERM\n")
		<-kill
		return killed()
	case "http":
		out("listening on " + strings.Join(args[1:], " ") + "\n")
		m.serve()
		select {
		case <-term:
			return 143, 15
		case <-kill:
			return killed()
		}
	case "env":
		env := append([]string(nil), m.spec.Process.Env...)
		sort.Strings(env)
		out(strings.Join(env, "\n") + "\n")
		return 0, 0
	case "pwd":
		cwd := m.spec.Process.Cwd
		if cwd == "" {
			cwd = "/"
		}
		out(cwd + "\n")
		return 0, 0
	case "cat":
		return 1, 0 // replaced by Exec's stdin handling
	}
	out("tw: unknown command " + args[0] + "\n")
	return 2, 0
}

func (m *machine) serve() {
	m.mu.Lock()
	ls := m.listeners
	m.mu.Unlock()
	for _, l := range ls {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "ok %s\n", m.spec.Name)
		})}
		go srv.Serve(l)
		go func() {
			<-m.done
			srv.Close()
		}()
	}
}

// reader returns the log from the start; with follow it blocks for more
// until the machine has stopped and the log is drained, or ctx ends.
func (m *machine) reader(ctx context.Context, follow bool) io.ReadCloser {
	pr, pw := io.Pipe()
	stop := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		m.mu.Unlock()
		m.cond.Broadcast()
	})
	go func() {
		defer stop()
		off := 0
		for {
			m.mu.Lock()
			for follow && off == m.log.Len() && m.exit == nil && ctx.Err() == nil {
				m.cond.Wait()
			}
			chunk := append([]byte(nil), m.log.Bytes()[off:]...)
			exited := m.exit != nil
			m.mu.Unlock()
			off += len(chunk)
			if len(chunk) > 0 {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			if !follow || ctx.Err() != nil || (exited && len(chunk) == 0) {
				pw.Close()
				return
			}
		}
	}()
	return pr
}
