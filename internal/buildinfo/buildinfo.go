// Package buildinfo reports the vimana version baked in at link time
// (-ldflags "-X ...Version=...") or read from the Go build info.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version and Commit are set by the Makefile via -ldflags -X.
var (
	Version = "dev"
	Commit  = ""
)

// Info is the version report.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// Get returns the version report.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if i.Commit == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					i.Commit = s.Value
				}
			}
		}
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}
