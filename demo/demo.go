// Package demo runs the whole closed loop on one machine: simcloud standing in
// for Huawei Cloud, the exporter and the actuator (child processes of the
// flexus binary itself), and the real prometheus and prometheus-alertmanager,
// each on a free loopback port with configs rendered from deploy/demo. A
// scenario drives demand (calm, load spike, calm), a poller records what the
// cloud and the loop did, and the record becomes a live terminal view, a
// summary and an HTML report. The end-to-end test runs the same code.
package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/flexus-autoscaler/flexus/clock"
	"github.com/flexus-autoscaler/flexus/config"
	demofiles "github.com/flexus-autoscaler/flexus/deploy/demo"
)

// EvaluationInterval is the demo Prometheus's evaluation_interval
// (deploy/demo/prometheus.yml.tmpl); alerts turn firing on its ticks.
const EvaluationInterval = 5 * time.Second

// Options configure a run.
type Options struct {
	// Flexus is the flexus executable that runs simcloud, the exporter and the actuator.
	Flexus string
	// Prometheus and Alertmanager are the real programs (PATH is searched).
	Prometheus, Alertmanager string
	Scenario                 Scenario
	// Faults are injected into every simulated cloud API from the start.
	Faults Faults
	// CloudRetries is how often the exporter and actuator retry a failed
	// cloud call (default 4); fewer lets injected faults reach the webhook.
	CloudRetries int
	// Refresh is how often the view is drawn, Poll how often the loop is observed.
	Refresh, Poll time.Duration
	// TempDir is where the run's directory is made ("" = the system's); KeepDir keeps it.
	TempDir string
	KeepDir bool
	// Out receives the view and the summary; TTY redraws the view in place.
	Out io.Writer
	TTY bool
	// SLO is the response-time objective the summary counts minutes against.
	SLO time.Duration
	// StartTimeout bounds each child's start.
	StartTimeout time.Duration
	// Settle is the least time simcloud runs before Prometheus starts (see settle).
	Settle time.Duration
	// Grace is how long a child has between SIGTERM and SIGKILL.
	Grace  time.Duration
	Logger *slog.Logger
	Clock  clock.Clock
}

