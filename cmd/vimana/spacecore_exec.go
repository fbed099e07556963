package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/internal/api"
	"golang.org/x/term"
)

func newSCExecCmd() *cobra.Command {
	var interactive, tty bool
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] ID -- CMD [ARG...]",
		Short: "Run a command inside a running spacecore (-it for an interactive terminal)",
		Long: `Without -i or -t: one request; piped stdin (up to 4 MiB) is sent whole and
the output is printed when the command ends.

-i streams stdin to the command as it is typed or piped; -t gives the command
a terminal inside the spacecore (stderr is merged into stdout). With -t and a
terminal on stdin, the local terminal is put in raw mode (Ctrl-C, Ctrl-D go
to the command) and window size changes are forwarded. Both use the node
API's ExecStream (HTTP/2). vimana exits with the command's exit code.`,
		Example: `  vimana spacecore exec sc-1a2b -- /bin/tw echo hi
  vimana spacecore exec -it sc-1a2b -- /bin/sh`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if !interactive && !tty {
				return execOnce(cmd, c, args)
			}
			start := &vimanav1.ExecStart{Id: args[0], Args: args[1:], Tty: tty}
			o := api.ExecIO{Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
			if interactive {
				o.Stdin = cmd.InOrStdin()
			}
			fd := int(os.Stdin.Fd())
			if tty && term.IsTerminal(fd) {
				if w, h, err := term.GetSize(fd); err == nil {
					start.Size = &vimanav1.TerminalSize{Rows: uint32(h), Cols: uint32(w)}
				}
				old, err := term.MakeRaw(fd)
				if err != nil {
					return err
				}
				defer term.Restore(fd, old)
				o.Resize = forwardResizes(cmd, fd)
			}
			code, err := c.Exec(cmd.Context(), start, o)
			if err != nil {
				return apiErr(err)
			}
			if code != 0 {
				return exitCode(code)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "stream stdin to the command")
	cmd.Flags().BoolVarP(&tty, "tty", "t", false, "allocate a terminal in the spacecore")
	return cmd
}

// forwardResizes sends the terminal's size on every SIGWINCH until the
// command ends.
func forwardResizes(cmd *cobra.Command, fd int) <-chan *vimanav1.TerminalSize {
	out := make(chan *vimanav1.TerminalSize)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-winch:
				if w, h, err := term.GetSize(fd); err == nil {
					select {
					case out <- &vimanav1.TerminalSize{Rows: uint32(h), Cols: uint32(w)}:
					case <-cmd.Context().Done():
						return
					}
				}
			case <-cmd.Context().Done():
				return
			}
		}
	}()
	return out
}

// execOnce is the non-interactive exec: one unary request.
func execOnce(cmd *cobra.Command, c *api.Client, args []string) error {
	var stdin []byte
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice == 0 {
		stdin, _ = io.ReadAll(io.LimitReader(os.Stdin, 4<<20))
	}
	resp, err := c.Spacecores.Exec(cmd.Context(), connect.NewRequest(&vimanav1.ExecRequest{Id: args[0], Args: args[1:], Stdin: stdin}))
	if err != nil {
		return apiErr(err)
	}
	cmd.OutOrStdout().Write(resp.Msg.Stdout)
	cmd.ErrOrStderr().Write(resp.Msg.Stderr)
	if resp.Msg.ExitCode != 0 {
		return exitCode(resp.Msg.ExitCode)
	}
	return nil
}
