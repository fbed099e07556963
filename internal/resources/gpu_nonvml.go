//go:build !cgo || !nvml

package resources

import (
	"context"
	"fmt"
)

// nvmlGPUs is the stub for binaries built without NVML (the default: the
// go-nvml cgo bindings flood every build with deprecation warnings unless
// CGO_CFLAGS=-Wno-deprecated-declarations is set). nvidia-smi covers the
// same devices.
func nvmlGPUs(context.Context) ([]GPU, error) {
	return nil, fmt.Errorf("%w: not built into this binary (build with -tags nvml)", errAbsent)
}
