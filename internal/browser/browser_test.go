package browser

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A page with a broken picture, a throwing script and a dead link must be
// reported as such, or the tests that use the probe prove nothing.
func TestTheProbeSeesWhatIsBroken(t *testing.T) {
	Chromium(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>t</title></head><body>
<svg width="120" height="60"><rect width="120" height="60" fill="teal"/></svg>
<img src="/missing.png" width="10" height="10">
<a href="/gone">gone</a><a href="/page">self</a>
<script>undefinedFunction()</script></body></html>`)
	})
	upstream := httptest.NewServer(mux)
	t.Cleanup(upstream.Close)
	srv := Serve(t, upstream.URL)
	r := Open(t, srv.URL+"/page", "broken")

	if len(r.Pictures) != 2 || r.Pictures[0].Width != 120 || r.Pictures[0].Height != 60 || !r.Pictures[0].Loaded {
		t.Errorf("want the 120x60 svg first: %v", r)
	}
	if len(r.Pictures) == 2 && r.Pictures[1].Loaded {
		t.Errorf("the missing img counts as loaded: %v", r)
	}
	all := strings.Join(r.Errors, "\n")
	for _, want := range []string{"failed to load " + srv.URL + "/missing.png", "undefinedFunction"} {
		if !strings.Contains(all, want) {
			t.Errorf("errors lack %q:\n%s", want, all)
		}
	}
	if len(r.Links) != 2 || r.Links[0] != srv.URL+"/gone" {
		t.Errorf("links %v", r.Links)
	}
	probe := &recorder{TB: t}
	CheckLinks(probe, srv.URL+"/page", r.Links, nil)
	if len(probe.errors) != 1 || !strings.Contains(probe.errors[0], "/gone: 404") {
		t.Errorf("CheckLinks reported %q, want only /gone's 404", probe.errors)
	}
}

// recorder keeps a helper's failures instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}
