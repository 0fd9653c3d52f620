package main

import (
	"github.com/alecthomas/kingpin/v2"

	"github.com/flexus-autoscaler/flexus/backtest"
)

// spotFlags are the backtest's spot model: given a reclaim rate, each
// policy is replayed on demand and as a spot fleet, and compared.
type spotFlags struct {
	rate     *float64
	discount *float64
	base     *int
}

func addSpotFlags(cmd *kingpin.CmdClause) spotFlags {
	return spotFlags{
		rate:     cmd.Flag("spot.reclaim-rate", "Replay each policy also as a spot fleet whose spot instances are reclaimed with this chance per instance-hour (e.g. 0.0003, about 20% a month), and compare cost and SLO minutes with on demand.").Float64(),
		discount: cmd.Flag("spot.discount", "Share of the on-demand price spot saves (default: pricing.spot_discount, else 0.7).").Float64(),
		base:     cmd.Flag("spot.on-demand-base", "Instances kept on demand (default: the group's spot.on_demand_base, else 0).").Default("-1").Int(),
	}
}

func (f spotFlags) on() bool { return *f.rate > 0 }

// variant is opts replayed as the spot fleet the flags and the config describe.
func (f spotFlags) variant(opts backtest.Options) (backtest.Options, error) {
	so, err := backtest.SpotOptionsFor(opts.Config, opts.Group, *f.rate, *f.discount, *f.base)
	if err != nil {
		return opts, err
	}
	opts.Spot = &so
	return opts, nil
}
