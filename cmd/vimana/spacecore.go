package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	vimanav1 "github.com/vistara-labs/vimana/api/vimana/v1"
	"github.com/vistara-labs/vimana/internal/api"
	"github.com/vistara-labs/vimana/internal/node"
)

var apiURL string

// client connects to the local node: the unix socket by default, or the
// TCP API (signed with the node key) when --api is given.
func client() (*api.Client, error) {
	if apiURL == "" {
		sock := filepath.Join(g.home, "vimana.sock")
		if _, err := os.Stat(sock); err != nil {
			return nil, fmt.Errorf("no node running with home %s (no %s): start one with `vimana node start`", g.home, sock)
		}
		return api.DialUnix(sock), nil
	}
	key, err := node.NodePrivateKey(g.home)
	if err != nil {
		return nil, err
	}
	return api.DialTCP(apiURL, key), nil
}

// apiErr turns connect errors into one readable line.
func apiErr(err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return fmt.Errorf("%s: %s", ce.Code(), ce.Message())
	}
	return err
}

func newSpacecoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "spacecore",
		Aliases: []string{"sc"},
		Short:   "Run and manage spacecores on the local node (a client of the node API)",
	}
	cmd.PersistentFlags().StringVar(&apiURL, "api", "", "node API URL (default: the unix socket in --home)")
	cmd.AddCommand(newSCRunCmd(), newSCLsCmd(), newSCInspectCmd(), newSCLogsCmd(), newSCStopCmd(), newSCStartCmd(), newSCRmCmd(), newSCStatsCmd(), newSCExecCmd(), newSCEventsCmd())
	return cmd
}

func newSCRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run FILE",
		Short: "Start the spacecore in FILE on the node; prints its id and gateway URL",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			body, err := os.ReadFile(abs)
			if err != nil {
				return err
			}
			c, err := client()
			if err != nil {
				return err
			}
			resp, err := c.Spacecores.Run(cmd.Context(), connect.NewRequest(&vimanav1.RunRequest{HacToml: string(body), Filename: abs}))
			if err != nil {
				return apiErr(err)
			}
			sc := resp.Msg.Spacecore
			if jsonOutput() {
				url := ""
				if len(sc.Urls) > 0 {
					url = sc.Urls[len(sc.Urls)-1]
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{"id": sc.Id, "url": url, "urls": sc.Urls, "phase": sc.Phase})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", sc.Id, sc.Phase)
			for _, u := range sc.Urls {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", u)
			}
			return nil
		},
	}
}

func newSCLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List spacecores",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			resp, err := c.Spacecores.List(cmd.Context(), connect.NewRequest(&vimanav1.ListRequest{}))
			if err != nil {
				return apiErr(err)
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), resp.Msg.Spacecores)
			}
			var rows [][]string
			for _, s := range resp.Msg.Spacecores {
				var ports []string
				for _, p := range s.Ports {
					ports = append(ports, fmt.Sprintf("%d->%d/%s", p.HostPort, p.Port, p.Protocol))
				}
				rows = append(rows, []string{s.Id, s.Name, s.Phase, fmt.Sprint(s.Restarts), strings.Join(ports, ","), s.CreatedAt})
			}
			return printTable(cmd.OutOrStdout(), []string{"ID", "NAME", "PHASE", "RESTARTS", "PORTS", "CREATED"}, rows)
		},
	}
}

func newSCInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect ID",
		Short: "Show one spacecore (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			resp, err := c.Spacecores.Get(cmd.Context(), connect.NewRequest(&vimanav1.GetRequest{Id: args[0]}))
			if err != nil {
				return apiErr(err)
			}
			return printJSON(cmd.OutOrStdout(), resp.Msg.Spacecore)
		},
	}
}

func newSCLogsCmd() *cobra.Command {
	var follow bool
	var tail int
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a spacecore's logs (-f follows)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			return printLogs(cmd, c, args[0], follow, tail)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming")
	cmd.Flags().IntVar(&tail, "tail", 0, "only the last N lines")
	return cmd
}

// printLogs streams a spacecore's logs from c to stdout.
func printLogs(cmd *cobra.Command, c *api.Client, id string, follow bool, tail int) error {
	stream, err := c.Spacecores.Logs(cmd.Context(), connect.NewRequest(&vimanav1.LogsRequest{Id: id, Follow: follow, Tail: int32(tail)}))
	if err != nil {
		return apiErr(err)
	}
	defer stream.Close()
	for stream.Receive() {
		cmd.OutOrStdout().Write(stream.Msg().Data)
	}
	if err := stream.Err(); err != nil && !errors.Is(err, io.EOF) && cmd.Context().Err() == nil {
		return apiErr(err)
	}
	return nil
}

func idCmd(use, short string, run func(cmd *cobra.Command, c *api.Client, id string) error) *cobra.Command {
	return &cobra.Command{
		Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := run(cmd, c, args[0]); err != nil {
				return apiErr(err)
			}
			return nil
		},
	}
}

func newSCStopCmd() *cobra.Command {
	var grace int
	cmd := idCmd("stop", "Stop a spacecore (SIGTERM, then SIGKILL after --grace)", func(cmd *cobra.Command, c *api.Client, id string) error {
		_, err := c.Spacecores.Stop(cmd.Context(), connect.NewRequest(&vimanav1.StopRequest{Id: id, GraceSeconds: int32(grace)}))
		return err
	})
	cmd.Flags().IntVar(&grace, "grace", 10, "seconds between SIGTERM and SIGKILL")
	return cmd
}

func newSCStartCmd() *cobra.Command {
	return idCmd("start", "Start a stopped spacecore", func(cmd *cobra.Command, c *api.Client, id string) error {
		_, err := c.Spacecores.Start(cmd.Context(), connect.NewRequest(&vimanav1.StartRequest{Id: id}))
		return err
	})
}

func newSCRmCmd() *cobra.Command {
	return idCmd("rm", "Stop and remove a spacecore and everything it holds", func(cmd *cobra.Command, c *api.Client, id string) error {
		_, err := c.Spacecores.Remove(cmd.Context(), connect.NewRequest(&vimanav1.RemoveRequest{Id: id}))
		return err
	})
}

func newSCStatsCmd() *cobra.Command {
	return idCmd("stats", "Show cpu, memory, pids, network and disk usage", func(cmd *cobra.Command, c *api.Client, id string) error {
		resp, err := c.Spacecores.Stats(cmd.Context(), connect.NewRequest(&vimanav1.StatsRequest{Id: id}))
		if err != nil {
			return err
		}
		m := resp.Msg
		if jsonOutput() {
			return printJSON(cmd.OutOrStdout(), m)
		}
		return printTable(cmd.OutOrStdout(), []string{"CPU(ms)", "MEMORY", "LIMIT", "PIDS", "RX", "TX", "DISK"}, [][]string{{
			fmt.Sprint(m.CpuUsageNs / 1e6), mibU(m.MemoryBytes), mibU(m.MemoryLimit), fmt.Sprint(m.Pids), mibU(m.NetRxBytes), mibU(m.NetTxBytes), mibU(m.DiskBytes)}})
	})
}

func mibU(b uint64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }
