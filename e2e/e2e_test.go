//go:build e2e

// The closed loop for real: simcloud, the exporter and the
// actuator (the flexus binary), and the Debian prometheus and
// prometheus-alertmanager with the project's demo rules, through a short
// calm → spike → calm scenario. It asserts on what the cloud and the
// actuator's decision log say happened. Run it with `make e2e`.
package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	"github.com/flexus-autoscaler/flexus/demo"
	"github.com/flexus-autoscaler/flexus/internal/testenv"
)

// scenarioLength is the short scenario: calm 45s, spike 90s, calm 165s (the
// scale-in waits for the rule's 1m hold, the forecasts to come down, the
// cooldown and the stabilisation window). The legs run at the same time, so
// the whole e2e takes about six minutes.
const scenarioLength = 300 * time.Second

// flexusBin builds the binary under test from this checkout (FLEXUS_BIN
// names a prebuilt one instead). Each leg builds its own; the build cache
// makes the second one a link.
func flexusBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("FLEXUS_BIN"); p != "" {
		return p
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "flexus")
	cmd := exec.Command(gobin, "build", "-o", out, "github.com/flexus-autoscaler/flexus/cmd/flexus")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/flexus: %v\n%s", err, b)
	}
	return out
}

// logWriter sends a leg's live view to the test log, so `go test -v` shows it.
type logWriter struct {
	t    *testing.T
	name string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(w.name + ": " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// leg is one run of the loop.
type leg struct {
	name    string
	faults  demo.Faults
	retries int
	res     *demo.Result
	err     error
}

func runLoop(ctx context.Context, t *testing.T, bin, prom, am string, l *leg) {
	ctx, cancel := context.WithTimeout(ctx, scenarioLength+3*time.Minute)
	defer cancel()
	l.res, l.err = demo.Run(ctx, demo.Options{
		Flexus: bin, Prometheus: prom, Alertmanager: am,
		Scenario: demo.SpikeScenario(scenarioLength, 3),
		Faults:   l.faults, CloudRetries: l.retries,
		Refresh: 30 * time.Second, Poll: time.Second,
		Out:    logWriter{t, l.name},
		Logger: promslog.NewNopLogger(), Clock: clock.Real{},
	})
	if l.err == nil && ctx.Err() != nil {
		l.err = fmt.Errorf("the run overran its deadline: %w", ctx.Err())
	}
}

// TestE2EClosedLoop runs, at the same time, the loop as is, the loop while
// simcloud answers 15% of every cloud API call with 429 and 10% with 500
// and the SDK retries only once (the actuator answers Alertmanager 503 when
// a decision could not be made, and the redelivery must act once), and
// `flexus demo` interrupted with Ctrl-C. Then it checks each.
func TestE2EClosedLoop(t *testing.T) {
	t.Parallel() // beside the HA leg (ha_test.go)
	prom := testenv.Binary(t, "prometheus", "prometheus")
	am := testenv.Binary(t, "prometheus-alertmanager", "prometheus-alertmanager")
	bin := flexusBin(t)

	// With one retry, some decisions meet a fault the SDK cannot hide: the
	// actuator answers 503 and Alertmanager redelivers.
	legs := []*leg{{name: "loop"}, {name: "faults", faults: demo.Faults{Throttle: 0.15, Error: 0.10}, retries: 1}}
	var interruptErrs []error
	var wg sync.WaitGroup
	for _, l := range legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runLoop(context.Background(), t, bin, prom, am, l)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		interruptErrs = interrupt(bin, t.TempDir())
	}()
	wg.Wait()

	for _, l := range legs {
		t.Run(l.name, func(t *testing.T) {
			if l.err != nil {
				t.Fatalf("the loop did not run to the end: %v", l.err)
			}
			res := l.res
			var sb strings.Builder
			res.Summary.Write(&sb)
			t.Log(sb.String())
			t.Logf("Alertmanager → actuator: %.0f notifications sent, %.0f failed; actuator answers by code %v; simcloud injected %.0f faults",
				res.NotificationsSent, res.NotificationsFailed, res.WebhookAnswers, res.InjectedFaults)
			if l.faults.Throttle > 0 && res.InjectedFaults == 0 {
				t.Error("simcloud answered no 429 or 500: the faults leg tested nothing")
			}
			checkLoop(t, res)
		})
	}
	t.Run("ctrl-c leaves no process or directory behind", func(t *testing.T) {
		for _, err := range interruptErrs {
			t.Error(err)
		}
	})
}

// checkLoop states what a healthy closed loop did, from simcloud's state and
// the actuator's decision log.
func checkLoop(t *testing.T, res *demo.Result) {
	t.Helper()
	groups, err := demo.Groups()
	if err != nil {
		t.Fatal(err)
	}
	s := res.Snapshot
	if res.NotificationsSent == 0 {
		t.Error("Alertmanager sent no notification to the actuator")
	}
	var spike, calm time.Time
	for _, p := range s.Phases {
		switch p.Name {
		case demo.PhaseSpike:
			spike = p.At
		case demo.PhaseAfter:
			calm = p.At
		}
	}
	if spike.IsZero() || calm.IsZero() {
		t.Fatalf("the scenario did not reach its spike and calm phases: %+v", s.Phases)
	}
	// The web group (Flexus X through ECS) must go through the whole cycle;
	// the inference group (GPU through AS) must at least stay within bounds.
	for _, g := range groups {
		t.Run(g.Name, func(t *testing.T) {
			samples := s.Samples[g.Name]
			if len(samples) == 0 {
				t.Fatalf("simcloud never reported group %q", g.Name)
			}
			checkBounds(t, g, samples)
			applied := appliedDecisions(s.Decisions, g.Name)
			checkCooldowns(t, g, applied)
			checkNoDoubleEffect(t, applied, samples)
			if g.Name != "web" {
				return
			}
			out := checkScaleOutReachedCloud(t, s, g, applied, spike)
			checkScaleIn(t, applied, samples, calm, out)
			checkGraded(t, res, out)
		})
	}
	for _, g := range res.Summary.Groups {
		for _, l := range g.AlertToAction {
			t.Logf("alert-to-action latency, group %s: %s (alert firing in Prometheus → Alertmanager → actuator decision)", g.Group, l)
		}
	}
}

// checkGraded: the scale-out during the spike was graded in hindsight
// through the demo's Prometheus once its lead time passed (40s, well inside
// the run), the decision log shows its verdict, and the actuator counted it.
func checkGraded(t *testing.T, res *demo.Result, out demo.Decision) {
	t.Helper()
	switch v := out.Verdict(); v {
	case "needed", "unneeded":
		t.Logf("the scale-out at %s was graded %s in hindsight", out.Time.Format(time.TimeOnly), v)
	default:
		t.Errorf("the scale-out at %s shows grade %q in the decision log, want needed or unneeded (actuator.grading through the demo's Prometheus)", out.Time.Format(time.TimeOnly), v)
	}
	if res.DecisionsGraded == 0 {
		t.Error("flexus_decisions_graded_total counted no verdict")
	}
}

func appliedDecisions(ds []demo.Decision, group string) []demo.Decision {
	var out []demo.Decision
	for _, d := range ds {
		if d.Group == group && d.Applied() {
			out = append(out, d)
		}
	}
	return out
}

// checkBounds: no instance count ever left min..max.
func checkBounds(t *testing.T, g config.Group, ss []demo.Sample) {
	t.Helper()
	for _, smp := range ss {
		st := smp.State
		live := st.Live()
		if st.Desired < g.MinInstances || st.Desired > g.MaxInstances || live < g.MinInstances || live > g.MaxInstances {
			t.Errorf("at %s: desired %d, live instances %d, outside %d..%d", smp.T.Format(time.TimeOnly), st.Desired, live, g.MinInstances, g.MaxInstances)
			return
		}
	}
}

// checkCooldowns: no second action inside the cooldown. A scale-out waits for
// the last scale-out; a scale-in for the last action in either direction.
func checkCooldowns(t *testing.T, g config.Group, applied []demo.Decision) {
	t.Helper()
	var lastOut, lastAny time.Time
	for _, d := range applied {
		switch d.Action {
		case "scale_out":
			if !lastOut.IsZero() && d.Time.Sub(lastOut) < g.Scaling.CooldownOut {
				t.Errorf("scale-out at %s only %s after the previous one (cooldown %s)", d.Time.Format(time.TimeOnly), d.Time.Sub(lastOut), g.Scaling.CooldownOut)
			}
			lastOut = d.Time
		case "scale_in":
			if !lastAny.IsZero() && d.Time.Sub(lastAny) < g.Scaling.CooldownIn {
				t.Errorf("scale-in at %s only %s after the previous action (cooldown %s)", d.Time.Format(time.TimeOnly), d.Time.Sub(lastAny), g.Scaling.CooldownIn)
			}
		}
		lastAny = d.Time
	}
}

// checkNoDoubleEffect: the cloud never held more instances than an applied
// decision asked for, and its desired count rose no more often than the
// actuator applied scale-outs: a redelivered notification did not act twice.
func checkNoDoubleEffect(t *testing.T, applied []demo.Decision, ss []demo.Sample) {
	t.Helper()
	highest := ss[0].State.Desired
	outs := 0
	for _, d := range applied {
		highest = max(highest, d.To)
		if d.Action == "scale_out" {
			outs++
		}
	}
	rises := 0
	for i, smp := range ss {
		if live := smp.State.Live(); live > highest {
			t.Errorf("at %s the cloud held %d live instances, more than any decision asked for (%d)", smp.T.Format(time.TimeOnly), live, highest)
			return
		}
		if i > 0 && smp.State.Desired > ss[i-1].State.Desired {
			rises++
		}
	}
	if rises > outs {
		t.Errorf("the desired count rose %d times for %d applied scale-outs", rises, outs)
	}
}

// checkScaleOutReachedCloud: during the spike Prometheus fired the scale-out
// alert, Alertmanager delivered it (the decision carries the notification's
// idempotency key), the actuator applied it, and simcloud then had the
// capacity in service. It returns the first such decision.
func checkScaleOutReachedCloud(t *testing.T, s demo.Snapshot, g config.Group, applied []demo.Decision, spike time.Time) demo.Decision {
	t.Helper()
	var out demo.Decision
	for _, d := range applied {
		if d.Action == "scale_out" && !d.Time.Before(spike) {
			out = d
			break
		}
	}
	if out.Time.IsZero() {
		t.Fatalf("no scale-out was applied after the load spike; decisions: %+v", s.Decisions)
	}
	if out.Key == "" {
		t.Errorf("the scale-out carries no idempotency key: it did not come from an Alertmanager notification")
	}
	if out.To <= out.From {
		t.Errorf("the scale-out went from %d to %d", out.From, out.To)
	}
	fired := false
	for _, f := range s.Fires {
		if f.Group == g.Name && f.Action == "scale_out" && !f.ActiveAt.After(out.Time) {
			fired = true
		}
	}
	if !fired {
		t.Errorf("no FlexusScaleOut alert for group %s was firing in Prometheus before the scale-out at %s", g.Name, out.Time.Format(time.TimeOnly))
	}
	desired, serving := false, false
	for _, smp := range s.Samples[g.Name] {
		if smp.T.Before(out.Time) {
			continue
		}
		desired = desired || smp.State.Desired >= out.To
		serving = serving || smp.State.InService >= out.To
	}
	if !desired {
		t.Errorf("simcloud never reached the desired count %d the actuator set", out.To)
	}
	if !serving {
		t.Errorf("simcloud never had %d instances in service after the scale-out", out.To)
	}
	t.Logf("load spike → scale-out applied in %s (%d → %d)", out.Time.Sub(spike).Round(100*time.Millisecond), out.From, out.To)
	return out
}

// checkScaleIn: once load fell, the group scaled in, and the cloud followed.
func checkScaleIn(t *testing.T, applied []demo.Decision, ss []demo.Sample, calm time.Time, out demo.Decision) {
	t.Helper()
	var in demo.Decision
	for _, d := range applied {
		if d.Action == "scale_in" && d.Time.After(out.Time) {
			in = d
			break
		}
	}
	if in.Time.IsZero() {
		t.Fatalf("no scale-in was applied after the load fell at %s", calm.Format(time.TimeOnly))
	}
	if in.To >= in.From {
		t.Errorf("the scale-in went from %d to %d", in.From, in.To)
	}
	followed := false
	for _, smp := range ss {
		if !smp.T.Before(in.Time) && smp.State.Desired <= in.To {
			followed = true
		}
	}
	if !followed {
		t.Errorf("simcloud's desired count never came down to %d", in.To)
	}
	t.Logf("load fell → scale-in applied in %s (%d → %d)", in.Time.Sub(calm).Round(100*time.Millisecond), in.From, in.To)
}

// interrupt runs `flexus demo` as a user would and presses Ctrl-C once the
// loop is up: the demo must exit, summarise, and leave no child process and
// no temporary directory behind. It returns what went wrong.
func interrupt(bin, work string) (errs []error) {
	cmd := exec.Command(bin, "demo", "--duration=2m", "--report="+filepath.Join(work, "report.html"))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "TMPDIR="+work)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return []error{err}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return []error{err}
	}
	defer cmd.Process.Kill()

	// Read the output until the demo prints its links: every child is up.
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var runDir string
	var out strings.Builder
	deadline := time.After(3 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return []error{fmt.Errorf("the demo ended before the loop was up:\n%s\n%s", out.String(), stderr.String())}
			}
			out.WriteString(l + "\n")
			if _, rest, ok := strings.Cut(l, "(log "); ok && runDir == "" {
				runDir = filepath.Dir(strings.TrimSuffix(rest, ")"))
			}
			if strings.HasPrefix(l, "Prometheus http://") {
				break wait
			}
		case <-deadline:
			return []error{fmt.Errorf("the loop was not up within 3 minutes:\n%s\n%s", out.String(), stderr.String())}
		}
	}
	if runDir == "" || !strings.HasPrefix(runDir, work) {
		return []error{fmt.Errorf("the run's directory %q is not under TMPDIR %s", runDir, work)}
	}
	children := processesMentioning(runDir)
	if len(children) < 5 {
		errs = append(errs, fmt.Errorf("%d processes run from %s, want simcloud, exporter, actuator, alertmanager and prometheus", len(children), runDir))
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		return append(errs, err)
	}
	go func() {
		for l := range lines {
			out.WriteString(l + "\n")
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			errs = append(errs, fmt.Errorf("the demo exited with %v after Ctrl-C:\n%s", err, stderr.String()))
		}
	case <-time.After(time.Minute):
		return append(errs, errors.New("the demo did not exit within a minute of Ctrl-C"))
	}
	for _, pid := range children {
		if alive(pid) {
			errs = append(errs, fmt.Errorf("child process %d outlived the demo", pid))
		}
	}
	if _, err := os.Stat(runDir); !os.IsNotExist(err) {
		errs = append(errs, fmt.Errorf("the run's directory %s is still there (%v)", runDir, err))
	}
	if _, err := os.Stat(filepath.Join(work, "report.html")); err != nil {
		errs = append(errs, fmt.Errorf("no report after Ctrl-C: %w", err))
	}
	return errs
}

// processesMentioning returns the pids whose command line names dir: the
// demo's children all take their config from the run's directory.
func processesMentioning(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive tells whether pid runs; a zombie counts as dead.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
