package scoring

import (
	"math"
	"time"
)

// Model names a forecasting model, as in the `model` label.
type Model string

// The forecasting models. Auto is the one chosen per series and horizon by
// rolling out-of-sample error.
const (
	ModelLinear        Model = "linear"         // least squares over a window, as predict_linear
	ModelHolt          Model = "holt"           // double exponential smoothing, damped trend
	ModelHoltWinters   Model = "holt_winters"   // additive, daily (and weekly) seasonality
	ModelSeasonalNaive Model = "seasonal_naive" // the value one day (or week) earlier
	ModelAuto          Model = "auto"
	// ModelEnsemble is a ridge regression on the other models' forecasts
	// (ensemble.go). It is not among Models(): auto stands for it where it
	// earns it, and forecast-eval grades it on its own.
	ModelEnsemble Model = "ensemble"
)

// Models returns the concrete models in a fixed order (without auto).
func Models() []Model {
	return []Model{ModelLinear, ModelHolt, ModelHoltWinters, ModelSeasonalNaive}
}

// Variants are the concrete forecasters each series runs. A model family may
// have several (Holt at three smoothing speeds, seasonality by day or week);
// the running error picks the best within each family and overall.
const (
	vLinear = iota
	vHoltSlow
	vHoltMid
	vHoltFast
	vHWDay
	vHWWeek
	vHWShort
	vSNDay
	vSNWeek
	vEnsemble
	numVariants
)

func variantModel(v int) Model {
	switch v {
	case vLinear:
		return ModelLinear
	case vHoltSlow, vHoltMid, vHoltFast:
		return ModelHolt
	case vHWDay, vHWWeek, vHWShort:
		return ModelHoltWinters
	case vEnsemble:
		return ModelEnsemble
	}
	return ModelSeasonalNaive
}

// Smoothing constants. Holt runs on the fine samples with a damped trend so a
// long horizon never extrapolates a short-lived slope far; Holt-Winters runs on
// coarse buckets, and its residual against the latest fine sample is carried
// into the forecast with a decay, so short horizons react to the present.
func holtParams(i int) (alpha, beta float64) {
	switch i {
	case 0:
		return 0.1, 0.01
	case 1:
		return 0.4, 0.05
	}
	return 0.8, 0.1
}

const (
	holtPhi       = 0.9
	hwAlpha       = 0.2
	hwBeta        = 0.01
	hwGamma       = 0.15
	hwPhi         = 0.98
	residAlpha    = 0.5
	residHalfLife = 30 * time.Minute
	shortAlpha    = 0.1
	shortGamma    = 0.2
	minACF        = 0.3 // autocorrelation a short period needs to count
	pendingSlots  = 6   // graded forecasts kept per horizon
	autoTop       = 1   // auto averages this many of the best variants
	minGraded     = 3   // gradings before auto trusts its choice
)

// forecastConfig is ForecastParams turned into step counts, shared by the
// series of a group.
type forecastConfig struct {
	step          int64 // nanoseconds
	dayStep       int64 // bucket width of the daily season
	weekStep      int64 // bucket width of the weekly season
	horizons      []time.Duration
	hSteps        []int64
	every         []int64 // issue a graded forecast every this many samples
	pendCap       []int
	window        int
	ringCap       int
	maxPeriod     int // longest short period looked for, in samples
	maxGap        int64
	errW          float64
	weekly        bool
	residDecayPer float64 // per fine step
}

func newForecastConfig(f ForecastParams, trendSamples int) *forecastConfig {
	c := &forecastConfig{
		step:     int64(f.Step),
		dayStep:  int64(f.CoarseStep),
		weekStep: int64(f.WeeklyStep),
		horizons: append([]time.Duration(nil), f.Horizons...),
		window:   max(1, int(f.LinearWindow/f.Step)),
		maxGap:   int64(f.MaxGapSteps),
		errW:     f.ErrorWeight,
		weekly:   f.Weekly,
	}
	// Short periods (a cron job every 40 minutes) are found by autocorrelation
	// over the fine ring, which must hold three of the longest looked for.
	c.maxPeriod = max(2, int(time.Hour/f.Step))
	c.ringCap = max(c.window, trendSamples, 3*c.maxPeriod, 48)
	for _, h := range f.Horizons {
		hs := max(1, (int64(h)+c.step/2)/c.step)
		every := max(1, (hs+pendingSlots-1)/pendingSlots)
		c.hSteps = append(c.hSteps, hs)
		c.every = append(c.every, every)
		c.pendCap = append(c.pendCap, int(hs/every)+2)
	}
	c.residDecayPer = math.Pow(0.5, float64(f.Step)/float64(residHalfLife))
	return c
}