func (o *Options) setDefaults() {
	if o.Prometheus == "" {
		o.Prometheus = "prometheus"
	}
	if o.Alertmanager == "" {
		o.Alertmanager = "prometheus-alertmanager"
	}
	if o.Refresh == 0 {
		o.Refresh = 3 * time.Second
	}
	if o.Poll == 0 {
		o.Poll = 2 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.SLO == 0 {
		o.SLO = time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.CloudRetries == 0 {
		o.CloudRetries = 4
	}
	if o.Settle == 0 {
		o.Settle = 30 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
}

// Stack is the running loop: every child and the clients that observe it.
type Stack struct {
	Dir      string
	Sup      *Supervisor
	Sim      Simcloud
	Actuator Actuator
	Prom     Prometheus
	Links    Links
	keep     bool
	logger   *slog.Logger
}

// Close stops every child and removes the run's directory (unless kept).
func (s *Stack) Close() {
	s.Sup.StopAll()
	if s.keep {
		s.logger.Info("kept the run's directory", "dir", s.Dir)
		return
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		s.logger.Warn("removing the run's directory", "dir", s.Dir, "err", err)
	}
}

// renderData is what the deploy/demo templates see.
type renderData struct {
	Dir, RulesDir, TokenFile                               string
	Simcloud, Exporter, Actuator, Alertmanager, Prometheus string
	Faults                                                 Faults
	CloudRetries                                           int
}

func render(fsys fs.FS, name string, data renderData, dst string) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("template %s: %w", name, err)
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return fmt.Errorf("template %s: %w", name, err)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := t.Execute(f, data); err != nil {
		f.Close()
		return fmt.Errorf("template %s: %w", name, err)
	}
	return f.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start brings the loop up, child by child, each waited for before the next
// that needs it. On error every child started so far is stopped again.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	o.setDefaults()
	if o.Flexus == "" {
		return nil, errors.New("demo: the flexus executable is not known")
	}
	for _, bin := range []struct{ name, pkg string }{{o.Prometheus, "prometheus"}, {o.Alertmanager, "prometheus-alertmanager"}} {
		if _, err := exec.LookPath(bin.name); err != nil {
			return nil, fmt.Errorf("demo: %s not found: install it with `apt-get install %s` (or run `make demo`, which does)", bin.name, bin.pkg)
		}
	}
	dir, err := os.MkdirTemp(o.TempDir, "flexus-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo: temporary directory: %w", err)
	}
	token := randomHex(16)
	env := []string{
		"HUAWEICLOUD_SDK_AK=FLEXUSDEMO" + strings.ToUpper(randomHex(5)),
		"HUAWEICLOUD_SDK_SK=" + randomHex(20),
		"HUAWEICLOUD_SDK_PROJECT_ID=" + randomHex(16),
	}
	sup := NewSupervisor(dir, env, o.Grace, o.Logger)
	st := &Stack{Dir: dir, Sup: sup, keep: o.KeepDir, logger: o.Logger}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	data := renderData{Dir: dir, RulesDir: filepath.Join(dir, "rules"), TokenFile: filepath.Join(dir, "actuator.token"), Faults: o.Faults, CloudRetries: o.CloudRetries}
	if err := os.WriteFile(data.TokenFile, []byte(token+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := copyRules(demofiles.FS(), data.RulesDir); err != nil {
		return nil, err
	}
	files := demofiles.FS()
	client := &http.Client{Timeout: 5 * time.Second}
	start := func(spec Spec) (*Process, error) {
		p, err := sup.Start(ctx, spec, o.StartTimeout)
		if err == nil {
			fmt.Fprintf(o.Out, "started %-13s http://%s  (log %s)\n", spec.Name, p.Addr, p.LogPath)
		}
		return p, err
	}

	simCfg := filepath.Join(dir, "simcloud.yml")
	if err := render(files, "simcloud.yml.tmpl", data, simCfg); err != nil {
		return nil, err
	}
	simStarted := time.Now()
	sim, err := start(Spec{Name: "simcloud", Bin: o.Flexus, Ready: "/-/sim/state",
		Args: []string{"simcloud", "--config.file=" + simCfg, "--web.listen-address={{addr}}"}})
	if err != nil {
		return nil, err
	}
	data.Simcloud = sim.Addr

	flexusCfg := filepath.Join(dir, "flexus.yml")
	if err := render(files, "flexus.yml.tmpl", data, flexusCfg); err != nil {
		return nil, err
	}
	exp, err := start(Spec{Name: "exporter", Bin: o.Flexus, Ready: "/metrics",
		Args: []string{"exporter", "--config.file=" + flexusCfg, "--web.listen-address={{addr}}"}})
	if err != nil {
		return nil, err
	}
	data.Exporter = exp.Addr
	act, err := start(Spec{Name: "actuator", Bin: o.Flexus, Ready: "/-/ready",
		Args: []string{"actuator", "--config.file=" + flexusCfg, "--web.listen-address={{addr}}"}})
	if err != nil {
		return nil, err
	}
	data.Actuator = act.Addr

	// simcloud's first Cloud Eye periods describe a world just switched on
	// (no instance served yet, a queue, 30s responses); Prometheus and
	// Alertmanager start once the exporter has moved past them.
	fmt.Fprintf(o.Out, "waiting for the exporter to see the world at rest (at least %s) before Prometheus starts…\n", o.Settle)
	if err := settle(ctx, Simcloud{Base: "http://" + sim.Addr, Client: client}, client, "http://"+exp.Addr, simStarted, o.Settle, o.Settle+time.Minute, sup.Crashed()); err != nil {
		return nil, err
	}

	amCfg := filepath.Join(dir, "alertmanager.yml")
	am, err := start(Spec{Name: "alertmanager", Bin: o.Alertmanager, Ready: "/-/ready",
		Prepare: func(string) error { return render(files, "alertmanager.yml.tmpl", data, amCfg) },
		Args: []string{"--config.file=" + amCfg, "--storage.path=" + filepath.Join(dir, "alertmanager"),
			"--web.listen-address={{addr}}", "--cluster.listen-address=", "--log.level=warn"}})
	if err != nil {
		return nil, err
	}
	data.Alertmanager = am.Addr

	promCfg := filepath.Join(dir, "prometheus.yml")
	prom, err := start(Spec{Name: "prometheus", Bin: o.Prometheus, Ready: "/-/ready",
		Prepare: func(addr string) error {
			d := data
			d.Prometheus = addr
			return render(files, "prometheus.yml.tmpl", d, promCfg)
		},
		Args: []string{"--config.file=" + promCfg, "--storage.tsdb.path=" + filepath.Join(dir, "prometheus"),
			"--web.listen-address={{addr}}", "--storage.tsdb.retention.time=1d", "--log.level=warn",
			// Send changed alert values (the target count) to Alertmanager within seconds, not a minute.
			"--rules.alert.resend-delay=5s"}})
	if err != nil {
		return nil, err
	}

	// The actuator grades its decisions through Prometheus, which started
	// last: the config now names it, and the actuator reloads it.
	data.Prometheus = prom.Addr
	if err := render(files, "flexus.yml.tmpl", data, flexusCfg); err != nil {
		return nil, err
	}
	if err := act.Reload(); err != nil {
		return nil, fmt.Errorf("demo: reloading the actuator to grade through Prometheus: %w", err)
	}

	st.Sim = Simcloud{Base: "http://" + sim.Addr, Client: client}
	st.Actuator = Actuator{Base: "http://" + act.Addr, Token: token, Client: client}
	st.Prom = Prometheus{Base: "http://" + prom.Addr, Client: client}
	st.Links = Links{Prometheus: "http://" + prom.Addr, Alertmanager: "http://" + am.Addr, Exporter: "http://" + exp.Addr,
		Actuator: "http://" + act.Addr, ActuatorToken: token, Simcloud: "http://" + sim.Addr}
	return st, nil
}

// copyRules writes the embedded demo rules into dir.
func copyRules(fsys fs.FS, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names, err := fs.Glob(fsys, "rules/*.yml")
	if err != nil || len(names) == 0 {
		return fmt.Errorf("demo: no rules embedded from deploy/demo/rules (%v): run `make rules`", err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, path.Base(n)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Result is what a run produced.
type Result struct {
	Snapshot Snapshot
	Summary  Summary
	// NotificationsSent and NotificationsFailed are Alertmanager's own
	// counts of webhook deliveries to the actuator.
	NotificationsSent, NotificationsFailed float64
	// InjectedFaults counts the 429 and 500 answers simcloud gave.
	InjectedFaults float64
	// WebhookAnswers counts the actuator's answers to Alertmanager by HTTP code.
	WebhookAnswers map[string]float64
	// DecisionsGraded is the actuator's flexus_decisions_graded_total with a
	// verdict other than ungraded, all groups.
	DecisionsGraded float64
}

// Run starts the loop, plays the scenario while drawing the view, then stops
// everything and summarises. A crashed child ends the run with its log's tail.
// ctx being cancelled (Ctrl-C) ends the run early; what was seen is still summarised.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.setDefaults()
	if err := o.Scenario.Validate(); err != nil {
		return nil, err
	}
	st, err := Start(ctx, o)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	// Even when interrupted already, what follows still summarises.
	states, err := st.Sim.State(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("demo: reading simcloud's groups: %w", err)
	}
	var groups []string
	for _, g := range states {
		groups = append(groups, g.Name)
	}

	rec := NewRecord(o.Clock.Now())
	poller := &Poller{Sim: st.Sim, Actuator: st.Actuator, Prom: st.Prom, Clock: o.Clock, Eval: EvaluationInterval}
	pollCtx, stopPoll := context.WithCancel(context.WithoutCancel(ctx))
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		poller.Run(pollCtx, rec, o.Poll)
	}()

	scenDone := make(chan error, 1)
	go func() {
		scenDone <- drive(ctx, st.Sim, groups, o.Scenario, func(_ int, p Phase) { rec.MarkPhase(p.Name, o.Clock.Now()) })
	}()

	view := View{W: o.Out, TTY: o.TTY, Links: st.Links, Scenario: o.Scenario}
	if !o.TTY {
		fmt.Fprintf(o.Out, "Prometheus %s, Alertmanager %s, exporter %s, actuator %s, simcloud %s\nthe actuator's decisions: %s\n",
			st.Links.Prometheus, st.Links.Alertmanager, st.Links.Exporter, st.Links.Actuator, st.Links.Simcloud, st.Links.DecisionsCurl())
	}
	tick := time.NewTicker(o.Refresh)
	defer tick.Stop()
	var runErr error
loop:
	for {
		select {
		case err := <-scenDone:
			if err != nil && ctx.Err() == nil {
				runErr = err
			}
			break loop
		case <-ctx.Done():
			break loop
		case p := <-st.Sup.Crashed():
			runErr = CrashError(p)
			break loop
		case <-tick.C:
			view.Draw(rec.Snapshot(), o.Clock.Now())
		}
	}
	stopPoll()
	<-polled
	// One last look, unless a child died, then the stack goes down.
	final := context.WithoutCancel(ctx)
	if runErr == nil {
		poller.Poll(final, rec)
	}
	rec.Finish(o.Clock.Now())
	res := &Result{Snapshot: rec.Snapshot()}
	c := st.Sim.Client
	res.NotificationsSent = scrapeSum(final, c, st.Links.Alertmanager+"/metrics", "alertmanager_notifications_total", `integration="webhook"`)
	res.NotificationsFailed = scrapeSum(final, c, st.Links.Alertmanager+"/metrics", "alertmanager_notifications_failed_total", `integration="webhook"`)
	for _, code := range []string{`code="429"`, `code="500"`} {
		res.InjectedFaults += scrapeSum(final, c, st.Links.Simcloud+"/metrics", "flexus_simcloud_requests_total", code)
	}
	res.WebhookAnswers = map[string]float64{}
	for _, code := range []string{"200", "503", "400", "401", "500"} {
		if v := scrapeSum(final, c, st.Links.Actuator+"/metrics", "flexus_actuator_webhook_requests_total", `code="`+code+`"`); v > 0 {
			res.WebhookAnswers[code] = v
		}
	}
	for _, v := range []string{"needed", "unneeded", "safe", "premature"} {
		res.DecisionsGraded += scrapeSum(final, c, st.Links.Actuator+"/metrics", "flexus_decisions_graded_total", `verdict="`+v+`"`)
	}
	view.Draw(res.Snapshot, o.Clock.Now())
	bounds := map[string]Bounds{}
	if gs, err := Groups(); err == nil {
		for _, g := range gs {
			bounds[g.Name] = Bounds{g.MinInstances, g.MaxInstances}
		}
	}
	res.Summary = Summarize(res.Snapshot, o.SLO, bounds)
	return res, runErr
}

// scrapeSum adds up the samples of metric at url whose label set contains
// every one of labels (e.g. `integration="webhook"`).
func scrapeSum(ctx context.Context, c *http.Client, url, metric string, labels ...string) float64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if ok && err == nil {
			sum += v
		}
	}
	return sum
}

// Groups returns the demo's groups as the exporter and actuator see them
// (bounds, cooldowns), from the same template Start renders.
func Groups() ([]config.Group, error) {
	dir, err := os.MkdirTemp("", "flexus-demo-config-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	d := renderData{Dir: dir, TokenFile: filepath.Join(dir, "token"), Simcloud: "127.0.0.1:1", CloudRetries: 4}
	p := filepath.Join(dir, "flexus.yml")
	if err := render(demofiles.FS(), "flexus.yml.tmpl", d, p); err != nil {
		return nil, err
	}
	c, err := config.Load(p)
	if err != nil {
		return nil, err
	}
	return c.Groups, nil
}
