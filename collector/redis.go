package collector

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/flexus-autoscaler/flexus/config"
)

// redisQueue reads a group's queue depth from one Redis key.
type redisQueue struct {
	cfg    config.RedisQueue
	client *redis.Client
}

func newRedisQueue(cfg config.RedisQueue) *redisQueue {
	return &redisQueue{cfg: cfg, client: redis.NewClient(&redis.Options{
		Addr:         cfg.Address,
		Username:     cfg.Username,
		Password:     string(cfg.Password),
		DB:           cfg.DB,
		DialTimeout:  cfg.Timeout,
		ReadTimeout:  cfg.Timeout,
		WriteTimeout: cfg.Timeout,
		// One attempt per cycle: the next cycle is the retry, and a dead Redis
		// must not hold the collection.
		MaxRetries: -1,
		PoolSize:   2,
	})}
}

// depth is LLEN for a list, XLEN for a stream (or the pending count of its
// consumer group), ZCARD for a sorted set. A missing key is an empty queue.
func (q *redisQueue) depth(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
	defer cancel()
	var (
		n   int64
		err error
	)
	switch q.cfg.Type {
	case "list":
		n, err = q.client.LLen(ctx, q.cfg.Key).Result()
	case "zset":
		n, err = q.client.ZCard(ctx, q.cfg.Key).Result()
	case "stream":
		if q.cfg.ConsumerGroup == "" {
			n, err = q.client.XLen(ctx, q.cfg.Key).Result()
			break
		}
		var p *redis.XPending
		p, err = q.client.XPending(ctx, q.cfg.Key, q.cfg.ConsumerGroup).Result()
		if err == nil {
			n = p.Count
		}
	default:
		return 0, fmt.Errorf("queue: redis type %q is unknown", q.cfg.Type)
	}
	if err != nil {
		return 0, fmt.Errorf("queue: redis %s key %q (%s): %w", q.cfg.Address, q.cfg.Key, q.cfg.Type, err)
	}
	return float64(n), nil
}

func (q *redisQueue) close() { _ = q.client.Close() }

// RedisLogger routes go-redis's own messages (pool and handshake notes)
// through the process logger, so --log.format=json stays JSON. go-redis
// takes it only process-wide (redis.SetLogger), which main does once.
func RedisLogger(logger *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{logger}
}

type redisLogger struct{ logger *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.logger.InfoContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}
