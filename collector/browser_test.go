package collector

import (
	"context"
	"testing"

	"github.com/flexus-autoscaler/flexus/internal/browser"
)

// TestLandingPageInABrowser opens the exporter's landing page in headless
// Chromium after a first collection: it renders without an error and every
// link answers 200.
func TestLandingPageInABrowser(t *testing.T) {
	browser.Chromium(t)
	s := startSim(t)
	srv, url, _ := startServer(t, s, s.config(t))
	if _, err := srv.Loop().Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	page := browser.Serve(t, url).URL + "/"
	r := browser.Open(t, page, "exporter-landing")
	if len(r.Errors) > 0 {
		t.Errorf("the landing page raised errors: %q", r.Errors)
	}
	if len(r.Links) < 3 {
		t.Errorf("want links to /metrics, /-/healthy and /-/ready: %v", r)
	}
	for _, p := range r.Pictures {
		if p.Width == 0 || p.Height == 0 || !p.Loaded {
			t.Errorf("a picture is not drawn: %+v", p)
		}
	}
	browser.CheckLinks(t, page, r.Links, nil)
}
