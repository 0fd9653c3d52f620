// Package genfile writes generated files (rule files, dashboards) at the
// module root, so each generator works from the root and from the package
// directory where `go generate` runs it.
package genfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is one generated file.
type File struct {
	Path    string // relative to the repository root, slash-separated
	Content []byte
}

// Write writes every file below the module root found from the working directory.
func Write(files []File) error {
	root, err := Root()
	if err != nil {
		return err
	}
	for _, f := range files {
		dst := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, f.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Root walks up from the working directory to the directory holding go.mod.
func Root() (string, error) {
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
			return "", fmt.Errorf("genfile: no go.mod above the working directory: run the generator inside the flexus module")
		}
		dir = parent
	}
}
