// Command gen writes the production rule files and the fast demo variant from
// rules/src. Run it from the repository root (`go run ./rules/gen`, `make
// rules`, which also runs ./dashboards/gen) or through `go generate ./rules`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/flexus-autoscaler/flexus/rules"
)

func main() { os.Exit(run()) }

func run() int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var files []rules.File
	for _, p := range rules.Profiles() {
		rendered, err := rules.Render(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		files = append(files, rendered...)
	}
	for _, f := range files {
		dst := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.WriteFile(dst, f.Content, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// repoRoot walks up to go.mod, so the generator works from the root and from
// rules/ (where go generate runs it).
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
			return "", fmt.Errorf("gen: no go.mod above the working directory: run `go run ./rules/gen` inside the flexus module")
		}
		dir = parent
	}
}
