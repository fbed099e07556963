package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vistara-labs/vimana/internal/resources"
)

func newHardwareCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hardware",
		Short: "Show this machine's hardware, capacity and isolation levels",
		Long: `hardware discovers this machine's CPU, memory, disks, network interfaces and
GPUs, says what capacity it can offer to spacecores, and probes every isolation
level (sandbox, gvisor, microvm, firecracker): which ones this node really offers and why the
others are missing. It works offline, without a running node. The probes keep
their state under --home/hypercore. See docs/hardware.md for the JSON keys.`,
		Example: `  vimana hardware
  vimana hardware -o json | jq .isolation`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			hw, err := discoverHardware(cmd.Context(), g.home)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return printJSON(cmd.OutOrStdout(), hw)
			}
			return printHardware(cmd.OutOrStdout(), hw)
		},
	}
}

// hardwareReport is `vimana hardware -o json`: the discovery report's keys
// at the top level, plus capacity and isolation.
type hardwareReport struct {
	resources.Report
	// Capacity is the raw hardware capacity.
	Capacity resources.Capacity `json:"capacity"`
	// Offered is what a node with the default policy offers; null when the
	// default policy does not fit this machine.
	Offered   *resources.Capacity        `json:"offered"`
	Policy    resources.Policy           `json:"policy"`
	Isolation []resources.IsolationLevel `json:"isolation"`
}

func discoverHardware(ctx context.Context, home string) (hardwareReport, error) {
	rep, err := resources.Sources{DataDir: home}.Discover(ctx)
	if err != nil {
		return hardwareReport{}, err
	}
	hw := hardwareReport{Report: rep, Capacity: rep.Capacity(), Policy: resources.DefaultPolicy()}
	if l, err := resources.NewLedger(hw.Capacity, hw.Policy); err == nil {
		off := l.Offered()
		hw.Offered = &off
	} else {
		hw.Warnings = append(hw.Warnings, "capacity: "+err.Error())
	}
	hw.Isolation = resources.Isolation(ctx, filepath.Join(home, "hypercore"))
	return hw, nil
}

func printHardware(w io.Writer, hw hardwareReport) error {
	c := hw.CPU
	rows := [][]string{
		{"host", fmt.Sprintf("%s (%s %s, kernel %s)", hw.Host.Hostname, hw.Host.Platform, hw.Host.PlatformVersion, hw.Host.KernelVersion)},
		{"cpu", fmt.Sprintf("%s, %s, %d socket(s), %d cores, %d threads, %.0f MHz", c.Model, c.Arch, c.Sockets, c.PhysicalCores, c.LogicalCores, c.MHz)},
		{"cpu flags", orNone(strings.Join(c.Flags, " "))},
		{"memory", fmt.Sprintf("%s total, %s available, %s swap", bytesU(hw.Memory.TotalBytes), bytesU(hw.Memory.AvailableBytes), orNo(hw.Memory.SwapTotalBytes))},
		{"virtualization", virtSummary(hw.Virtualization)},
		{"", hw.Virtualization.Note},
		{"capacity", capacitySummary(hw.Capacity)},
	}
	if hw.Offered != nil {
		rows = append(rows, []string{"offered", capacitySummary(*hw.Offered) + " (default policy: " +
			resources.FormatMilliCPU(hw.Policy.Reserved.MilliCPU) + " and " + resources.FormatBytes(hw.Policy.Reserved.MemoryBytes) + " held for the host)"})
	}
	sections := []func() error{
		func() error { return printTable(w, []string{"RESOURCE", "DETAILS"}, rows) },
		func() error {
			return printTable(w, []string{"MOUNT", "DEVICE", "FS", "SIZE", "FREE", "DATA"}, diskRows(hw.Disks))
		},
		func() error {
			return printTable(w, []string{"NIC", "MAC", "UP", "SPEED", "ADDRESSES"}, nicRows(hw.NICs))
		},
		func() error { return printGPUs(w, hw.GPUs, hw.GPUSources) },
		func() error {
			return printTable(w, []string{"ISOLATION", "AVAILABLE", "REASON"}, isolationRows(hw.Isolation))
		},
	}
	if len(hw.Warnings) > 0 {
		sections = append(sections, func() error {
			var wr [][]string
			for _, s := range hw.Warnings {
				wr = append(wr, []string{s})
			}
			return printTable(w, []string{"WARNINGS"}, wr)
		})
	}
	for i, s := range sections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func virtSummary(v resources.Virtualization) string {
	var parts []string
	if v.KVMDevice {
		parts = append(parts, "/dev/kvm present")
	} else {
		parts = append(parts, "no /dev/kvm")
	}
	if v.HWExtension != "" {
		parts = append(parts, "cpu has "+v.HWExtension)
	} else {
		parts = append(parts, "no vmx/svm")
	}
	if v.Guest {
		parts = append(parts, "this machine is a VM")
	}
	if v.System != "" {
		parts = append(parts, "inside "+v.System)
	}
	return strings.Join(parts, ", ")
}

func capacitySummary(c resources.Capacity) string {
	return fmt.Sprintf("%s, %s memory, %s disk, %d GPU(s)", resources.FormatMilliCPU(c.MilliCPU),
		resources.FormatBytes(c.MemoryBytes), resources.FormatBytes(c.DiskBytes), c.GPUs)
}

func diskRows(disks []resources.Disk) [][]string {
	var rows [][]string
	for _, d := range disks {
		rows = append(rows, []string{d.Mount, d.Device, d.FSType, bytesU(d.TotalBytes), bytesU(d.FreeBytes), yesNo(d.Data)})
	}
	return rows
}

func nicRows(nics []resources.NIC) [][]string {
	var rows [][]string
	for _, n := range nics {
		speed := "-"
		if n.SpeedMbps > 0 {
			speed = strconv.Itoa(n.SpeedMbps) + " Mb/s"
		}
		rows = append(rows, []string{n.Name, orNone(n.MAC), yesNo(n.Up), speed, orNone(strings.Join(n.Addrs, " "))})
	}
	return rows
}

func printGPUs(w io.Writer, gpus []resources.GPU, sources []string) error {
	if len(gpus) == 0 {
		_, err := fmt.Fprintf(w, "GPU: none (%s)\n", strings.Join(sources, "; "))
		return err
	}
	var rows [][]string
	for _, gp := range gpus {
		mem := "-"
		if gp.MemoryBytes > 0 {
			mem = bytesU(gp.MemoryBytes)
		}
		rows = append(rows, []string{strconv.Itoa(gp.Index), gp.Vendor, gp.Name, mem, gp.PCIBus, orNone(gp.Driver + " " + gp.DriverVersion), gp.Source})
	}
	return printTable(w, []string{"GPU", "VENDOR", "NAME", "MEMORY", "PCI", "DRIVER", "SOURCE"}, rows)
}

func isolationRows(levels []resources.IsolationLevel) [][]string {
	var rows [][]string
	for _, lv := range levels {
		reason := lv.Reason
		if lv.Available {
			reason = "-"
		}
		rows = append(rows, []string{string(lv.Name), yesNo(lv.Available), reason})
	}
	return rows
}

func bytesU(b uint64) string {
	if b > 1<<62 {
		b = 1 << 62
	}
	return resources.FormatBytes(int64(b))
}

func orNo(b uint64) string {
	if b == 0 {
		return "no"
	}
	return bytesU(b)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return strings.TrimSpace(s)
}
