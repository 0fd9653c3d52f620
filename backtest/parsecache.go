package backtest

import (
	"github.com/prometheus/prometheus/promql/parser"
)

// cachingParser hands the engine the same parsed tree for the same rule
// expression instead of parsing it again every evaluation, which was a fifth
// of the backtest's time. The engine caches selected series in the tree's
// VectorSelectors, so they are cleared before each reuse; expressions the
// engine rewrites while evaluating (subqueries, @, durations computed at
// query time) are parsed afresh every time.
type cachingParser struct {
	parser.Parser
	cache map[string]parser.Expr
}

func newCachingParser(p parser.Parser) *cachingParser {
	return &cachingParser{Parser: p, cache: map[string]parser.Expr{}}
}

func (c *cachingParser) ParseExpr(input string) (parser.Expr, error) {
	if e, ok := c.cache[input]; ok {
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				vs.Series, vs.UnexpandedSeriesSet = nil, nil
			}
			return nil
		})
		return e, nil
	}
	e, err := c.Parser.ParseExpr(input)
	if err != nil || !reusable(e) {
		return e, err
	}
	c.cache[input] = e
	return e, nil
}

// reusable is true for trees the engine only annotates, never rewrites.
func reusable(e parser.Expr) bool {
	ok := true
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch x := n.(type) {
		case *parser.SubqueryExpr, *parser.DurationExpr, *parser.StepInvariantExpr:
			ok = false
		case *parser.VectorSelector:
			if x.Timestamp != nil || x.StartOrEnd != 0 || x.OriginalOffsetExpr != nil {
				ok = false
			}
		case *parser.MatrixSelector:
			if x.RangeExpr != nil {
				ok = false
			}
		case *parser.Call:
			switch x.Func.Name {
			case "start", "end", "range", "step", "info":
				ok = false
			}
		}
		return nil
	})
	return ok
}