// shortState is additive Holt-Winters without trend on the fine samples, for a
// period of a few samples to an hour found by autocorrelation.
type shortState struct {
	period int       // 0 while none is found
	season []float32 // len period
	level  float64
	nextAt int64 // sample index of the next period search
}

type pending struct {
	due  int64
	last float32 // the newest sample when issued, an input of the ensemble
	f    [numVariants]float32
	auto float32
	fam  [numModels - 1]int8 // each family's best variant when issued
}

// series is the forecasting state of one signal of one group. Memory is
// bounded: a fine ring of LinearWindow/Step samples, a coarse ring of one day
// (or week) of CoarseStep means, the Holt-Winters seasons, and a few pending
// forecasts per horizon; see Bytes.
type series struct {
	c *forecastConfig

	started   bool
	cur       int64 // index of the newest fine sample
	lastNanos int64
	lastValue float64
	ring      []float32
	ringN     int
	linAt     int64 // s.cur when the linear fit below was computed
	linSlope  float64
	linIcpt   float64
	holt      [3]struct{ level, trend float64 }
	fineN     int64 // fine samples since the last restart

	day   seasonal
	week  seasonal // period 0 when weekly seasonality is off
	short shortState

	pend     [][]pending // per horizon, a FIFO
	errs     [][numVariants]float64
	graded   []int64
	smape    []float64
	smapeN   []int64
	chosen   []int
	top      [][autoTop]int8 // variants auto averages, best first
	dropped  int64
	repeated int64
	restarts int64

	ens       []stacker   // per horizon, the ensemble's regression
	res       []residuals // per horizon, per modelIndex: graded log residuals
	meanLevel float64     // running mean of the samples, for the log offset
}

func newSeries(c *forecastConfig) *series {
	s := &series{c: c, ring: make([]float32, c.ringCap), linAt: -1}
	s.day = newSeasonal(c.dayStep, int64(24*time.Hour)/c.dayStep)
	if c.weekly {
		s.week = newSeasonal(c.weekStep, int64(7*24*time.Hour)/c.weekStep)
	}
	h := len(c.horizons)
	s.pend = make([][]pending, h)
	for i := range s.pend {
		s.pend[i] = make([]pending, 0, c.pendCap[i])
	}
	s.errs = make([][numVariants]float64, h)
	s.graded = make([]int64, h)
	s.smape = make([]float64, h)
	s.smapeN = make([]int64, h)
	s.chosen = make([]int, h)
	s.top = make([][autoTop]int8, h)
	s.ens = make([]stacker, h)
	s.res = make([]residuals, h*numModels)
	for i := range s.res {
		s.res[i].reset()
	}
	for i := range s.chosen {
		s.chosen[i] = vHoltMid
		for k := range s.top[i] {
			s.top[i][k] = vHoltMid
		}
	}
	return s
}

// Bytes is the memory the series holds now, backing arrays included.
func (s *series) Bytes() int {
	n := seriesOverhead + 4*(len(s.ring)+cap(s.short.season)) + s.day.bytes() + s.week.bytes()
	for _, p := range s.pend {
		n += cap(p) * pendingSize
	}
	return n + len(s.errs)*perHorizonSize + len(s.res)*residualsSize + len(s.ens)*stackerSize
}

// maxBytes is what Bytes reaches once every lazily built season exists.
func (c *forecastConfig) maxBytes() int {
	day := int(24 * time.Hour / time.Duration(c.dayStep))
	n := seriesOverhead + 4*(c.ringCap+c.maxPeriod) + 8*day
	if c.weekly {
		n += 8 * int(7*24*time.Hour/time.Duration(c.weekStep))
	}
	for _, pc := range c.pendCap {
		n += pc*pendingSize + perHorizonSize + numModels*residualsSize + stackerSize
	}
	return n
}

