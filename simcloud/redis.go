package simcloud

import (
	"context"
	"fmt"
	"log/slog"
	"math"

	"github.com/redis/go-redis/v9"

	"github.com/flexus-autoscaler/flexus/simcloud/world"
)

// redisMirror keeps, for each group with a redis_key, a Redis list as long
// as the group's queue, so queue collectors read real Redis.
type redisMirror struct {
	c      *redis.Client
	max    int
	logger *slog.Logger
}

func newRedisMirror(cfg RedisConfig, logger *slog.Logger) *redisMirror {
	return &redisMirror{
		c:      redis.NewClient(&redis.Options{Addr: cfg.Address, Password: string(cfg.Password), DB: cfg.DB}),
		max:    cfg.MaxItems,
		logger: logger,
	}
}

func (m *redisMirror) sync(ctx context.Context, groups []world.GroupState) error {
	for _, g := range groups {
		if g.RedisKey == "" {
			continue
		}
		want := int64(min(math.Round(g.Queue), float64(m.max)))
		have, err := m.c.LLen(ctx, g.RedisKey).Result()
		if err != nil {
			return fmt.Errorf("redis LLEN %s: %w", g.RedisKey, err)
		}
		switch {
		case want == 0 && have > 0:
			err = m.c.Del(ctx, g.RedisKey).Err()
		case want < have:
			err = m.c.LTrim(ctx, g.RedisKey, 0, want-1).Err()
		case want > have:
			for n := want - have; n > 0 && err == nil; {
				chunk := min(n, 1000)
				items := make([]any, chunk)
				for i := range items {
					items[i] = "simcloud-request"
				}
				err = m.c.RPush(ctx, g.RedisKey, items...).Err()
				n -= chunk
			}
		}
		if err != nil {
			return fmt.Errorf("redis mirror of %s: %w", g.RedisKey, err)
		}
	}
	return nil
}

func (m *redisMirror) close() { _ = m.c.Close() }
