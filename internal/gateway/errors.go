package gateway

import (
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
)

// page is an error the gateway answers itself, in HTML for browsers and
// plain text for everything else (curl, scripts).
type page struct {
	code   int
	title  string
	detail string
}

func notFound(id, base string) page {
	if id == "" {
		return page{http.StatusNotFound, "no spacecore named",
			fmt.Sprintf("Name one by host (<id>.%s) or by path (/sc/<id>/).", base)}
	}
	return page{http.StatusNotFound, fmt.Sprintf("no spacecore %s", id),
		fmt.Sprintf("There is no spacecore %q on this node.", id)}
}

func notRunning(id string) page {
	return page{http.StatusBadGateway, fmt.Sprintf("spacecore %s is not running", id),
		"It exists but is stopped, starting or has no published port. Check `vimana spacecore inspect " + id + "`."}
}

func notAnswering(id string) page {
	return page{http.StatusBadGateway, fmt.Sprintf("spacecore %s is not answering", id),
		"It is running but did not answer on its port (refused, reset or too slow). Check `vimana spacecore logs " + id + "`."}
}

func unavailable(id string) page {
	return page{http.StatusBadGateway, fmt.Sprintf("spacecore %s is not available", id),
		"The node could not look up where it runs. Try again shortly."}
}

func (p page) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if !prefersHTML(r.Header.Values("Accept")) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(p.code)
		fmt.Fprintf(w, "%d %s\n%s\n", p.code, p.title, p.detail)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.code)
	t, d := html.EscapeString(p.title), html.EscapeString(p.detail)
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%d %s</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}small{color:#777}</style></head>
<body><h1>%d — %s</h1><p>%s</p><p><small>vimana gateway</small></p></body></html>
`, p.code, t, p.code, t, d)
}

// prefersHTML reports whether an Accept header asks for HTML at least as
// much as for plain text. Browsers name text/html; curl sends */*, which
// gets text.
func prefersHTML(accept []string) bool {
	var qHTML, qText float64 = -1, -1
	for _, v := range accept {
		for _, part := range strings.Split(v, ",") {
			typ, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(val, 64); err == nil {
						q = f
					}
				}
			}
			switch strings.ToLower(strings.TrimSpace(typ)) {
			case "text/html", "application/xhtml+xml":
				qHTML = max(qHTML, q)
			case "text/plain":
				qText = max(qText, q)
			}
		}
	}
	return qHTML > 0 && qHTML >= qText
}