// The fixed parts of a series: struct and slice headers, and per horizon the
// running errors, counters and choices.
const (
	seriesOverhead = 432
	perHorizonSize = numVariants*8 + 8 + 8 + 8 + 8 + autoTop
	pendingSize    = 8 + 4 + 4*numVariants + 4 + numModels - 1
)

// maxMagnitude bounds accepted values: the buffers are float32, and no signal
// in base units comes near it.
const maxMagnitude = 1e30

// observe takes a sample. NaN, Inf and values beyond ±1e30 are dropped and counted; a sample less
// than half a step after the previous one is a repeat (Cloud Eye serves the
// same datapoint until the next) and is ignored, as is one from the past.
func (s *series) observe(t time.Time, v float64) {
	if !finite(v) || math.Abs(v) > maxMagnitude {
		s.dropped++
		return
	}
	tn := t.UnixNano()
	if !s.started {
		s.started = true
		s.cur = -1
		s.push(tn, v)
		s.lastNanos, s.lastValue = tn, v
		return
	}
	d := tn - s.lastNanos
	if d < s.c.step/2 {
		s.repeated++
		return
	}
	g := (d + s.c.step/2) / s.c.step
	if g-1 > s.c.maxGap {
		s.restart()
		s.cur += g - 1
	} else {
		t0, v0 := s.lastNanos, s.lastValue
		for k := int64(1); k < g; k++ {
			frac := float64(k) / float64(g)
			s.push(t0+d*k/g, v0+frac*(v-v0))
		}
	}
	s.push(tn, v)
	s.lastNanos, s.lastValue = tn, v
}

// restart forgets the fine-resolution state after a long gap; the seasonal
// state is keyed by absolute time and survives.
func (s *series) restart() {
	s.ringN = 0
	s.fineN = 0
	s.linAt = -1
	s.short.period = 0
	s.restarts++
	s.day.restart()
	s.week.restart()
}

