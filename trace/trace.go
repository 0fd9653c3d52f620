// Package trace loads recorded workload traces into evenly spaced series for the
// backtest, the simcloud world model and forecast evaluation.
//
// Two kinds of CSV are read, told apart by their header line:
//
//   - A time column and a numeric column, one row per sample (NAB's
//     `timestamp,value` is one). The columns are found by their header names
//     (time, timestamp, ts, date, datetime, period, ... and value, count,
//     requests, ...) or named in Options.TimeColumn and Options.ValueColumn;
//     other columns are ignored. Times are RFC 3339, `YYYY-MM-DD hh:mm[:ss]`
//     (fractional seconds accepted, read as UTC) or epoch seconds or
//     milliseconds.
//   - Azure LLM inference: `TIMESTAMP,ContextTokens,GeneratedTokens`, one row per
//     request. Requests are binned into counts per bin (1 minute by default), or
//     token sums per bin when asked. Bins with no request are a real 0. The
//     first and last bins are dropped because the trace covers them only in part.
//
// Bad input policy, each reported with the line number (and the column for a
// bad field):
//
//   - an empty file, a header without a recognisable time or value column, a row
//     with the wrong number of fields, a value that is not a finite number, or a
//     time that does not parse: refused;
//   - a timestamp earlier than the one before it: refused (traces are sorted);
//   - two sample rows with the same timestamp: refused, since we cannot tell which
//     is right (Azure rows may share a timestamp: they are distinct requests);
//   - gaps: the step is the most common interval between rows (a file with
//     one row gets a 1-minute step). A gap of up to Options.MaxGapSteps missing
//     samples (default 5) is filled by linear interpolation and counted in
//     Series.Filled; a longer gap is refused, as is a row off the step grid.
package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Series is an evenly spaced time series: Values[i] is the value at Start+i*Step.
type Series struct {
	Name   string
	Start  time.Time
	Step   time.Duration
	Values []float64
	// Filled counts the samples filled in by interpolation over short gaps.
	Filled int
}

// Time returns the timestamp of sample i.
func (s Series) Time(i int) time.Time { return s.Start.Add(time.Duration(i) * s.Step) }

// End returns the timestamp just after the last sample.
func (s Series) End() time.Time { return s.Time(len(s.Values)) }

// Len returns the number of samples.
func (s Series) Len() int { return len(s.Values) }

// AzureValue selects what an Azure per-request trace is binned into.
type AzureValue string

// What an Azure bin can hold.
const (
	AzureRequests        AzureValue = "requests"
	AzureTokens          AzureValue = "tokens"
	AzureContextTokens   AzureValue = "context_tokens"
	AzureGeneratedTokens AzureValue = "generated_tokens"
)

// Options tune parsing. The zero value means the defaults.
type Options struct {
	// MaxGapSteps is the longest run of missing NAB samples filled by
	// interpolation (default 5). Longer gaps are an error.
	MaxGapSteps int
	// AzureBin is the bin width for per-request traces (default 1m).
	AzureBin time.Duration
	// AzureValue is what a bin holds (default requests).
	AzureValue AzureValue
	// TimeColumn and ValueColumn name the header columns of a sample trace;
	// empty means found by their names (see TimeColumnNames, ValueColumnNames).
	TimeColumn  string
	ValueColumn string
}

// TimeColumnNames and ValueColumnNames are the header names recognised, in
// any case, when Options does not name the columns.
var (
	TimeColumnNames  = []string{"timestamp", "time", "ts", "date", "datetime", "period", "interval", "minute", "hour", "day", "t"}
	ValueColumnNames = []string{"value", "count", "requests", "request_count", "requests_total", "rps", "qps", "rate", "hits", "calls", "y"}
)

func (o Options) withDefaults() (Options, error) {
	if o.MaxGapSteps == 0 {
		o.MaxGapSteps = 5
	}
	if o.MaxGapSteps < 0 {
		return o, fmt.Errorf("trace: MaxGapSteps %d is negative: use 0 for the default", o.MaxGapSteps)
	}
	if o.AzureBin == 0 {
		o.AzureBin = time.Minute
	}
	if o.AzureBin < time.Second {
		return o, fmt.Errorf("trace: AzureBin %v is below 1s", o.AzureBin)
	}
	switch o.AzureValue {
	case "":
		o.AzureValue = AzureRequests
	case AzureRequests, AzureTokens, AzureContextTokens, AzureGeneratedTokens:
	default:
		return o, fmt.Errorf("trace: AzureValue %q is unknown: use requests, tokens, context_tokens or generated_tokens", o.AzureValue)
	}
	return o, nil
}

