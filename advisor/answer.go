package advisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
)

// answer is the only shape of reply we accept. Pointers tell a missing field from a zero.
type answer struct {
	Thresholds *answerThresholds `json:"thresholds"`
	Weights    *answerWeights    `json:"weights"`
	Rationale  *string           `json:"rationale"`
}

type answerThresholds struct {
	CPU          *answerBand `json:"cpu"`
	Memory       *answerBand `json:"memory"`
	ResponseTime *answerBand `json:"response_time"`
	Queue        *answerBand `json:"queue"`
}

type answerBand struct {
	ScaleOut *float64 `json:"scale_out"`
	ScaleIn  *float64 `json:"scale_in"`
}

type answerWeights struct {
	CPU          *float64 `json:"cpu"`
	Memory       *float64 `json:"memory"`
	ResponseTime *float64 `json:"response_time"`
	Queue        *float64 `json:"queue"`
}

func (a answer) band(s Signal) Band {
	b := map[Signal]*answerBand{CPU: a.Thresholds.CPU, Memory: a.Thresholds.Memory, ResponseTime: a.Thresholds.ResponseTime, Queue: a.Thresholds.Queue}[s]
	return Band{Out: *b.ScaleOut, In: *b.ScaleIn}
}

func (a answer) weight(s Signal) float64 {
	return *map[Signal]*float64{CPU: a.Weights.CPU, Memory: a.Weights.Memory, ResponseTime: a.Weights.ResponseTime, Queue: a.Weights.Queue}[s]
}

// maxRationale bounds what a model's prose can put into our logs.
const maxRationale = 300

// parseAnswer decodes a model's reply strictly: one JSON object, optionally inside a
// single ```json fence, no unknown fields, no text around it, every number present.
func parseAnswer(content string) (answer, error) {
	body, err := unfence(content)
	if err != nil {
		return answer{}, err
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var a answer
	if err := dec.Decode(&a); err != nil {
		return answer{}, classifyDecodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return answer{}, reject(ReasonTextAroundJSON, "text follows the JSON object")
	}
	if err := a.complete(); err != nil {
		return answer{}, err
	}
	if a.Rationale != nil {
		r := cleanRationale(*a.Rationale)
		a.Rationale = &r
	}
	return a, nil
}

func unfence(content string) (string, error) {
	s := strings.TrimSpace(content)
	if s == "" {
		return "", reject(ReasonEmptyAnswer, "the model answered nothing")
	}
	if strings.HasPrefix(s, "```") {
		first, rest, ok := strings.Cut(s, "\n")
		lang := strings.TrimSpace(strings.TrimPrefix(first, "```"))
		if !ok || (lang != "" && !strings.EqualFold(lang, "json")) {
			return "", reject(ReasonTextAroundJSON, "the fence is not a single ```json block")
		}
		inner, ok := strings.CutSuffix(strings.TrimSpace(rest), "```")
		if !ok || strings.Contains(inner, "```") {
			return "", reject(ReasonTextAroundJSON, "the ```json fence is not closed at the end, or there is more than one")
		}
		s = strings.TrimSpace(inner)
	}
	if !strings.HasPrefix(s, "{") {
		if strings.Contains(s, "{") {
			return "", reject(ReasonTextAroundJSON, "text precedes the JSON object")
		}
		return "", reject(ReasonNotJSON, "the answer is not a JSON object: %q", truncate(s, 60))
	}
	return s, nil
}

func classifyDecodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		// A JSON number that does not fit a float64 (1e999) is the only way a number fails here.
		if strings.HasPrefix(typ.Value, "number") {
			return reject(ReasonNonFinite, "%s %s does not fit a float64", typ.Field, typ.Value)
		}
		return reject(ReasonWrongType, "field %q is a %s, want %s", typ.Field, typ.Value, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return reject(ReasonUnknownField, "%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return reject(ReasonNotJSON, "%v", err)
	}
	return reject(ReasonNotJSON, "%v", err)
}

func (a answer) complete() error {
	if a.Thresholds == nil {
		return reject(ReasonMissingField, "thresholds is missing")
	}
	if a.Weights == nil {
		return reject(ReasonMissingField, "weights is missing")
	}
	t, w := a.Thresholds, a.Weights
	for _, f := range []struct {
		s Signal
		b *answerBand
		w *float64
	}{{CPU, t.CPU, w.CPU}, {Memory, t.Memory, w.Memory}, {ResponseTime, t.ResponseTime, w.ResponseTime}, {Queue, t.Queue, w.Queue}} {
		switch {
		case f.b == nil:
			return reject(ReasonMissingField, "thresholds.%s is missing", f.s)
		case f.b.ScaleOut == nil:
			return reject(ReasonMissingField, "thresholds.%s.scale_out is missing", f.s)
		case f.b.ScaleIn == nil:
			return reject(ReasonMissingField, "thresholds.%s.scale_in is missing", f.s)
		case f.w == nil:
			return reject(ReasonMissingField, "weights.%s is missing", f.s)
		}
	}
	return nil
}

// cleanRationale keeps the rationale a short single line: it is logged, never acted on.
func cleanRationale(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		if unicode.IsControl(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return truncate(strings.TrimSpace(b.String()), maxRationale)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
