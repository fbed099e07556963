// Package wire is the framed protocol between the microvm provider (host)
// and its guest agent, spoken over one virtio-serial port. A frame is a
// 9-byte header (type, stream id, payload length, all big-endian) and a
// payload of at most MaxPayload bytes; JSON payloads carry requests and
// replies, raw payloads carry exec stdin/stdout/stderr. The decoder refuses
// oversized or unknown frames so neither side can be made to allocate
// without bound. It imports nothing from vimana but the standard library.
package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MaxPayload caps one frame's payload.
const MaxPayload = 64 << 10

// HeaderSize is the size of a frame header.
const HeaderSize = 9

// Type says what a frame carries.
type Type uint8

// Frame types (append only: the numbers are the protocol). Host->guest:
// Hello, Run, Signal, Exec, Stdin, StdinEOF, Stats, Resize. Guest->host: Ready, Started, Stdout, Stderr, ExitCode, StatsReply,
// Error.
const (
	THello Type = iota + 1
	TReady
	TRun
	TStarted
	TSignal
	TExec
	TStdin
	TStdinEOF
	TStdout
	TStderr
	TExitCode
	TStats
	TStatsReply
	TError
	TResize
	tMax
)

// ErrFrame means a malformed frame: the stream cannot be trusted any more.
var ErrFrame = errors.New("wire: malformed frame")

// Frame is one message.
type Frame struct {
	Type    Type
	Stream  uint32
	Payload []byte
}

// Read reads one frame from r.
func Read(r io.Reader) (Frame, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	f, n, err := ParseHeader(h[:])
	if err != nil {
		return Frame{}, err
	}
	if n > 0 {
		f.Payload = make([]byte, n)
		if _, err := io.ReadFull(r, f.Payload); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
	}
	return f, nil
}

// ParseHeader checks a header and returns the frame (without payload) and
// the payload length.
func ParseHeader(h []byte) (Frame, int, error) {
	if len(h) < HeaderSize {
		return Frame{}, 0, fmt.Errorf("%w: short header", ErrFrame)
	}
	t := Type(h[0])
	if t == 0 || t >= tMax {
		return Frame{}, 0, fmt.Errorf("%w: unknown type %d", ErrFrame, h[0])
	}
	n := binary.BigEndian.Uint32(h[5:9])
	if n > MaxPayload {
		return Frame{}, 0, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrFrame, n, MaxPayload)
	}
	return Frame{Type: t, Stream: binary.BigEndian.Uint32(h[1:5])}, int(n), nil
}

// Append encodes f onto b.
func Append(b []byte, f Frame) ([]byte, error) {
	if len(f.Payload) > MaxPayload {
		return b, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrFrame, len(f.Payload), MaxPayload)
	}
	b = append(b, byte(f.Type))
	b = binary.BigEndian.AppendUint32(b, f.Stream)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.Payload)))
	return append(b, f.Payload...), nil
}

// Writer serialises frames from many goroutines onto one stream.
type Writer struct {
	mu  sync.Mutex
	w   *bufio.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 16<<10)} }

// Write sends one frame.
func (w *Writer) Write(f Frame) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if w.buf, err = Append(w.buf[:0], f); err != nil {
		return err
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return err
	}
	return w.w.Flush()
}

// WriteJSON sends v as a JSON frame.
func (w *Writer) WriteJSON(t Type, stream uint32, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Write(Frame{Type: t, Stream: stream, Payload: b})
}

// WriteData sends b as frames of at most MaxPayload bytes.
func (w *Writer) WriteData(t Type, stream uint32, b []byte) error {
	for len(b) > 0 {
		n := min(len(b), MaxPayload)
		if err := w.Write(Frame{Type: t, Stream: stream, Payload: b[:n]}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// Run asks the agent to start the workload (TRun).
type Run struct {
	Args        []string `json:"args"`
	Env         []string `json:"env,omitempty"`
	Cwd         string   `json:"cwd,omitempty"`
	User        string   `json:"user,omitempty"`
	Hostname    string   `json:"hostname,omitempty"`
	MemoryBytes int64    `json:"memory_bytes,omitempty"`
	Pids        int64    `json:"pids,omitempty"`
	MilliCPU    int64    `json:"milli_cpu,omitempty"`
	Egress      bool     `json:"egress,omitempty"`
}

// Started answers Run.
type Started struct {
	Pid int `json:"pid"`
}

// Signal asks the agent to signal the workload (TSignal).
type Signal struct {
	Signal int `json:"signal"`
}

// Exec asks the agent to run a process beside the workload (TExec); the
// stream id names the session.
type Exec struct {
	Args  []string `json:"args"`
	Env   []string `json:"env,omitempty"`
	Dir   string   `json:"dir,omitempty"`
	User  string   `json:"user,omitempty"`
	Stdin bool     `json:"stdin,omitempty"`
	// TTY runs the process on a pseudo-terminal of Size (output comes as
	// TStdout only; TResize changes the size).
	TTY  bool   `json:"tty,omitempty"`
	Size Resize `json:"size,omitzero"`
}

// Resize is a terminal size (TResize, and Exec.Size).
type Resize struct {
	Rows uint16 `json:"rows"`
	Cols uint16 `json:"cols"`
}

// ExitCode ends an exec session.
type ExitCode struct {
	Code int `json:"code"`
}

// Exit is the workload's exit record, written by the agent to its exit
// port as one JSON line.
type Exit struct {
	Code      int  `json:"code"`
	Signal    int  `json:"signal,omitempty"`
	OOMKilled bool `json:"oom_killed,omitempty"`
}

// Stats answers TStats.
type Stats struct {
	CPUUsageNanos uint64 `json:"cpu_usage_ns"`
	MemoryBytes   uint64 `json:"memory_bytes"`
	MemoryLimit   uint64 `json:"memory_limit"`
	Pids          uint64 `json:"pids"`
	NetRxBytes    uint64 `json:"net_rx_bytes"`
	NetTxBytes    uint64 `json:"net_tx_bytes"`
	DiskBytes     uint64 `json:"disk_bytes"`
}

// Error is the payload of TError.
type Error struct {
	Message string `json:"message"`
}
