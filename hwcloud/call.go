package hwcloud

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/invoker"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/invoker/retry"
)

// The SDK's calls take no context. Each call therefore carries a header
// naming it, and contextTransport, the SDK's round-tripper, runs the HTTP
// request under that call's context: cancelling it (shutdown) aborts the
// request in flight. The header is sent (it is signed with the rest), and
// is harmless to the cloud.
const callHeader = "X-Flexus-Call"

// calls maps the call ids in flight to their contexts.
type calls struct {
	mu   sync.Mutex
	next atomic.Uint64
	ctx  map[string]context.Context
}

func newCalls() *calls { return &calls{ctx: map[string]context.Context{}} }

func (c *calls) begin(ctx context.Context) (id string, end func()) {
	id = strconv.FormatUint(c.next.Add(1), 36)
	c.mu.Lock()
	c.ctx[id] = ctx
	c.mu.Unlock()
	return id, func() {
		c.mu.Lock()
		delete(c.ctx, id)
		c.mu.Unlock()
	}
}

func (c *calls) lookup(id string) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx[id]
}

// contextTransport binds each request to its call's context.
type contextTransport struct {
	calls *calls
	next  http.RoundTripper
}

func (t *contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	callCtx := t.calls.lookup(req.Header.Get(callHeader))
	if callCtx == nil {
		return t.next.RoundTrip(req)
	}
	// The request keeps its own deadline (the client's timeout) and also
	// ends with the call's context; the merge lives until the body is closed.
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(callCtx, cancel)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// caller runs SDK calls of one service: bound to the caller's context,
// retried with equal-jitter exponential backoff while transient.
type caller struct {
	service   string
	max       int
	baseDelay time.Duration
	metrics   *metrics
	logger    *slog.Logger
	calls     *calls
}

// writes are the calls that change the cloud. After an ambiguous failure (a
// timeout, a 5xx) a write may have landed, so it is not resent blindly: the
// caller re-reads fresh state and decides again. Only a 429, which the cloud
// refused before doing anything, is retried here.
func isWrite(api string) bool {
	switch api {
	case "UpdateScalingGroup", "CreateServers", "DeleteServers", "BatchStartServers", "BatchStopServers", "PutWarmPool":
		return true
	}
	return false
}

// invoke runs one SDK call under ctx.
func invoke[T any](ctx context.Context, c caller, api string, bi *invoker.BaseInvoker) (*T, error) {
	strategy := retry.NewEqualJitter()
	strategy.SetBaseDelay(int32(c.baseDelay.Milliseconds()))
	write := isWrite(api)
	id, end := c.calls.begin(ctx)
	defer end()
	bi.AddHeaders(map[string]string{callHeader: id})
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s %s: %w", c.service, api, err)
		}
		res, err := bi.Invoke()
		if err == nil {
			out, ok := res.(*T)
			if !ok {
				return nil, fmt.Errorf("%s %s: unexpected response type %T", c.service, api, res)
			}
			return out, nil
		}
		if ctx.Err() != nil {
			// The call was cut short by its context: say so, not the transport's words.
			return nil, fmt.Errorf("%s %s: %w (%v)", c.service, api, ctx.Err(), err)
		}
		if attempt > c.max || !Retryable(err) || write && StatusCode(err) != http.StatusTooManyRequests {
			return nil, fmt.Errorf("%s %s: %w", c.service, api, err)
		}
		c.metrics.retries.WithLabelValues(c.service, api).Inc()
		if c.logger != nil {
			c.logger.Debug("retrying cloud request", "service", c.service, "api", api, "attempt", attempt, "err", err)
		}
		delay := time.Duration(strategy.ComputeDelayBeforeNextRetry(int32(attempt))) * time.Millisecond
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s %s: %w (after %v)", c.service, api, ctx.Err(), err)
		case <-t.C:
		}
	}
}
