package hwcloud

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Budget is a CloudEye's request budget: a token bucket each call takes from
// first, a bound on the calls in flight, and the batch size Series is cut
// into (the smaller batches spread over parallel calls). Batches are cut
// further, and long windows sliced, to Cloud Eye's 3000-point rule.
type Budget struct {
	Limiter        *rate.Limiter
	Concurrency    int
	MetricsPerCall int
	// Waited, when set, is told how long each call waited for its token.
	Waited func(time.Duration)
	// Called, when set, is told of every call made.
	Called func()
}

// Throttle wraps a CloudEye in a budget. A listing (Metrics) takes one token
// for all its pages: it is a handful of calls for a whole account.
func Throttle(next CloudEye, b Budget) CloudEye {
	b.Concurrency = max(b.Concurrency, 1)
	if b.MetricsPerCall <= 0 || b.MetricsPerCall > MaxMetricsPerCall {
		b.MetricsPerCall = MaxMetricsPerCall
	}
	return &throttled{next: next, b: b, slots: make(chan struct{}, b.Concurrency)}
}

type throttled struct {
	next  CloudEye
	b     Budget
	slots chan struct{}
}

var _ CloudEye = (*throttled)(nil)

// acquire takes a slot and a token; release gives the slot back.
func (t *throttled) acquire(ctx context.Context) (release func(), err error) {
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("cloudeye: waiting for a call slot: %w", ctx.Err())
	}
	if t.b.Limiter != nil {
		start := time.Now()
		err := t.b.Limiter.Wait(ctx)
		if t.b.Waited != nil {
			t.b.Waited(time.Since(start))
		}
		if err != nil {
			<-t.slots
			return nil, fmt.Errorf("cloudeye: waiting for the request budget: %w", err)
		}
	}
	if t.b.Called != nil {
		t.b.Called()
	}
	return func() { <-t.slots }, nil
}

func (t *throttled) Series(ctx context.Context, metrics []Metric, period string, from, to time.Time) ([]Series, error) {
	var (
		mu   sync.Mutex
		out  []Series
		errs []error
		wg   sync.WaitGroup
	)
	for _, call := range planSeries(len(metrics), t.b.MetricsPerCall, period, from, to) {
		batch := metrics[call.lo:call.hi]
		release, err := t.acquire(ctx)
		if err != nil {
			errs = append(errs, err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release()
			got, err := t.next.Series(ctx, batch, period, call.from, call.to)
			mu.Lock()
			defer mu.Unlock()
			out = append(out, got...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return mergeSeries(out), errors.Join(errs...)
}

func (t *throttled) Metrics(ctx context.Context, namespace, name string) ([]Metric, error) {
	release, err := t.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return t.next.Metrics(ctx, namespace, name)
}

func (t *throttled) AgentDimensions(ctx context.Context, instanceID, dim string) (map[string]string, error) {
	release, err := t.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return t.next.AgentDimensions(ctx, instanceID, dim)
}
