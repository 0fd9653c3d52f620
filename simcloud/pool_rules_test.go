package simcloud_test

import (
	"math"
	"testing"
	"time"

	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"

	"github.com/flexus-autoscaler/flexus/simcloud/simcloudtest"
)

func startServers(env *simcloudtest.Env, ids ...string) (*ecsmodel.BatchStartServersResponse, error) {
	return env.ECS().BatchStartServers(&ecsmodel.BatchStartServersRequest{Body: &ecsmodel.BatchStartServersRequestBody{
		OsStart: &ecsmodel.BatchStartServersOption{Servers: serverIDList(ids)}}})
}

func stopServers(env *simcloudtest.Env, ids ...string) (*ecsmodel.BatchStopServersResponse, error) {
	return env.ECS().BatchStopServers(&ecsmodel.BatchStopServersRequest{Body: &ecsmodel.BatchStopServersRequestBody{
		OsStop: &ecsmodel.BatchStopServersOption{Servers: serverIDList(ids)}}})
}

func serverIDList(ids []string) []ecsmodel.ServerId {
	out := make([]ecsmodel.ServerId, len(ids))
	for i, id := range ids {
		out[i] = ecsmodel.ServerId{Id: id}
	}
	return out
}

// serverStatus is a server's status and task_state as ListServersDetails shows them.
func serverStatus(t *testing.T, env *simcloudtest.Env, id string) (string, string) {
	t.Helper()
	resp, err := env.ECS().ListServersDetails(&ecsmodel.ListServersDetailsRequest{ServerId: &id})
	if err != nil || resp.Servers == nil || len(*resp.Servers) != 1 {
		t.Fatalf("listing %s: %v", id, err)
	}
	s := (*resp.Servers)[0]
	return s.Status, s.OSEXTSTStaskState
}

// ecs-power-state: a start of a server that is not stopped, or a stop of
// one that is not running, refuses the whole request and acts on none.
func checkPowerState(t *testing.T) {
	env, clk := start(t)
	ids := instanceIDs(t, env, "web")
	_, err := startServers(env, ids[0])
	wantServiceError(t, err, 400, "Ecs.1000") // running: nothing to start
	if _, err := stopServers(env, ids[0]); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if st, task := serverStatus(t, env, ids[0]); st != "SHUTOFF" || task != "" {
		t.Fatalf("stopped server: %s/%q, want SHUTOFF with no task", st, task)
	}
	_, err = stopServers(env, ids[0])
	wantServiceError(t, err, 400, "Ecs.1000") // already stopped
	// One server in the wrong state refuses the batch: the stopped one does not start.
	_, err = startServers(env, ids[0], ids[1])
	wantServiceError(t, err, 400, "Ecs.1000")
	if st, _ := serverStatus(t, env, ids[0]); st != "SHUTOFF" {
		t.Fatalf("a refused batch started %s: %s", ids[0], st)
	}
	if _, err := startServers(env, ids[0]); err != nil {
		t.Fatal(err)
	}
	_, err = startServers(env, ids[0]) // sent again while it powers on
	wantServiceError(t, err, 400, "Ecs.1000")
}

// ecs-power-job: start and stop answer a job that runs until the servers
// serve or are off, then ends SUCCESS with an end_time.
func checkPowerJob(t *testing.T) {
	env, clk := start(t)
	id := instanceIDs(t, env, "web")[0]
	stop, err := stopServers(env, id)
	if err != nil || stop.JobId == nil {
		t.Fatalf("stop: %v", err)
	}
	if st, task := serverStatus(t, env, id); st != "ACTIVE" || task != "powering-off" {
		t.Fatalf("while stopping: %s/%q, want ACTIVE powering-off", st, task)
	}
	job, _ := env.ECS().ShowJob(&ecsmodel.ShowJobRequest{JobId: *stop.JobId})
	if job.Status.Value() != "RUNNING" {
		t.Fatalf("stop job while stopping: %s, want RUNNING", job.Status.Value())
	}
	clk.Advance(time.Minute)
	job, _ = env.ECS().ShowJob(&ecsmodel.ShowJobRequest{JobId: *stop.JobId})
	if job.Status.Value() != "SUCCESS" || job.EndTime == nil || *job.EndTime == "" {
		t.Fatalf("stop job after a minute: %s, end %v; want SUCCESS with an end", job.Status.Value(), job.EndTime)
	}
	started, err := startServers(env, id)
	if err != nil || started.JobId == nil {
		t.Fatalf("start: %v", err)
	}
	if st, task := serverStatus(t, env, id); st != "SHUTOFF" || task != "powering-on" {
		t.Fatalf("while starting: %s/%q, want SHUTOFF powering-on", st, task)
	}
	job, _ = env.ECS().ShowJob(&ecsmodel.ShowJobRequest{JobId: *started.JobId})
	if job.Status.Value() != "RUNNING" {
		t.Fatalf("start job while starting: %s, want RUNNING", job.Status.Value())
	}
	clk.Advance(time.Minute)
	job, _ = env.ECS().ShowJob(&ecsmodel.ShowJobRequest{JobId: *started.JobId})
	if st, _ := serverStatus(t, env, id); job.Status.Value() != "SUCCESS" || st != "ACTIVE" {
		t.Fatalf("start job after a minute: %s, server %s; want SUCCESS and ACTIVE", job.Status.Value(), st)
	}
}

// ecs-stopped-billing: a stopped server costs its disk only.
func checkStoppedBilling(t *testing.T) {
	env, clk := start(t)
	ids := instanceIDs(t, env, "web")
	if _, err := stopServers(env, ids[0]); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute) // the stop ends (10 s, billed in full)
	cost := func() float64 {
		env.World.Advance(clk.Now())
		g, err := env.World.Group("web")
		if err != nil {
			t.Fatal(err)
		}
		return g.Cost
	}
	before := cost()
	clk.Advance(time.Hour)
	// x1.2u.4g: 0.25 CNY an hour running; its 40 GB disk at 0.35 a GB-month stopped.
	want := 0.25*float64(len(ids)-1) + 40*0.35/730
	if got := cost() - before; math.Abs(got-want) > 1e-3 {
		t.Fatalf("an hour with one of %d servers stopped cost %.4f CNY, want %.4f (the others in full, the stopped one's disk)", len(ids), got, want)
	}
}
