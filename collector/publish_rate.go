package collector

// publishRequestRate publishes the group's request rate, read beside Cloud
// Eye and kept in the group's state, and returns it while fresh for the
// predictive policy (groupState.evaluate). A rate outlives a failed read, so
// it is dropped here once stale.
func (b *builder) publishRequestRate(d *descs, group string, rate point, ok bool, v cycleView) (point, bool) {
	if !ok || !v.fresh(rate) {
		return point{}, false
	}
	b.group(d.requestRate, rate.value, group)
	return rate, true
}
