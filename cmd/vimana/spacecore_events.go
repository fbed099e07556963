package main

import (
	"encoding/json"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/internal/api"
)

// eventLine is one event as `spacecore events -o json` prints it.
type eventLine struct {
	Time     string `json:"time"`
	Type     string `json:"type"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	Owner    string `json:"owner"`
	Phase    string `json:"phase"`
	Reason   string `json:"reason,omitempty"`
	ExitCode *int32 `json:"exit_code,omitempty"`
}

func newSCEventsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "events [ID]",
		Short: "Stream spacecore lifecycle events (created, started, exited, restarted, stopped, removed)",
		Long: `Streams lifecycle events from now until interrupted: every spacecore the
caller may see (all of them on the unix socket; the key's own with --api), or
only ID. -o json prints one JSON object per line (time, type, id, name, owner,
phase, reason, exit_code). "watching" on stderr means the stream is live.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			req := &vimanav1.WatchEventsRequest{}
			if len(args) == 1 {
				req.Id = args[0]
			}
			st, err := c.Spacecores.WatchEvents(cmd.Context(), connect.NewRequest(req))
			if err != nil {
				return apiErr(err)
			}
			defer st.Close()
			out := cmd.OutOrStdout()
			enc := json.NewEncoder(out)
			for st.Receive() {
				ev := st.Msg()
				if ev.Type == api.EventWatching {
					fmt.Fprintln(cmd.ErrOrStderr(), "watching (Ctrl-C stops)")
					continue
				}
				line := eventLine{Time: ev.Time, Type: ev.Type, ID: ev.Id, Name: ev.Name, Owner: ev.Owner, Phase: ev.Phase, Reason: ev.Reason}
				if ev.HasExit {
					line.ExitCode = &ev.ExitCode
				}
				if jsonOutput() {
					if err := enc.Encode(line); err != nil {
						return err
					}
					continue
				}
				at := ev.Time
				if t, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil {
					at = t.Local().Format("15:04:05.000")
				}
				fmt.Fprintf(out, "%s  %-9s  %s  %s  %s  %s\n", at, ev.Type, ev.Id, ev.Name, ev.Phase, ev.Reason)
			}
			if err := st.Err(); err != nil && cmd.Context().Err() == nil {
				return apiErr(err)
			}
			return nil
		},
	}
}
