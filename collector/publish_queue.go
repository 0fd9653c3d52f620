package collector

import "github.com/flexus-autoscaler/flexus/config"

// publishQueue publishes the group's raw queue depth, labelled by its source,
// and returns it as the queue signal while fresh. A Redis depth was read beside
// Cloud Eye and kept in the group's state (redis, redisOK); a DMS depth is a
// Cloud Eye series of this cycle.
func (b *builder) publishQueue(d *descs, group string, q *config.Queue, redis point, redisOK bool, v cycleView) (point, bool) {
	if q == nil {
		return point{}, false
	}
	var p point
	ok := false
	source := "redis"
	switch {
	case q.Redis != nil:
		p, ok = redis, redisOK && v.fresh(redis)
	case q.DMS != nil:
		source = dmsSource(q.DMS)
		p, ok = v.sample(dmsQuery(q.DMS).key)
	}
	if !ok {
		return point{}, false
	}
	b.group(d.queueDepth, p.value, group, source)
	return p, true
}
