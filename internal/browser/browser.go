// Package browser opens a page in Debian's headless Chromium, as a person's
// browser would, and reports what it rendered: every picture with its size,
// every link, and every error the page raised. Tests use it on the pages
// people look at (the demo report, the landing pages).
//
// The page is served through a proxy that adds a probe script at the top of
// every HTML answer; the probe records errors from the start and, on load,
// writes its findings into the DOM, which `chromium --dump-dom` prints.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// Box is one picture (svg, img or canvas) as laid out on the page.
type Box struct {
	Tag    string  `json:"tag"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	// Loaded is false for an img whose file did not load or decode.
	Loaded bool `json:"loaded"`
}

// Result is what one page load showed.
type Result struct {
	Pictures []Box `json:"pictures"`
	// Links are the absolute hrefs of every <a>.
	Links []string `json:"links"`
	// Errors are uncaught exceptions, console.error calls and resources that
	// failed to load, as the probe saw them, then every console line Chromium
	// logged (a page that works logs none).
	Errors []string `json:"errors"`
	// Screenshot is the PNG of the page as rendered.
	Screenshot string `json:"-"`
}

const probeID = "flexus-browser-probe"

// probe runs first in the page: it hooks errors before any other script and
// reports once the page has loaded.
const probe = `<script>(function(){
var errs=[];
addEventListener('error',function(e){var t=e.target;
 if(t&&t!==window&&(t.src||t.href)){errs.push('failed to load '+(t.src||t.href))}else{errs.push('uncaught: '+e.message)}},true);
addEventListener('unhandledrejection',function(e){errs.push('unhandled rejection: '+e.reason)});
var ce=console.error;console.error=function(){errs.push('console.error: '+Array.prototype.join.call(arguments,' '));return ce.apply(console,arguments)};
addEventListener('load',function(){
 var r={pictures:[],links:[],errors:errs};
 document.querySelectorAll('svg,img,canvas').forEach(function(e){
  if(e.parentElement&&e.parentElement.closest('svg'))return;
  var b=e.getBoundingClientRect();
  r.pictures.push({tag:e.tagName.toLowerCase(),width:b.width,height:b.height,loaded:e.tagName!=='IMG'||(e.complete&&e.naturalWidth>0)})});
 document.querySelectorAll('a[href]').forEach(function(a){r.links.push(a.href)});
 var p=document.createElement('pre');p.id='` + probeID + `';p.hidden=true;p.textContent=JSON.stringify(r);document.body.appendChild(p)});
})();</script>`

// Serve proxies upstream (a base URL) and adds the probe to its HTML pages.
func Serve(t testing.TB, upstream string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Header.Del("Accept-Encoding") // the probe is added to plain text
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		b = withProbe(b)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv
}

var headTag = regexp.MustCompile(`(?i)<head[^>]*>`)

// withProbe puts the probe first in <head>, or first in the page.
func withProbe(page []byte) []byte {
	if loc := headTag.FindIndex(page); loc != nil {
		return append(append(append([]byte{}, page[:loc[1]]...), probe...), page[loc[1]:]...)
	}
	return append([]byte(probe), page...)
}

// Chromium returns Debian's chromium: a skip on a machine without it, a
// failure under CI=true.
func Chromium(t testing.TB) string {
	t.Helper()
	return testenv.Binary(t, "chromium", "chromium")
}

var consoleLine = regexp.MustCompile(`:CONSOLE[:(].*`)

// Open loads pageURL (served by Serve) in headless Chromium, keeps a
// screenshot named name.png in ArtifactsDir, and returns what the probe found.
func Open(t testing.TB, pageURL, name string) Result {
	t.Helper()
	bin := Chromium(t)
	shot := filepath.Join(ArtifactsDir(t), name+".png")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
		"--window-size=1280,2000", "--screenshot="+shot, "--dump-dom",
		"--enable-logging=stderr", "--v=0", pageURL)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", pageURL, err, stderr.String())
	}
	m := regexp.MustCompile(`<pre id="` + probeID + `"[^>]*>([^<]*)</pre>`).FindSubmatch(stdout.Bytes())
	if m == nil {
		t.Fatalf("%s: the probe did not report (the page never finished loading, or is not HTML):\n%s", pageURL, stderr.String())
	}
	var r Result
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &r); err != nil {
		t.Fatalf("%s: probe report: %v", pageURL, err)
	}
	for _, l := range consoleLine.FindAllString(stderr.String(), -1) {
		r.Errors = append(r.Errors, "console"+strings.TrimPrefix(l, ":CONSOLE"))
	}
	r.Screenshot = shot
	checkScreenshot(t, shot)
	t.Logf("screenshot of %s: %s", pageURL, shot)
	return r
}

// checkScreenshot fails a test whose screenshot is missing, not a PNG, or
// one flat colour (nothing was drawn).
func checkScreenshot(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	b := img.Bounds()
	first := img.At(b.Min.X, b.Min.Y)
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			if img.At(x, y) != first {
				return
			}
		}
	}
	t.Errorf("screenshot %s is one flat colour: nothing was drawn", path)
}

// ArtifactsDir is where screenshots are kept: $FLEXUS_ARTIFACTS/<test name>
// when set (CI keeps it), else the test's temporary directory.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("FLEXUS_ARTIFACTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// CheckLinks GETs every link to page's own server and fails the test for one
// that does not answer with the status allowed for it: 200 unless allowed
// names another for the link's path (a token-protected API answers 401).
// Links to other hosts are logged, never fetched: tests reach only loopback.
func CheckLinks(t testing.TB, page string, links []string, allowed map[string]int) {
	t.Helper()
	pu, err := url.Parse(page)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, l := range links {
		u, err := url.Parse(l)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		if u.Host != pu.Host {
			t.Logf("link %s leaves the page's server: not fetched", l)
			continue
		}
		resp, err := client.Get(l)
		if err != nil {
			t.Errorf("link %s: %v", l, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want := http.StatusOK
		if code, ok := allowed[u.Path]; ok {
			want = code
		}
		if resp.StatusCode != want {
			t.Errorf("link %s: %d, want %d", l, resp.StatusCode, want)
		}
	}
}

// String summarises a result for a failure message.
func (r Result) String() string {
	return fmt.Sprintf("%d pictures %v, links %v, errors %q", len(r.Pictures), r.Pictures, r.Links, r.Errors)
}
