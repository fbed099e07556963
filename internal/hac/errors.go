package hac

import (
	"fmt"
	"strings"

	"github.com/vistara-labs/vimana/internal/hypercore"
)

// Error is one problem in a hac.toml, located by file, line and column
// (1-based; 0 when unknown) and the dotted key path.
type Error struct {
	File string
	Line int
	Col  int
	Key  string
	Msg  string
	// Err is the underlying cause when there is one (reading the file).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.File == "" {
		b.WriteString("hac.toml")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes every hac error a hypercore.ErrInvalid (and exposes Err).
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{hypercore.ErrInvalid, e.Err}
	}
	return []error{hypercore.ErrInvalid}
}

// Errors is every problem found in one file, in document order.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap exposes the individual errors to errors.Is/As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Warning is a non-fatal remark (e.g. a legacy dialect key and its
// canonical replacement).
type Warning struct {
	File string
	Line int
	Col  int
	Key  string
	Msg  string
}

func (w Warning) String() string {
	e := Error{File: w.File, Line: w.Line, Col: w.Col, Key: w.Key, Msg: w.Msg}
	return e.Error()
}
