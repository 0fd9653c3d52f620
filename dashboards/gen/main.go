// Command gen writes the Grafana dashboards that package dashboards builds to
// dashboards/*.json. Run it from the repository root (`go run ./dashboards/gen`,
// `make rules`) or through `go generate ./dashboards`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/flexus-autoscaler/flexus/dashboards"
)

func main() { os.Exit(run()) }

func run() int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	boards, err := dashboards.Render()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, b := range boards {
		if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(b.Path)), b.Content, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// repoRoot walks up to go.mod, so the generator works from the root and from
// dashboards/ (where go generate runs it).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("gen: no go.mod above the working directory: run `go run ./dashboards/gen` inside the flexus module")
		}
		dir = parent
	}
}
