package collector

import "github.com/flexus-autoscaler/flexus/config"

// httpSignals are the group's response time and error rate from the service's
// own endpoint, which readSideSources read beside Cloud Eye and kept in the
// group's state. Like ELB they publish only signals. A reading outlives a
// failed read, so it is dropped here once stale.
func httpSignals(rt, er point, rtOK, erOK bool, v cycleView) map[string]point {
	return responseSignals(rt, er, rtOK, erOK, v)
}

// responseSignals keeps the fresh ones of a response time and an error rate.
func responseSignals(rt, er point, rtOK, erOK bool, v cycleView) map[string]point {
	sigs := map[string]point{}
	if rtOK && v.fresh(rt) {
		sigs[config.SignalResponseTime] = rt
	}
	if erOK && v.fresh(er) {
		sigs[config.SignalErrorRate] = er
	}
	return sigs
}