// Load reads the trace at path with default options. The series is named after
// the file without its extension.
func Load(path string) (Series, error) { return LoadWith(path, Options{}) }

// LoadWith reads the trace at path.
func LoadWith(path string, opts Options) (Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return Series{}, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	s, err := ParseWith(f, name, opts)
	if err != nil {
		return Series{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads a trace in either format with default options.
func Parse(r io.Reader, name string) (Series, error) { return ParseWith(r, name, Options{}) }

// ParseWith reads a trace in either format, sniffed from its header line.
func ParseWith(r io.Reader, name string, opts Options) (Series, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Series{}, err
	}
	lr := &lineReader{sc: bufio.NewScanner(r)}
	lr.sc.Buffer(make([]byte, 64*1024), 1024*1024)
	header, ok := lr.next()
	if !ok {
		if err := lr.sc.Err(); err != nil {
			return Series{}, fmt.Errorf("trace %q: %w", name, err)
		}
		return Series{}, fmt.Errorf("trace %q: empty file: want a header such as `timestamp,value` or `TIMESTAMP,ContextTokens,GeneratedTokens`", name)
	}
	fields := splitFields(strings.TrimPrefix(header, "\ufeff"))
	var s Series
	if len(fields) == 3 && opts.TimeColumn == "" && opts.ValueColumn == "" && strings.EqualFold(fields[0], "timestamp") &&
		strings.EqualFold(fields[1], "ContextTokens") && strings.EqualFold(fields[2], "GeneratedTokens") {
		s, err = parseAzure(lr, name, opts)
	} else {
		cols, cerr := findColumns(fields, opts)
		if cerr != nil {
			return Series{}, fmt.Errorf("trace %q: line %d: %w", name, lr.line, cerr)
		}
		s, err = parseSamples(lr, name, cols, opts)
	}
	if err != nil {
		return Series{}, fmt.Errorf("trace %q: %w", name, err)
	}
	if err := lr.sc.Err(); err != nil {
		return Series{}, fmt.Errorf("trace %q: line %d: %w", name, lr.line, err)
	}
	return s, nil
}

// lineReader yields non-blank lines with their 1-based line numbers.
type lineReader struct {
	sc   *bufio.Scanner
	line int
}

func (l *lineReader) next() (string, bool) {
	for l.sc.Scan() {
		l.line++
		text := strings.TrimSpace(l.sc.Text())
		if text != "" {
			return text, true
		}
	}
	return "", false
}

func splitFields(line string) []string {
	f := strings.Split(line, ",")
	for i := range f {
		f[i] = strings.Trim(strings.TrimSpace(f[i]), `"`)
	}
	return f
}

// timeLayouts are tried in order after epoch numbers. Go accepts fractional
// seconds after the seconds field even when the layout does not show them.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// epochMillisFrom is where epoch numbers switch from seconds to milliseconds:
// 1e11 seconds is in the year 5138, 1e11 milliseconds in 1973.
const epochMillisFrom = 1e11

// ParseTime reads a time the way trace files write it: RFC 3339,
// `YYYY-MM-DD hh:mm[:ss]` (UTC) or epoch seconds or milliseconds.
func ParseTime(s string) (time.Time, error) {
	t, err := parseTime(strings.TrimSpace(s), 0)
	if err != nil {
		return t, fmt.Errorf("time %q does not parse: want RFC 3339, YYYY-MM-DD hh:mm[:ss] or epoch seconds or milliseconds", s)
	}
	return t, nil
}

func parseTime(s string, line int) (time.Time, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		if math.Abs(v) >= epochMillisFrom {
			return time.UnixMilli(int64(v)).UTC(), nil
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("line %d: timestamp %q does not parse: want RFC 3339, YYYY-MM-DD hh:mm[:ss] or epoch seconds or milliseconds", line, s)
}

func parseValue(s string, line int, what string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("line %d: %s %q is not a finite number", line, what, s)
	}
	return v, nil
}

type point struct {
	t    time.Time
	v    float64
	line int
}

// columns locates the time and value fields of a sample trace's rows.
type columns struct {
	header            []string
	time, value       int
	timeName, valName string
}

// findColumns picks the time and value columns from the header, by the names
// in opts or else by the recognised names.
func findColumns(header []string, opts Options) (columns, error) {
	c := columns{header: header, time: -1, value: -1}
	pick := func(want string, names []string, what, flag string) (int, error) {
		if want != "" {
			for i, h := range header {
				if strings.EqualFold(h, want) {
					return i, nil
				}
			}
			return -1, fmt.Errorf("header %q has no %s column %q: columns are %s", strings.Join(header, ","), what, want, strings.Join(header, ", "))
		}
		for _, n := range names {
			for i, h := range header {
				if strings.EqualFold(strings.ReplaceAll(h, " ", "_"), n) {
					return i, nil
				}
			}
		}
		return -1, fmt.Errorf("unknown header %q: no %s column among %s; name it with %s", strings.Join(header, ","), what, strings.Join(header, ", "), flag)
	}
	var err error
	if c.time, err = pick(opts.TimeColumn, TimeColumnNames, "time", "--time-column (Options.TimeColumn)"); err != nil {
		return c, err
	}
	if c.value, err = pick(opts.ValueColumn, ValueColumnNames, "value", "--value-column (Options.ValueColumn)"); err != nil {
		return c, err
	}
	if c.time == c.value {
		return c, fmt.Errorf("header %q: column %q cannot be both the time and the value", strings.Join(header, ","), header[c.time])
	}
	c.timeName, c.valName = header[c.time], header[c.value]
	return c, nil
}

// parseSamples reads one sample per row from the columns found in the header.
func parseSamples(lr *lineReader, name string, cols columns, opts Options) (Series, error) {
	var pts []point
	for {
		text, ok := lr.next()
		if !ok {
			break
		}
		f := splitFields(text)
		if len(f) != len(cols.header) {
			return Series{}, fmt.Errorf("line %d: %d fields, want %d (%s)", lr.line, len(f), len(cols.header), strings.Join(cols.header, ","))
		}
		t, err := parseTime(f[cols.time], lr.line)
		if err != nil {
			return Series{}, fmt.Errorf("%w (column %d, %q)", err, cols.time+1, cols.timeName)
		}
		v, err := parseValue(f[cols.value], lr.line, "value")
		if err != nil {
			return Series{}, fmt.Errorf("%w (column %d, %q)", err, cols.value+1, cols.valName)
		}
		if n := len(pts); n > 0 {
			prev := pts[n-1]
			switch {
			case t.Equal(prev.t):
				return Series{}, fmt.Errorf("line %d: duplicate timestamp %s (also on line %d): remove one of the rows", lr.line, f[cols.time], prev.line)
			case t.Before(prev.t):
				return Series{}, fmt.Errorf("line %d: timestamp %s is earlier than line %d's: sort the file by time", lr.line, f[cols.time], prev.line)
			}
		}
		pts = append(pts, point{t: t, v: v, line: lr.line})
	}
	if len(pts) == 0 {
		return Series{}, errors.New("no data rows after the header")
	}
	if len(pts) == 1 {
		return Series{Name: name, Start: pts[0].t, Step: time.Minute, Values: []float64{pts[0].v}}, nil
	}
	return evenlySpaced(name, pts, modeInterval(pts), opts.MaxGapSteps, "line")
}

// evenlySpaced puts sorted points on a grid of step from the first point,
// filling gaps of up to maxGap missing samples by interpolation. where names
// what a point's line field counts in errors ("line" for files).
func evenlySpaced(name string, pts []point, step time.Duration, maxGap int, where string) (Series, error) {
	s := Series{Name: name, Start: pts[0].t, Step: step, Values: make([]float64, 0, len(pts))}
	s.Values = append(s.Values, pts[0].v)
	for i := 1; i < len(pts); i++ {
		d := pts[i].t.Sub(pts[i-1].t)
		if d%step != 0 {
			return Series{}, fmt.Errorf("%s %d: timestamp is %v after %s %d's, off the %v step grid", where, pts[i].line, d, where, pts[i-1].line, step)
		}
		missing := int(d/step) - 1
		if missing > maxGap {
			return Series{}, fmt.Errorf("%s %d: gap of %v (%d missing samples) after %s %d is longer than the %d samples filled by interpolation", where, pts[i].line, d, missing, where, pts[i-1].line, maxGap)
		}
		for k := 1; k <= missing; k++ {
			frac := float64(k) / float64(missing+1)
			s.Values = append(s.Values, pts[i-1].v+frac*(pts[i].v-pts[i-1].v))
			s.Filled++
		}
		s.Values = append(s.Values, pts[i].v)
	}
	return s, nil
}

// modeInterval returns the most common positive interval between points, the
// shortest on a tie.
func modeInterval(pts []point) time.Duration {
	counts := map[time.Duration]int{}
	for i := 1; i < len(pts); i++ {
		counts[pts[i].t.Sub(pts[i-1].t)]++
	}
	var best time.Duration
	bestN := 0
	for d, n := range counts {
		if n > bestN || (n == bestN && d < best) {
			best, bestN = d, n
		}
	}
	return best
}

func parseAzure(lr *lineReader, name string, opts Options) (Series, error) {
	var (
		start    time.Time
		prev     time.Time
		prevLine int
		bins     []float64
		rows     int
	)
	for {
		text, ok := lr.next()
		if !ok {
			break
		}
		f := splitFields(text)
		if len(f) != 3 {
			return Series{}, fmt.Errorf("line %d: %d fields, want 3 (TIMESTAMP,ContextTokens,GeneratedTokens)", lr.line, len(f))
		}
		t, err := parseTime(f[0], lr.line)
		if err != nil {
			return Series{}, err
		}
		ctx, err := parseValue(f[1], lr.line, "ContextTokens")
		if err != nil {
			return Series{}, err
		}
		gen, err := parseValue(f[2], lr.line, "GeneratedTokens")
		if err != nil {
			return Series{}, err
		}
		if ctx < 0 || gen < 0 {
			return Series{}, fmt.Errorf("line %d: negative token count", lr.line)
		}
		if rows == 0 {
			start = t.Truncate(opts.AzureBin)
		} else if t.Before(prev) {
			return Series{}, fmt.Errorf("line %d: timestamp %s is earlier than line %d's: sort the file by time", lr.line, f[0], prevLine)
		}
		prev, prevLine = t, lr.line
		rows++
		idx := int(t.Sub(start) / opts.AzureBin)
		for len(bins) <= idx {
			bins = append(bins, 0)
		}
		switch opts.AzureValue {
		case AzureRequests:
			bins[idx]++
		case AzureTokens:
			bins[idx] += ctx + gen
		case AzureContextTokens:
			bins[idx] += ctx
		case AzureGeneratedTokens:
			bins[idx] += gen
		}
	}
	if rows == 0 {
		return Series{}, errors.New("no data rows after the header")
	}
	if len(bins) < 3 {
		return Series{}, fmt.Errorf("requests span %d bins of %v: need at least 3 (the partial first and last bins are dropped)", len(bins), opts.AzureBin)
	}
	return Series{Name: name, Start: start.Add(opts.AzureBin), Step: opts.AzureBin, Values: bins[1 : len(bins)-1]}, nil
}

// Resample returns the series on a new step. A coarser step averages the samples
// that fall in each bucket (buckets start at s.Start; a trailing partial bucket
// is dropped); a finer step interpolates linearly between samples.
func (s Series) Resample(step time.Duration) (Series, error) {
	if step <= 0 {
		return Series{}, fmt.Errorf("trace %q: resample step %v must be positive", s.Name, step)
	}
	if len(s.Values) == 0 {
		return Series{}, fmt.Errorf("trace %q: nothing to resample", s.Name)
	}
	out := Series{Name: s.Name, Start: s.Start, Step: step, Filled: s.Filled}
	switch {
	case step == s.Step:
		out.Values = append([]float64(nil), s.Values...)
	case step > s.Step:
		span := time.Duration(len(s.Values)) * s.Step
		n := int(span / step)
		if n == 0 {
			return Series{}, fmt.Errorf("trace %q: %v of data is shorter than one %v step", s.Name, span, step)
		}
		sums := make([]float64, n)
		counts := make([]int, n)
		for i, v := range s.Values {
			b := int(time.Duration(i) * s.Step / step)
			if b < n {
				sums[b] += v
				counts[b]++
			}
		}
		out.Values = make([]float64, n)
		for b := range sums {
			out.Values[b] = sums[b] / float64(counts[b])
		}
	default:
		last := time.Duration(len(s.Values)-1) * s.Step
		n := int(last/step) + 1
		out.Values = make([]float64, n)
		for j := range out.Values {
			at := time.Duration(j) * step
			i := int(at / s.Step)
			frac := float64(at-time.Duration(i)*s.Step) / float64(s.Step)
			if i+1 < len(s.Values) {
				out.Values[j] = s.Values[i] + frac*(s.Values[i+1]-s.Values[i])
			} else {
				out.Values[j] = s.Values[i]
			}
		}
	}
	return out, nil
}

// Max returns the largest value, 0 for an empty series.
func (s Series) Max() float64 {
	m := 0.0
	for i, v := range s.Values {
		if i == 0 || v > m {
			m = v
		}
	}
	return m
}
