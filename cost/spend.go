package cost

import (
	"math"
	"time"
)

// Rate is what instances cost per hour at price.
func Rate(instances int, p Price) float64 { return float64(max(instances, 0)) * p.PerHour }

// Needed is how many instances carry the present load at the target
// utilisation: the load of each signal, instances × utilisation, divided by
// its target, and the largest of these. Signals without a target or a value
// are skipped; ok is false when none is left.
func Needed(instances int, utilisation, target map[string]float64) (needed int, ok bool) {
	if instances <= 0 {
		return 0, true
	}
	for sig, u := range utilisation {
		t := target[sig]
		if t <= 0 || math.IsNaN(u) || u < 0 {
			continue
		}
		// The epsilon keeps exactly-at-target from asking for one more.
		n := int(math.Ceil(float64(instances)*u/t - 1e-9))
		needed = max(needed, n)
		ok = true
	}
	return max(needed, 1), ok
}

// Idle is the capacity above what the load needs, in instances.
func Idle(instances, needed int) int { return max(instances-needed, 0) }

// PerThousandRequests is the cost of serving 1,000 requests at the present
// rate: cost per hour over requests per hour. ok is false without traffic.
func PerThousandRequests(ratePerHour, requestsPerSecond float64) (float64, bool) {
	if requestsPerSecond <= 0 || math.IsNaN(requestsPerSecond) {
		return 0, false
	}
	return ratePerHour / (requestsPerSecond * 3600) * 1000, true
}

// Meter accumulates spend over time from a rate that changes step-wise: each
// Observe charges the previous rate for the time since the last one. The
// caller brings the times, so replays and tests need no clock.
type Meter struct {
	last  time.Time
	rate  float64
	total float64
}

// Observe charges the time since the last observation at the rate then in
// force, sets the new rate, and returns what was charged.
func (m *Meter) Observe(now time.Time, ratePerHour float64) float64 {
	charged := 0.0
	if !m.last.IsZero() && now.After(m.last) {
		charged = m.rate * now.Sub(m.last).Hours()
		m.total += charged
	}
	if m.last.IsZero() || now.After(m.last) {
		m.last = now
	}
	m.rate = ratePerHour
	return charged
}

// Total is everything charged so far.
func (m *Meter) Total() float64 { return m.total }
