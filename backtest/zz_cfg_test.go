package backtest

import "github.com/flexus-autoscaler/flexus/config"

func loadConfigForTest(p string) (*config.Config, error) { return config.Load(p) }
