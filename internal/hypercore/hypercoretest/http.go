package hypercoretest

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// HTTPGet polls http://host:port/ until it answers 200 or timeout passes
// (a readiness wait, not a timing assertion) and returns the body.
func HTTPGet(t testing.TB, host string, port int, timeout time.Duration) string {
	t.Helper()
	url := fmt.Sprintf("http://%s/", host+":"+strconv.Itoa(port))
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && rerr == nil {
				return string(b)
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("GET %s never answered 200: %v", url, last)
	return ""
}

func itoa(i int) string { return strconv.Itoa(i) }
