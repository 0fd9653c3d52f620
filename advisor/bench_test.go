package advisor

import (
	"context"
	"testing"
)

// BenchmarkParseAndGuardrails is the CPU cost of judging one answer, without the network.
func BenchmarkParseAndGuardrails(b *testing.B) {
	seed := SeedSettings()
	for b.Loop() {
		a, err := parseAnswer("```json\n"+goodAnswer+"\n```", Signals())
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := applyGuardrails(a, seed, Signals()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAdviseLoopback is one full round for one group against a local endpoint:
// summary encoding, go-openai request, parsing, guardrails, bookkeeping.
func BenchmarkAdviseLoopback(b *testing.B) {
	m, srv := newFakeModel(b)
	m.answer(goodAnswer)
	a, err := New(testConfig(srv, ModeApply), nil, getenv, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := testSummary("web")
	for b.Loop() {
		if _, err := a.Advise(context.Background(), t0, s); err != nil {
			b.Fatal(err)
		}
	}
	data, _ := s.promptJSON()
	b.ReportMetric(float64(len(data)), "summary-bytes")
}
