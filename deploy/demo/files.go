// Package demofiles holds what `flexus demo` and the end-to-end test start
// from: the Prometheus, Alertmanager, exporter/actuator and simcloud config
// templates of the fast demo, and the demo rules generated into rules/ from
// the same source as the production rules. They are embedded so the binary
// runs the demo from any directory.
package demofiles

import (
	"embed"
	"io/fs"
)

//go:embed *.tmpl rules/*.yml
var files embed.FS

// FS returns the templates (*.tmpl) and the demo rules (rules/*.yml).
func FS() fs.FS { return files }
