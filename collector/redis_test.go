package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

func TestRedisQueueDepth(t *testing.T) {
	addr := testenv.Redis(t)
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rc.Close() })
	for i := 0; i < 7; i++ {
		rc.RPush(ctx, "jobs", i)
	}
	rc.ZAdd(ctx, "delayed", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2, Member: "b"})
	for i := 0; i < 5; i++ {
		rc.XAdd(ctx, &redis.XAddArgs{Stream: "events", Values: map[string]any{"n": i}})
	}
	if err := rc.XGroupCreate(ctx, "events", "workers", "0").Err(); err != nil {
		t.Fatal(err)
	}
	// Three entries delivered to a consumer and not acknowledged: pending.
	if err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: "w1", Streams: []string{"events", ">"}, Count: 3}).Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    config.RedisQueue
		want float64
	}{
		{"a list's depth is its length", config.RedisQueue{Key: "jobs", Type: "list"}, 7},
		{"a sorted set's depth is its cardinality", config.RedisQueue{Key: "delayed", Type: "zset"}, 2},
		{"a stream's depth is its length", config.RedisQueue{Key: "events", Type: "stream"}, 5},
		{"with a consumer group, the pending entries", config.RedisQueue{Key: "events", Type: "stream", ConsumerGroup: "workers"}, 3},
		{"a missing key is an empty queue", config.RedisQueue{Key: "nothing", Type: "list"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Address, tc.q.Timeout = addr, 2*time.Second
			q := newRedisQueue(tc.q)
			defer q.close()
			got, err := q.depth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("depth %v, want %v", got, tc.want)
			}
		})
	}
}

// proxy forwards a loopback port to Redis and can be cut and restored, so a
// test can take "Redis" down and bring it back on the same address.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, addr: testenv.FreePort(t), target: target}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *proxy) up() {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, r)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(r, c); r.Close() }()
			go func() { _, _ = io.Copy(c, r); c.Close() }()
		}
	}()
}

func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestRedisDownAndBack(t *testing.T) {
	target := testenv.Redis(t)
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: target})
	t.Cleanup(func() { _ = rc.Close() })
	rc.RPush(ctx, "queue:gpu-pool", 1, 2, 3)
	px := newProxy(t, target)

	h := newHarness(t, unitConfig+`
    queue:
      redis: {address: "`+px.addr+`", key: "queue:gpu-pool", timeout: 500ms}
`)
	h.seed()
	if err := h.step(); err != nil {
		t.Fatal(err)
	}
	h.compare(`
# HELP flexus_queue_depth Raw queue depth of the group by source.
# TYPE flexus_queue_depth gauge
flexus_queue_depth{group="gpu-pool",source="redis"} 3
`, "flexus_queue_depth")

	// Redis goes away: the last depth is served until it is stale, then removed.
	px.down()
	h.clk.Advance(time.Minute)
	if err := h.step(); err == nil {
		t.Fatal("a collection with Redis down reported no error")
	}
	h.compare(`
# HELP flexus_collection_success 1 when the last collection of the source succeeded.
# TYPE flexus_collection_success gauge
flexus_collection_success{source="cloudeye"} 1
flexus_collection_success{source="dimensions"} 1
flexus_collection_success{source="discovery"} 1
flexus_collection_success{source="queue"} 0
flexus_collection_success{source="scoring"} 1
`, "flexus_collection_success")
	if n := testutil.CollectAndCount(h.loop, "flexus_queue_depth"); n != 1 {
		t.Errorf("Redis down for 1m: %d queue series, want the last depth, still fresh", n)
	}
	h.clk.Advance(5 * time.Minute)
	_ = h.step()
	if n := testutil.CollectAndCount(h.loop, "flexus_queue_depth"); n != 0 {
		t.Errorf("Redis down for 6m: %d queue series, want none (stale)", n)
	}

	// Back on the same address: the queue reappears with its current depth.
	// go-redis redials a failed pool in the background about once a second;
	// the exporter's next cycles pick it up. Bounded: at most 10 cycles.
	px.up()
	rc.RPush(ctx, "queue:gpu-pool", 4)
	var err error
	for i := 0; i < 10; i++ {
		h.clk.Advance(time.Minute)
		h.data(h.clk.Now().Add(-70*time.Second), 50)
		if err = h.step(); err == nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Redis back for 10 cycles, still failing: %v", err)
	}
	h.compare(`
# HELP flexus_queue_depth Raw queue depth of the group by source.
# TYPE flexus_queue_depth gauge
flexus_queue_depth{group="gpu-pool",source="redis"} 4
`, "flexus_queue_depth")
}

func TestGoRedisLinesFollowTheProcessLogFormat(t *testing.T) {
	var buf bytes.Buffer
	l := RedisLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %s", 5, "connection refused")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if line["msg"] != "redis: connection pool: failed to dial after 5 attempts: connection refused" || line["component"] != "redis" {
		t.Errorf("line %v, want the formatted message with component=redis", line)
	}
}
