package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteJSON(TRun, 7, Run{Args: []string{"/bin/tw", "sleep"}}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), MaxPayload+10)
	if err := w.WriteData(TStdout, 3, big); err != nil {
		t.Fatal(err)
	}
	f, err := Read(&buf)
	if err != nil || f.Type != TRun || f.Stream != 7 || !bytes.Contains(f.Payload, []byte("sleep")) {
		t.Fatalf("first frame = %+v, %v", f, err)
	}
	var got []byte
	for range 2 {
		f, err := Read(&buf)
		if err != nil || f.Type != TStdout || f.Stream != 3 {
			t.Fatalf("data frame = %+v, %v", f, err)
		}
		got = append(got, f.Payload...)
	}
	if !bytes.Equal(got, big) {
		t.Fatalf("data did not round-trip")
	}
	if _, err := Read(&buf); err != io.EOF {
		t.Fatalf("read past end: %v, want EOF", err)
	}
}

func TestRejects(t *testing.T) {
	for name, h := range map[string][]byte{
		"type zero":    {0, 0, 0, 0, 1, 0, 0, 0, 0},
		"unknown type": {200, 0, 0, 0, 1, 0, 0, 0, 0},
		"oversized":    {byte(TStdout), 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := Read(bytes.NewReader(h)); !errors.Is(err, ErrFrame) {
			t.Errorf("%s: err = %v, want ErrFrame", name, err)
		}
	}
	if _, err := Read(bytes.NewReader([]byte{byte(TStdout), 0, 0, 0, 1, 0, 0, 0, 5, 'a'})); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated payload: %v", err)
	}
	if _, err := Append(nil, Frame{Type: TStdout, Payload: make([]byte, MaxPayload+1)}); !errors.Is(err, ErrFrame) {
		t.Errorf("Append of an oversized payload: %v", err)
	}
}

// FuzzRead checks that no input makes the decoder panic, allocate past
// MaxPayload, or accept a frame that does not re-encode to the same bytes.
func FuzzRead(f *testing.F) {
	seed, _ := Append(nil, Frame{Type: TExec, Stream: 1, Payload: []byte(`{"args":["ls"]}`)})
	f.Add(seed)
	f.Add([]byte{byte(TStdin), 0, 0, 0, 2, 0, 0, 0, 0})
	f.Add([]byte{byte(TStdout), 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			start := len(b) - r.Len()
			fr, err := Read(r)
			if err != nil {
				return
			}
			if len(fr.Payload) > MaxPayload {
				t.Fatalf("payload of %d bytes accepted", len(fr.Payload))
			}
			enc, err := Append(nil, fr)
			if err != nil || !bytes.Equal(enc, b[start:len(b)-r.Len()]) {
				t.Fatalf("frame %+v does not re-encode to its input", fr)
			}
		}
	})
}
