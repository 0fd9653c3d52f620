package demo

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/internal/browser"
)

// TestReportRendersInABrowser opens the report of a recorded run (story) in
// headless Chromium: every plot is drawn at a real size, nothing errs, every
// link answers, and the screenshot is kept.
func TestReportRendersInABrowser(t *testing.T) {
	browser.Chromium(t)
	dir := t.TempDir()
	s := story()
	if err := WriteReportFile(filepath.Join(dir, "report.html"), s, Summarize(s, time.Second, nil)); err != nil {
		t.Fatal(err)
	}
	files := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(files.Close)
	page := browser.Serve(t, files.URL).URL + "/report.html"
	r := browser.Open(t, page, "report")

	const plotsPerGroup = 6
	if len(r.Pictures) != plotsPerGroup*len(s.Groups) {
		t.Errorf("%d pictures, want %d plots for %d group(s): %v", len(r.Pictures), plotsPerGroup*len(s.Groups), len(s.Groups), r)
	}
	for i, p := range r.Pictures {
		if p.Tag != "svg" || p.Width < 100 || p.Height < 100 || !p.Loaded {
			t.Errorf("plot %d is not drawn at a readable size: %+v", i, p)
		}
	}
	if len(r.Errors) > 0 {
		t.Errorf("the report raised errors: %q", r.Errors)
	}
	browser.CheckLinks(t, page, r.Links, nil)
}
