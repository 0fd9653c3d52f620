package hwcloud

import (
	"context"
	"time"
)

// The interfaces below are the cloud as the project sees it: context-first,
// in its own terms, with paging, chunking, retries and error classification
// done behind them. hwcloudtest.Fake implements all three for unit tests;
// integration tests use New against simcloud.

// AutoScaling is an Auto Scaling group.
type AutoScaling interface {
	// Group shows the scaling group: its counts, bounds and status.
	Group(ctx context.Context, groupID string) (Group, error)
	// Members lists every instance of the group, all pages.
	Members(ctx context.Context, groupID string) ([]Member, error)
	// Activities lists up to limit scaling activities started since since.
	Activities(ctx context.Context, groupID string, since time.Time, limit int) ([]Activity, error)
	// SetDesired sets the group's desired instance count. The count is
	// absolute, so a repeat after a lost answer changes nothing.
	SetDesired(ctx context.Context, groupID string, desired int) error
	// WarmPool is the size of the group's own warm pool (ShowWarmPool), 0
	// when it has none; PutWarmPool sets it (min and max capacity alike).
	WarmPool(ctx context.Context, groupID string) (int, error)
	PutWarmPool(ctx context.Context, groupID string, size int) error
}

// Servers are ECS (Flexus X) servers.
type Servers interface {
	// Tagged lists every server carrying the tag key=value, all pages. The tag
	// is checked again on each server: a filter the API ignored must never
	// widen what a caller deletes.
	Tagged(ctx context.Context, key, value string) ([]Server, error)
	// Lookup returns each of ids that still exists, by id: flavour, name,
	// private address and tags, which AS does not report for its members.
	Lookup(ctx context.Context, ids []string) (map[string]Server, error)
	// Create asks for spec.Count servers. token deduplicates a resent request
	// on the cloud's side; empty sends none.
	Create(ctx context.Context, spec ServerSpec, token string) (Created, error)
	// Delete deletes the servers with their volumes and public IPs and
	// returns the job, "" when the cloud gave none.
	Delete(ctx context.Context, ids []string) (jobID string, err error)
	// Job shows an ECS job.
	Job(ctx context.Context, jobID string) (Job, error)
	// Start starts stopped servers (BatchStartServers) and Stop stops
	// running ones (BatchStopServers, SOFT); each returns the job. ECS
	// refuses the whole request (400 Ecs.1000) when a server is not in the
	// state the action needs.
	Start(ctx context.Context, ids []string) (jobID string, err error)
	Stop(ctx context.Context, ids []string) (jobID string, err error)
}

// CloudEye is Cloud Eye's metric data.
type CloudEye interface {
	// Series reads the averaged datapoints of every metric in [from, to] at
	// period ("1", "300", "3600", ...), in as many calls as the per-call
	// limit needs. A failed call leaves its metrics out of the answer and
	// joins its error to the one returned.
	Series(ctx context.Context, metrics []Metric, period string, from, to time.Time) ([]Series, error)
	// Metrics lists the metrics published under namespace and name, all pages.
	Metrics(ctx context.Context, namespace, name string) ([]Metric, error)
	// AgentDimensions maps an instance's hashed agent dimension values of
	// kind dim (gpu, mount_point, disk, proc or raid; not npu) to the real
	// values: PCI ids, mount points, disk names.
	AgentDimensions(ctx context.Context, instanceID, dim string) (map[string]string, error)
}

// Group is a scaling group. Counts the cloud left out are -1.
type Group struct {
	ID               string
	Desired, Current int
	Min, Max         int
	Status           string // INSERVICE, PAUSED, ERROR, DELETING
	Scaling          bool   // AS says an activity is under way
}

// Member is an instance of a scaling group. ID is empty while AS is still
// creating the server.
type Member struct {
	ID, Name string
	// State is AS's lifecycle state: INSERVICE, PENDING, REMOVING, ...
	State string
}

// Joining reports an instance still joining its group, not yet serving:
// PENDING while it boots, PENDING_WAIT while a lifecycle hook holds it
// (docs/cloud-api.md, as-lifecycle).
func (m Member) Joining() bool { return m.State == "PENDING" || m.State == "PENDING_WAIT" }

// Activity is a scaling activity. Values the cloud left out are -1.
type Activity struct {
	Status     string // SUCCESS, FAIL, DOING
	Start, End time.Time
	// Added and Removed tell whether instances were added, or removed or deleted.
	Added, Removed bool
	// Desired and Instances are the group's desired and actual counts it worked from.
	Desired, Instances int
	// Change is the signed scaling value, 0 when the cloud did not say.
	Change int
}

// Server is an ECS server.
type Server struct {
	ID, Name, Flavor string
	// PrivateIP is the server's first fixed IPv4 address.
	PrivateIP        string
	Status           string // ACTIVE, BUILD, SHUTOFF, DELETED, ...
	Task             string // OS-EXT-STS:task_state
	Created, Updated time.Time
	// Launched is when the server came up; zero when the API does not say.
	Launched time.Time
	// Tags are the server's tags and metadata.
	Tags map[string]string
}

// Tag is a server tag.
type Tag struct{ Key, Value string }

// ServerSpec is what Create builds.
type ServerSpec struct {
	Count                            int
	NamePrefix, ImageID, Flavor      string
	VPCID, SubnetID, SecurityGroupID string
	AvailabilityZone                 string
	RootVolumeType                   string
	RootVolumeGB                     int
	Spot                             bool
	// SpotPrice is a spot server's highest price per hour (extendparam.spotPrice);
	// empty bids the on-demand price.
	SpotPrice string
	// Tags go on every server, in this order.
	Tags []Tag
}

// MaxServersPerCreate is the most servers one CreateServers call creates
// (docs/cloud-api.md, ecs-create-count); a larger Create is refused.
const MaxServersPerCreate = 100

// Created is what a Create was answered.
type Created struct {
	IDs   []string
	JobID string
}

// Job is an ECS job and what its sub-jobs did per server.
type Job struct {
	ID         string
	Status     string // RUNNING, SUCCESS, FAIL, INIT
	FailReason string
	// End is when the job ended (end_time); zero while it runs.
	End time.Time
	// Succeeded and Failed name the servers of the finished sub-jobs; a
	// sub-job that failed before it had a server is named "".
	Succeeded, Failed []string
}

// Done reports a job that ended.
func (j Job) Done() bool { return j.Status == "SUCCESS" || j.Status == "FAIL" }

// Dim is a metric dimension.
type Dim struct{ Name, Value string }

// Metric names one Cloud Eye series.
type Metric struct {
	Namespace, Name string
	Dims            []Dim
}

// Point is one datapoint.
type Point struct {
	At    time.Time
	Value float64
}

// Series is a metric's datapoints, oldest first.
type Series struct {
	Metric
	Points []Point
}
