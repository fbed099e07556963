package stats

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(s)
	if got.N != 100 || got.P50 != 50*time.Millisecond || got.P99 != 99*time.Millisecond || got.Min != time.Millisecond || got.Max != 100*time.Millisecond {
		t.Fatalf("Summarize = %+v", got)
	}
	if (Summarize(nil) != Summary{}) {
		t.Fatal("empty input must give a zero summary")
	}
}
