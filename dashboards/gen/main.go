// Command gen writes the Grafana dashboards that package dashboards builds to
// dashboards/*.json. Run it from the repository root (`go run ./dashboards/gen`,
// `make rules`) or through `go generate ./dashboards`.
package main

import (
	"fmt"
	"os"

	"github.com/flexus-autoscaler/flexus/dashboards"
	"github.com/flexus-autoscaler/flexus/internal/genfile"
)

func main() { os.Exit(run()) }

func run() int {
	boards, err := dashboards.Render()
	if err == nil {
		err = genfile.Write(boards)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
