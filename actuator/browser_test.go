package actuator

import (
	"net/http"
	"testing"

	"github.com/flexus-autoscaler/flexus/internal/browser"
)

// TestLandingPageInABrowser opens the actuator's landing page in headless
// Chromium: it renders without an error and every link answers, the decision
// log with 401 to a browser that has no bearer token.
func TestLandingPageInABrowser(t *testing.T) {
	browser.Chromium(t)
	r := startRun(t, "")
	page := browser.Serve(t, r.url).URL + "/"
	res := browser.Open(t, page, "actuator-landing")
	if len(res.Errors) > 0 {
		t.Errorf("the landing page raised errors: %q", res.Errors)
	}
	if len(res.Links) < 3 {
		t.Errorf("want links to /metrics, the decisions and /-/healthy: %v", res)
	}
	browser.CheckLinks(t, page, res.Links, map[string]int{PathDecisions: http.StatusUnauthorized})
}
