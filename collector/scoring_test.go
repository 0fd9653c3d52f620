package collector

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/scoring"
)

func TestForecastQuantilesArePublishedBesideThePointForecast(t *testing.T) {
	known := [scoring.NumQuantiles]float64{1, 2, 3, 4, 5}
	unknown := [scoring.NumQuantiles]float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	res := scoring.Result{Signals: []scoring.SignalResult{{
		Signal: scoring.CPU, Fresh: true,
		Forecasts: []scoring.Forecast{
			{Horizon: 5 * time.Minute, Model: scoring.ModelAuto, Value: 2.5, Quantiles: known},
			{Horizon: time.Hour, Model: scoring.ModelAuto, Value: 7, Quantiles: unknown},
			{Horizon: 5 * time.Minute, Model: scoring.ModelHolt, Value: 2.4, Quantiles: known},
		},
	}}}
	d := newDescs()
	b := newBuilder()
	b.publishComputed(d, "web", &config.Group{}, scoring.Defaults(), res)
	if err := b.snap.encode(d.info); err != nil {
		t.Fatal(err)
	}
	text := string(b.snap.text)
	for _, tc := range []struct {
		rule, line string
		want       bool
	}{
		{"the point forecast keeps no quantile label", `flexus_forecast{group="web",horizon="5m",model="auto",signal="cpu"} 2.5`, true},
		{"auto's quantiles carry their level", `flexus_forecast{group="web",horizon="5m",model="auto",quantile="0.05",signal="cpu"} 1`, true},
		{"the 0.99 quantile is published", `flexus_forecast{group="web",horizon="5m",model="auto",quantile="0.99",signal="cpu"} 5`, true},
		{"quantiles not yet known are left out", `flexus_forecast{group="web",horizon="1h",model="auto",quantile=`, false},
		{"concrete models publish their point forecast only", `flexus_forecast{group="web",horizon="5m",model="holt",quantile=`, false},
	} {
		if got := strings.Contains(text, tc.line); got != tc.want {
			t.Errorf("%s: %q present %v, want %v in\n%s", tc.rule, tc.line, got, tc.want, text)
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	if n := len(fams["flexus_forecast"].GetMetric()); n != 2+5+1 {
		t.Errorf("flexus_forecast has %d series, want 3 point forecasts and 5 quantiles as one family", n)
	}
}
