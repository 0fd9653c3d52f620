package collector

import (
	"time"

	"github.com/flexus-autoscaler/flexus/advisor"
	"github.com/flexus-autoscaler/flexus/backtest"
	"github.com/flexus-autoscaler/flexus/rules"
)

// historyChecker replays the advisor's proposals with the config in force and
// the production rules, rendered from package rules as `go generate` writes
// them to rules/: the exporter may run where no rules/ directory is.
func (s *Server) historyChecker() (*advisor.Checker, error) {
	files, err := rules.Render(rules.Production())
	if err != nil {
		return nil, err
	}
	contents := make([]backtest.RuleFile, 0, len(files))
	for _, f := range files {
		contents = append(contents, backtest.RuleFile{Name: f.Path, Content: f.Content})
	}
	logger := s.o.Logger.With("component", "advisor")
	return advisor.NewChecker(advisor.CheckOptions{
		// The config's own text, defaults filled in and secrets hidden: the
		// replay reads the group's bounds, policy, targets and capacity.
		Config: func() ([]byte, error) { return s.coord.Config().Effective(nil) },
		LoadRules: func() (*backtest.Rules, error) {
			return backtest.LoadRuleContents(contents, backtest.RuleOptions{EvalInterval: time.Minute, ActionOnly: true, Logger: logger})
		},
		Clock:  s.o.Clock,
		Logger: logger,
	})
}
