package scoring

import (
	"math"
	"testing"
	"time"
)

// BenchmarkForecastObserve is the cost of one sample on one warm series with
// the default forecast settings (one-minute step, horizons 5m, 15m and 1h,
// weekly season on): every model, the ensemble's regression and the grading
// of the forecasts that fall due. The exporter pays it once per group and
// signal per collection; the backtest once per signal per virtual minute.
func BenchmarkForecastObserve(b *testing.B) {
	s := newSeries(newForecastConfig(Defaults().Forecast, 10))
	value := func(i int) float64 {
		day := 2 * math.Pi * float64(i) / 1440
		return 100 + 40*math.Sin(day) + 5*math.Sin(float64(i)*1.7)
	}
	i := 0
	// Eight days: the daily and weekly seasons are built and the ensemble fitted.
	for ; i < 8*1440; i++ {
		s.observe(t0.Add(time.Duration(i)*time.Minute), value(i))
	}
	b.ReportAllocs()
	for b.Loop() {
		s.observe(t0.Add(time.Duration(i)*time.Minute), value(i))
		i++
	}
}

// BenchmarkForecastAll is the cost of reading every model's forecast at one
// horizon, as the exporter does per horizon each cycle.
func BenchmarkForecastAll(b *testing.B) {
	s := newSeries(newForecastConfig(Defaults().Forecast, 10))
	var at time.Time
	for i := 0; i < 8*1440; i++ {
		at = t0.Add(time.Duration(i) * time.Minute)
		s.observe(at, 100+40*math.Sin(2*math.Pi*float64(i)/1440))
	}
	var f [numVariants]float64
	b.ReportAllocs()
	for b.Loop() {
		s.forecastAll(at.Add(15*time.Minute).UnixNano(), &f)
	}
}
