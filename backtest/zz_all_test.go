package backtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Not committed: runs every shared trace when BACKTEST_ALL names an output dir.
func TestZZAll(t *testing.T) {
	dir := os.Getenv("BACKTEST_ALL")
	if dir == "" {
		t.Skip()
	}
	files, _ := filepath.Glob("/work/shared/traces/*.csv")
	cfgFile := os.Getenv("BACKTEST_CONFIG")
	only := os.Getenv("BACKTEST_ONLY")
	for _, f := range files {
		if only != "" && !strings.Contains(f, only) {
			continue
		}
		tr, err := LoadTrace(f, "")
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Rules: loadRules(t)}
		if cfgFile != "" {
			c, err := loadConfigForTest(cfgFile)
			if err != nil {
				t.Fatal(err)
			}
			opts.Config = c
		}
		start := time.Now()
		res, err := Run(context.Background(), tr, Policies(), opts)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := os.Create(filepath.Join(dir, tr.Name+".txt"))
		res.WriteText(out)
		out.Close()
		j, _ := os.Create(filepath.Join(dir, tr.Name+".json"))
		json.NewEncoder(j).Encode(res.Figures)
		j.Close()
		t.Logf("%s: %s", tr.Name, time.Since(start))
	}
}