func (s *series) push(tn int64, v float64) {
	s.cur++
	s.grade(v)
	s.meanLevel += max(levelWeight, 1/float64(s.cur+1)) * (v - s.meanLevel)
	s.ring[s.cur%int64(len(s.ring))] = float32(v)
	s.ringN = min(s.ringN+1, len(s.ring))
	for i := range s.holt {
		h := &s.holt[i]
		if s.fineN == 0 {
			h.level, h.trend = v, 0
			continue
		}
		alpha, beta := holtParams(i)
		prev := h.level
		h.level = alpha*v + (1-alpha)*(h.level+holtPhi*h.trend)
		h.trend = beta*(h.level-prev) + (1-beta)*holtPhi*h.trend
	}
	s.fineN++
	s.updateShort(v)
	s.day.add(tn, v)
	if s.week.period > 0 {
		s.week.add(tn, v)
	}
	s.lastNanos, s.lastValue = tn, v
	s.issue(tn)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// forecastAll fills f with every variant's forecast for absolute time tn.
func (s *series) forecastAll(tn int64, f *[numVariants]float64) {
	ahead := float64(tn-s.lastNanos) / float64(s.c.step)
	if ahead < 0 {
		ahead = 0
	}
	for i := range s.holt {
		h := s.holt[i]
		f[vHoltSlow+i] = h.level + h.trend*holtPhi*(1-math.Pow(holtPhi, ahead))/(1-holtPhi)
	}
	f[vLinear] = s.linear(ahead)
	fallback := f[vHoltMid]
	f[vHWShort] = fallback
	if sh := &s.short; sh.period > 0 {
		k := int64(math.Round(ahead))
		f[vHWShort] = sh.level + float64(sh.season[(s.cur+k)%int64(sh.period)])
	}
	decay := math.Pow(s.c.residDecayPer, ahead)
	for i, ss := range [2]*seasonal{&s.day, &s.week} {
		f[vHWDay+i], f[vSNDay+i] = fallback, fallback
		if ss.period == 0 {
			continue
		}
		if v, ok := ss.holtWinters(tn, decay); ok {
			f[vHWDay+i] = v
		}
		if v, ok := ss.naive(tn); ok {
			f[vSNDay+i] = v
		}
	}
	s.ensemble(s.c.horizonFor(time.Duration(tn-s.lastNanos)), f)
}

// linear is predict_linear: the least-squares line through the last window
// samples, read ahead steps past the newest.
func (s *series) linear(ahead float64) float64 {
	n := min(s.ringN, s.c.window)
	if n == 0 {
		return s.lastValue
	}
	if n == 1 {
		return float64(s.ring[s.cur%int64(len(s.ring))])
	}
	if s.linAt != s.cur {
		s.linAt = s.cur
		// x runs from -(n-1) to 0 at the newest sample; walk the ring backwards
		// from the newest slot, wrapping once, to keep modulo out of the loop.
		var sy, sxy, sx, sxx float64
		pos := int(s.cur % int64(len(s.ring)))
		for k := 0; k < n; k++ {
			x := -float64(k)
			y := float64(s.ring[pos])
			sx += x
			sy += y
			sxy += x * y
			sxx += x * x
			if pos--; pos < 0 {
				pos = len(s.ring) - 1
			}
		}
		fn := float64(n)
		s.linSlope = (fn*sxy - sx*sy) / (fn*sxx - sx*sx)
		s.linIcpt = (sy - s.linSlope*sx) / fn
	}
	return s.linIcpt + s.linSlope*ahead
}

// last returns up to n newest fine samples, oldest first.
func (s *series) last(n int, buf []float64) []float64 {
	n = min(n, s.ringN)
	buf = buf[:0]
	for k := n - 1; k >= 0; k-- {
		buf = append(buf, float64(s.ring[(s.cur-int64(k))%int64(len(s.ring))]))
	}
	return buf
}

// issue records forecasts due a horizon from now, to be graded when they fall due.
func (s *series) issue(tn int64) {
	var f [numVariants]float64
	for h := range s.c.horizons {
		if s.cur%s.c.every[h] != 0 || len(s.pend[h]) == cap(s.pend[h]) {
			continue
		}
		s.forecastAll(tn+int64(s.c.horizons[h]), &f)
		p := pending{due: s.cur + s.c.hSteps[h], last: float32(s.lastValue)}
		for v := range f {
			p.f[v] = float32(max(f[v], 0))
		}
		p.auto = float32(s.auto(h, &f))
		for m, model := range Models() {
			p.fam[m] = int8(s.bestInFamily(h, model))
		}
		s.pend[h] = append(s.pend[h], p)
	}
}

// grade scores the forecasts that fall due at the current sample and updates
// each horizon's choice of model.
func (s *series) grade(actual float64) {
	w := s.c.errW
	for h := range s.pend {
		q := s.pend[h]
		drop := 0
		for drop < len(q) && q[drop].due <= s.cur {
			p := &q[drop]
			drop++
			if p.due < s.cur {
				continue // fell due inside a gap
			}
			s.gradeEnsemble(h, p, actual)
			first := s.graded[h] == 0
			for v := range p.f {
				e := math.Abs(float64(p.f[v]) - actual)
				if first {
					s.errs[h][v] = e
				} else {
					s.errs[h][v] += w * (e - s.errs[h][v])
				}
			}
			s.graded[h]++
			sm := smapeTerm(float64(p.auto), actual)
			if s.smapeN[h] == 0 {
				s.smape[h] = sm
			} else {
				s.smape[h] += w * (sm - s.smape[h])
			}
			s.smapeN[h]++
			for m := range p.fam {
				s.res[h*numModels+m].add(s.residual(float64(p.f[p.fam[m]]), actual))
			}
			s.res[h*numModels+autoIndex].add(s.residual(float64(p.auto), actual))
		}
		if drop > 0 {
			s.pend[h] = append(q[:0], q[drop:]...)
		}
		if s.graded[h] >= minGraded {
			s.rank(h)
		}
	}
}

// smapeTerm is one term of sMAPE, in 0..2; 0 when both are 0.
func smapeTerm(f, a float64) float64 {
	d := math.Abs(f) + math.Abs(a)
	if d == 0 {
		return 0
	}
	return 2 * math.Abs(f-a) / d
}

// horizonFor returns the index of the configured horizon nearest d.
func (c *forecastConfig) horizonFor(d time.Duration) int {
	best := 0
	for i, h := range c.horizons {
		if absDur(h-d) < absDur(c.horizons[best]-d) {
			best = i
		}
	}
	return best
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// bestInFamily returns the variant of model m with the lowest running error
// at horizon h, once auto trusts the errors (before that, Holt's middle speed
// stands for Holt and each family's first variant for the others).
func (s *series) bestInFamily(h int, m Model) int {
	if m == ModelHolt && s.graded[h] < minGraded {
		return vHoltMid
	}
	best := -1
	for v := 0; v < numVariants; v++ {
		if variantModel(v) != m {
			continue
		}
		if best < 0 || (s.graded[h] >= minGraded && s.errs[h][v] < s.errs[h][best]) {
			best = v
		}
	}
	return best
}

// updateShort runs the short-period model and, every maxPeriod samples, looks
// for the period again.
func (s *series) updateShort(v float64) {
	sh := &s.short
	if sh.period > 0 {
		slot := s.cur % int64(sh.period)
		old := float64(sh.season[slot])
		sh.level = shortAlpha*(v-old) + (1-shortAlpha)*sh.level
		sh.season[slot] = float32(shortGamma*(v-sh.level) + (1-shortGamma)*old)
	}
	if s.cur < sh.nextAt || s.ringN < 3*2 {
		return
	}
	sh.nextAt = s.cur + int64(s.c.maxPeriod)
	p := s.findPeriod()
	if p == sh.period {
		return
	}
	sh.period = p
	if p == 0 {
		return
	}
	// Start from the ring: level is the mean of the last period, the season
	// the mean deviation of each phase.
	if cap(sh.season) < p {
		sh.season = make([]float32, p, s.c.maxPeriod)
	}
	sh.season = sh.season[:p]
	n := s.ringN - s.ringN%p
	var mean float64
	for k := 0; k < n; k++ {
		mean += s.at(k)
	}
	mean /= float64(n)
	sums := make([]float64, p)
	for k := 0; k < n; k++ {
		sums[(s.cur-int64(k))%int64(p)] += s.at(k) - mean
	}
	for j := range sums {
		sh.season[j] = float32(sums[j] / float64(n/p))
	}
	var last float64
	for k := 0; k < p; k++ {
		last += s.at(k) - float64(sh.season[(s.cur-int64(k))%int64(p)])
	}
	sh.level = last / float64(p)
}

// at returns the sample k steps before the newest.
func (s *series) at(k int) float64 {
	return float64(s.ring[(s.cur-int64(k))%int64(len(s.ring))])
}

// findPeriod returns the lag between 2 and maxPeriod with the highest
// autocorrelation over the ring, if it is a local peak above minACF and the
// ring holds three periods of it; 0 otherwise.
func (s *series) findPeriod() int {
	n := s.ringN
	ys := make([]float64, n) // oldest first, without the ring's wrap
	var mean float64
	for k := 0; k < n; k++ {
		ys[n-1-k] = s.at(k)
		mean += ys[n-1-k]
	}
	mean /= float64(n)
	var variance float64
	for i := range ys {
		ys[i] -= mean
		variance += ys[i] * ys[i]
	}
	if variance == 0 {
		return 0
	}
	maxLag := min(s.c.maxPeriod, n/3)
	acf := func(lag int) float64 {
		var c float64
		for i := lag; i < n; i++ {
			c += ys[i] * ys[i-lag]
		}
		return c / variance
	}
	best, bestACF := 0, minACF
	prev := acf(1)
	cur := acf(2)
	for lag := 2; lag <= maxLag; lag++ {
		next := acf(lag + 1)
		if cur > bestACF && cur > prev && cur >= next {
			best, bestACF = lag, cur
		}
		prev, cur = cur, next
	}
	return best
}

// rank picks the autoTop variants with the lowest running error at horizon h.
func (s *series) rank(h int) {
	var used [numVariants]bool
	for k := 0; k < autoTop; k++ {
		best := -1
		for v := 0; v < numVariants; v++ {
			if !used[v] && (best < 0 || s.errs[h][v] < s.errs[h][best]) {
				best = v
			}
		}
		used[best] = true
		s.top[h][k] = int8(best)
	}
	s.chosen[h] = int(s.top[h][0])
}

// auto is the mean of the best-ranked variants' forecasts at horizon h
// (autoTop is 1: averaging the best two helped noisy traces but hurt the
// periodic ones, see docs/bench-scoring.md).
func (s *series) auto(h int, f *[numVariants]float64) float64 {
	var sum float64
	for _, v := range s.top[h] {
		sum += max(f[v], 0)
	}
	return sum / autoTop
}
