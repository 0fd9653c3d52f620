// Command gen writes the production rule files and the fast demo variant from
// rules/src. Run it from the repository root (`go run ./rules/gen`, `make
// rules`, which also runs ./dashboards/gen) or through `go generate ./rules`.
package main

import (
	"fmt"
	"os"

	"github.com/flexus-autoscaler/flexus/internal/genfile"
	"github.com/flexus-autoscaler/flexus/rules"
)

func main() { os.Exit(run()) }

func run() int {
	if err := generate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func generate() error {
	var files []rules.File
	for _, p := range rules.Profiles() {
		rendered, err := rules.Render(p)
		if err != nil {
			return err
		}
		files = append(files, rendered...)
	}
	return genfile.Write(files)
}
