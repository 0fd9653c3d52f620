package trace

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.DateTime, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestLoadGoodFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   string
		opts   Options
		start  string
		step   time.Duration
		values []float64
		filled int
	}{
		{name: "NAB rows become an evenly spaced series", file: "nab_ok.csv",
			start: "2014-04-10 00:00:00", step: 5 * time.Minute, values: []float64{1, 2, 3, 4}},
		{name: "a short NAB gap is filled by linear interpolation and counted", file: "nab_gap.csv",
			start: "2014-04-10 00:00:00", step: 5 * time.Minute, values: []float64{10, 20, 30, 40, 50, 60}, filled: 1},
		{name: "Azure requests are counted per minute, partial edge bins dropped, empty minutes are 0", file: "azure_ok.csv",
			start: "2023-11-16 18:16:00", step: time.Minute, values: []float64{3, 0, 1, 1}},
		{name: "Azure tokens per minute sum context and generated tokens", file: "azure_ok.csv",
			opts:  Options{AzureValue: AzureTokens},
			start: "2023-11-16 18:16:00", step: time.Minute, values: []float64{660, 0, 55, 11}},
		{name: "Azure bins can be wider than a minute", file: "azure_ok.csv",
			opts:  Options{AzureBin: 2 * time.Minute},
			start: "2023-11-16 18:16:00", step: 2 * time.Minute, values: []float64{3, 2}},
		{name: "period,count: the columns are found by name, hh:mm times without seconds", file: "period_count.csv",
			start: "2024-03-01 10:00:00", step: time.Minute, values: []float64{5, 7, 6}},
		{name: "time,requests among other columns, RFC 3339 times, a short gap filled", file: "time_requests.csv",
			start: "2024-03-01 10:00:00", step: 30 * time.Second, values: []float64{10, 12, 14, 16}, filled: 1},
		{name: "epoch seconds", file: "epoch_seconds.csv",
			start: "2024-03-01 10:00:00", step: time.Minute, values: []float64{1.5, 2.5, 3.5}},
		{name: "epoch milliseconds", file: "epoch_millis.csv",
			start: "2024-03-01 10:00:00", step: time.Minute, values: []float64{1.5, 2.5, 3.5}},
		{name: "columns named in the options override the recognised names", file: "named_columns.csv",
			opts:  Options{TimeColumn: "when", ValueColumn: "bytes"},
			start: "2024-03-01 10:00:00", step: time.Minute, values: []float64{100, 120}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadWith(filepath.Join("testdata", tc.file), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !s.Start.Equal(mustTime(t, tc.start)) || s.Step != tc.step {
				t.Errorf("start %v step %v, want %s step %v", s.Start, s.Step, tc.start, tc.step)
			}
			if !reflect.DeepEqual(s.Values, tc.values) {
				t.Errorf("values %v, want %v", s.Values, tc.values)
			}
			if s.Filled != tc.filled {
				t.Errorf("filled %d, want %d", s.Filled, tc.filled)
			}
			if want := strings.TrimSuffix(tc.file, ".csv"); s.Name != want {
				t.Errorf("name %q, want %q", s.Name, want)
			}
		})
	}
}

