package scoring

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The signal defaults live in SignalTable and nowhere else. A map literal
// outside this package that keys numbers by two or more signals (a
// thresholds, weights, targets, holds or guardrails table) is a second copy
// that will drift; derive it from SignalTable instead.
func TestNoOtherPackageWritesSignalDefaults(t *testing.T) {
	names := map[string]bool{}
	for _, s := range Signals() {
		names[string(s)] = true
	}
	isSignal := func(e ast.Expr) bool {
		switch k := e.(type) {
		case *ast.BasicLit:
			v, err := strconv.Unquote(k.Value)
			return err == nil && names[v]
		case *ast.SelectorExpr: // scoring.CPU, config.SignalCPU, advisor.Queue
			return isSignalIdent(k.Sel.Name)
		case *ast.Ident:
			return isSignalIdent(k.Name)
		}
		return false
	}
	hasNumber := func(e ast.Expr) bool {
		found := false
		ast.Inspect(e, func(n ast.Node) bool {
			if b, ok := n.(*ast.BasicLit); ok && (b.Kind == token.FLOAT || b.Kind == token.INT) {
				found = true
			}
			return !found
		})
		return found
	}
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || path == filepath.Join(root, "scoring")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if _, isMap := lit.Type.(*ast.MapType); !isMap {
				return true
			}
			keyed := 0
			for _, el := range lit.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok && isSignal(kv.Key) && hasNumber(kv.Value) {
					keyed++
				}
			}
			if keyed >= 2 {
				t.Errorf("%s: a map literal keys numbers by %d signals: a second copy of the signal defaults; derive it from scoring.SignalTable", path, keyed)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isSignalIdent matches the Go names signals go by: CPU, ResponseTime, SignalCPU.
func isSignalIdent(name string) bool {
	name = strings.TrimPrefix(name, "Signal")
	for _, s := range []string{"CPU", "Memory", "GPU", "GPUMemory", "NPU", "Queue", "ResponseTime", "ErrorRate"} {
		if name == s {
			return true
		}
	}
	return false
}
