package collector

// elbSignals are the group's response time and error rate from this cycle's
// fresh ELB datapoints. They publish no series of their own, only signals; and
// since they are derived anew from the samples every cycle, nothing of them is
// kept in the group's state.
func elbSignals(e *elbSource, v cycleView) map[string]point {
	rt, er, rtOK, erOK := e.read(v.sample)
	return responseSignals(rt, er, rtOK, erOK, v)
}