func TestLoadRefusesBadInputWithLineNumbers(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want string
	}{
		{"an empty file is refused", "empty.csv", "empty file"},
		{"a header without rows is refused", "header_only.csv", "no data rows"},
		{"a header without a known value column names the flag to set", "unknown_header.csv", `line 1: unknown header "time,load": no value column among time, load; name it with --value-column`},
		{"a bad value names its line and column", "bad_value_column.csv", `line 3: value "many" is not a finite number (column 2, "requests")`},
		{"a bad time names its line and column", "bad_time_column.csv", `line 3: timestamp "01/03/2024 10:01" does not parse: want RFC 3339, YYYY-MM-DD hh:mm[:ss] or epoch seconds or milliseconds (column 1, "date")`},
		{"a non-numeric value names its line", "nab_nonnumeric.csv", `line 3: value "abc" is not a finite number`},
		{"NaN is not a value", "nab_nan.csv", `line 3: value "NaN" is not a finite number`},
		{"unsorted timestamps name both lines", "nab_unsorted.csv", "line 4: timestamp 2014-04-10 00:05:00 is earlier than line 3's"},
		{"duplicate timestamps are refused", "nab_duplicate.csv", "line 4: duplicate timestamp 2014-04-10 00:05:00 (also on line 3)"},
		{"a gap longer than the interpolation limit is refused", "nab_long_gap.csv", "line 5: gap of 1h0m0s (11 missing samples) after line 4"},
		{"a row off the step grid is refused", "nab_off_grid.csv", "line 5: timestamp is 7m0s after line 4's, off the 5m0s step grid"},
		{"a timestamp in another layout is refused", "nab_bad_time.csv", `line 2: timestamp "10/04/2014 00:00" does not parse`},
		{"a row with an extra field is refused", "nab_extra_field.csv", "line 2: 3 fields, want 2"},
		{"unsorted Azure requests are refused", "azure_unsorted.csv", "line 4: timestamp 2023-11-16 18:15:30.5000000 is earlier than line 3's"},
		{"non-numeric Azure tokens name the column", "azure_bad_tokens.csv", `line 3: ContextTokens "many" is not a finite number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"negative gap limit", Options{MaxGapSteps: -1}, "MaxGapSteps"},
		{"sub-second bins", Options{AzureBin: time.Millisecond}, "AzureBin"},
		{"unknown Azure value", Options{AzureValue: "latency"}, "AzureValue"},
		{"a named column that is not in the header", Options{ValueColumn: "requests"}, `no value column "requests": columns are timestamp, value`},
		{"one column cannot be both time and value", Options{ValueColumn: "timestamp"}, `column "timestamp" cannot be both`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWith(strings.NewReader("timestamp,value\n2014-04-10 00:00:00,1\n"), "x", tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestMaxGapStepsWidensTheFill(t *testing.T) {
	s, err := LoadWith(filepath.Join("testdata", "nab_long_gap.csv"), Options{MaxGapSteps: 20})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 15 || s.Filled != 11 {
		t.Errorf("len %d filled %d, want 15 and 11", s.Len(), s.Filled)
	}
}

func TestResample(t *testing.T) {
	s := Series{Name: "x", Start: mustTime(t, "2024-01-01 00:00:00"), Step: time.Minute, Values: []float64{1, 3, 5, 7, 9}}
	for _, tc := range []struct {
		name string
		step time.Duration
		want []float64
	}{
		{"the same step copies", time.Minute, []float64{1, 3, 5, 7, 9}},
		{"a coarser step averages whole buckets and drops the partial last one", 2 * time.Minute, []float64{2, 6}},
		{"a finer step interpolates linearly", 30 * time.Second, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.Resample(tc.step)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Values, tc.want) || r.Step != tc.step || !r.Start.Equal(s.Start) {
				t.Errorf("got %v step %v, want %v step %v", r.Values, r.Step, tc.want, tc.step)
			}
		})
	}
	if _, err := s.Resample(10 * time.Minute); err == nil {
		t.Error("resampling 5 minutes of data to 10 minutes should fail")
	}
	if _, err := s.Resample(0); err == nil {
		t.Error("a zero step should fail")
	}
}

// sharedTraces is /work/shared/traces seen from this package (repo root is /work/main).
const sharedTraces = "../../shared/traces"

func TestLoadEverySharedTrace(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(sharedTraces, "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no traces in %s", sharedTraces)
		}
		t.Skipf("no traces in %s: they live next to the repository", sharedTraces)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() < 50 || s.Step <= 0 {
				t.Errorf("%d samples at step %v: too few", s.Len(), s.Step)
			}
			for i, v := range s.Values {
				if v < 0 {
					t.Fatalf("sample %d is negative: %v", i, v)
				}
			}
			t.Logf("%s: %d samples, step %v, %v .. %v, filled %d, max %.1f", s.Name, s.Len(), s.Step, s.Start, s.End(), s.Filled, s.Max())
		})
	}
}
