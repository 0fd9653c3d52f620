package backtest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The backtest replays the exporter's series and scoring, not the exporter:
// importing it would pull in Redis, the LLM client and every cloud SDK
// service (~520 packages) for a function that belongs to config.
func TestBacktestDoesNotDependOnTheExporter(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/flexus-autoscaler/flexus/collector",
		"github.com/redis/go-redis/v9",
		"github.com/sashabaranov/go-openai",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("backtest depends on %s", dep)
			}
		}
	}
}
