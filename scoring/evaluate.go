package scoring

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"time"
)

// EvalOptions tune a rolling-origin forecast evaluation.
type EvalOptions struct {
	// Horizons to grade; a horizon that is not a whole number of steps is skipped.
	Horizons []time.Duration
	// MinHistory is the number of samples seen before the first origin (default 10).
	MinHistory int
	// LinearWindow is the `linear` model's window, predict_linear's range (default 1h).
	LinearWindow time.Duration
	// Bounds adds BoundModels(): what forecasters that see the future score,
	// to tell a weak model from an unforecastable trace.
	Bounds bool
}

// EvalScore is the accuracy of one model at one horizon.
type EvalScore struct {
	SMAPE   float64 `json:"smape"` // mean of 2|f-a|/(|f|+|a|), 0..2
	MASE    float64 `json:"mase"`  // MAE over the in-sample one-step naive MAE
	Origins int     `json:"origins"`
	// Pinball is the mean pinball (quantile) loss over QuantileLevels, in the
	// trace's unit; lower is better, and for one level it is the absolute error
	// weighted by the level on the side the actual fell.
	Pinball float64 `json:"pinball"`
	// IntervalCoverage90 is the share of actuals inside the central 90%
	// interval (quantiles 0.05 to 0.95); 0.9 is calibrated.
	IntervalCoverage90 float64 `json:"interval_coverage_90"`
	// QuantileOrigins are the origins with quantiles (the model had been
	// graded often enough); Pinball and IntervalCoverage90 are over them, and
	// 0 when there are none.
	QuantileOrigins int `json:"quantile_origins"`
	// WorstShare is the share of the summed sMAPE in the worst 1% of origins.
	WorstShare float64 `json:"worst_1pct_share"`
}

// EvalHorizon is the evaluation at one horizon.
type EvalHorizon struct {
	Horizon time.Duration
	// Skipped says why the horizon was not evaluated, empty when it was.
	Skipped string
	Scores  map[Model]EvalScore
	// AutoChoices counts the origins at which auto stood for each model.
	AutoChoices map[Model]int
}

// EvalReport is a rolling-origin evaluation of every model on one series.
type EvalReport struct {
	Samples  int
	Step     time.Duration
	Horizons []EvalHorizon
}

