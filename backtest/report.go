package backtest

import (
	"fmt"
	"io"
)

// WriteHTML writes the report; plots come next.
func (r *Result) WriteHTML(w io.Writer) error {
	_, err := fmt.Fprintf(w, "<!doctype html><title>%s</title>", r.Trace)
	return err
}