// EvaluateForecasts runs the forecasters over values (evenly spaced by step from
// start) exactly as a live series would see them: at every origin after
// MinHistory it forecasts each horizon with every model and auto, using only
// the past (auto's choice comes from past graded forecasts), and compares with
// the value that followed. Negative forecasts count as 0, as published.
func EvaluateForecasts(values []float64, start time.Time, step time.Duration, opts EvalOptions) (EvalReport, error) {
	if step <= 0 {
		return EvalReport{}, fmt.Errorf("scoring: evaluation step %v must be positive", step)
	}
	if len(opts.Horizons) == 0 {
		return EvalReport{}, errors.New("scoring: evaluation needs at least one horizon")
	}
	if opts.MinHistory == 0 {
		opts.MinHistory = 10
	}
	if opts.LinearWindow == 0 {
		opts.LinearWindow = time.Hour
	}
	rep := EvalReport{Samples: len(values), Step: step}
	fp := Defaults().Forecast
	fp.Step = step
	fp.LinearWindow = max(opts.LinearWindow, step)
	fp.CoarseStep = coarseStepFor(step)
	fp.WeeklyStep = max(fp.CoarseStep, time.Hour)
	if step > 15*time.Minute {
		// Hourly buckets would average a 30-minute trace's own samples away.
		fp.WeeklyStep = fp.CoarseStep
	}
	fp.Horizons = nil
	var hIdx []int // report horizon -> forecaster horizon index, -1 when skipped
	for _, h := range opts.Horizons {
		eh := EvalHorizon{Horizon: h}
		switch {
		case h <= 0:
			eh.Skipped = "not positive"
		case h%step != 0:
			eh.Skipped = fmt.Sprintf("not a multiple of the trace step %v", step)
		case int(h/step) >= len(values)-opts.MinHistory:
			eh.Skipped = fmt.Sprintf("the trace (%d samples of %v) is too short", len(values), step)
		}
		if eh.Skipped != "" {
			hIdx = append(hIdx, -1)
		} else {
			hIdx = append(hIdx, len(fp.Horizons))
			fp.Horizons = append(fp.Horizons, h)
		}
		rep.Horizons = append(rep.Horizons, eh)
	}
	if len(fp.Horizons) == 0 {
		return rep, nil
	}
	if errs := fp.validate(); len(errs) > 0 {
		return EvalReport{}, fmt.Errorf("scoring: evaluation: %w", errors.Join(errs...))
	}
	var scale float64
	for i := 1; i < len(values); i++ {
		scale += math.Abs(values[i] - values[i-1])
	}
	scale /= float64(len(values) - 1)

	models := append(Models(), ModelEnsemble, ModelAuto)
	type acc struct {
		smape, abs, pinball float64
		covered, qn         int
	}
	levels := QuantileLevels()
	terms := make([][][]float64, len(fp.Horizons)) // per horizon and model, for WorstShare
	sums := make([][]acc, len(fp.Horizons))
	counts := make([]int, len(fp.Horizons))
	choices := make([]map[Model]int, len(fp.Horizons))
	for h := range sums {
		sums[h] = make([]acc, len(models))
		terms[h] = make([][]float64, len(models))
		choices[h] = map[Model]int{}
	}
	st := newSeries(newForecastConfig(fp, 10))
	var f [numVariants]float64
	var q [NumQuantiles]float64
	for i, v := range values {
		t := start.Add(time.Duration(i) * step)
		st.observe(t, v)
		if i+1 < opts.MinHistory {
			continue
		}
		for h, d := range fp.Horizons {
			j := i + int(d/step)
			if j >= len(values) {
				continue
			}
			actual := values[j]
			st.forecastAll(t.Add(d).UnixNano(), &f)
			for k, m := range models {
				var fv float64
				if m == ModelAuto {
					fv = st.auto(h, &f)
				} else {
					fv = f[st.bestInFamily(h, m)]
				}
				fv = math.Max(fv, 0)
				a := &sums[h][k]
				sm := smapeTerm(fv, actual)
				a.smape += sm
				terms[h][k] = append(terms[h][k], sm)
				a.abs += math.Abs(fv - actual)
				if m == ModelEnsemble {
					continue // auto carries its quantiles; it has no residual ring of its own
				}
				if st.quantiles(h, modelIndex(m), fv, &q); !math.IsNaN(q[0]) {
					a.qn++
					var pl float64
					for j, l := range levels {
						pl += pinball(q[j], actual, l)
					}
					a.pinball += pl / NumQuantiles
					if q[iP05] <= actual && actual <= q[iP95] {
						a.covered++
					}
				}
			}
			choices[h][variantModel(st.chosen[h])]++
			counts[h]++
		}
	}
	for r, h := range hIdx {
		if h < 0 {
			continue
		}
		eh := &rep.Horizons[r]
		eh.Scores = map[Model]EvalScore{}
		eh.AutoChoices = choices[h]
		if counts[h] == 0 {
			eh.Skipped = "no origin has a value a horizon later"
			continue
		}
		for k, m := range models {
			n := float64(counts[h])
			mase := math.NaN()
			if scale > 0 {
				mase = sums[h][k].abs / n / scale
			}
			a := sums[h][k]
			sc := EvalScore{SMAPE: a.smape / n, MASE: mase, Origins: counts[h], QuantileOrigins: a.qn, WorstShare: worstShare(terms[h][k])}
			if a.qn > 0 {
				sc.Pinball = a.pinball / float64(a.qn)
				sc.IntervalCoverage90 = float64(a.covered) / float64(a.qn)
			}
			eh.Scores[m] = sc
		}
		if opts.Bounds {
			if b, ok := hindsightBounds(values, step, int(eh.Horizon/step), scale); ok {
				maps.Copy(eh.Scores, b)
			}
		}
	}
	return rep, nil
}

// pinball is the quantile loss of quantile forecast q at level l against actual a.
func pinball(q, a, l float64) float64 {
	if a >= q {
		return l * (a - q)
	}
	return (1 - l) * (q - a)
}

// coarseStepFor is the smallest multiple of step, at least 15m, that divides 24h.
func coarseStepFor(step time.Duration) time.Duration {
	for c := step; c <= 24*time.Hour; c += step {
		if c >= 15*time.Minute && (24*time.Hour)%c == 0 {
			return c
		}
	}
	return 24 * time.Hour
}
