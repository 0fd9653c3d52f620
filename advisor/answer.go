package advisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode"
)

// answer is the only shape of reply we accept. Pointers tell a missing field from a
// zero; the signal maps hold exactly the group's enabled tuned signals (complete checks).
type answer struct {
	Thresholds map[Signal]*answerBand `json:"thresholds"`
	Weights    map[Signal]*float64    `json:"weights"`
	Rationale  *string                `json:"rationale"`
}

type answerBand struct {
	ScaleOut *float64 `json:"scale_out"`
	ScaleIn  *float64 `json:"scale_in"`
}

func (a answer) band(s Signal) Band {
	b := a.Thresholds[s]
	return Band{Out: *b.ScaleOut, In: *b.ScaleIn}
}

func (a answer) weight(s Signal) float64 { return *a.Weights[s] }

// maxRationale bounds what a model's prose can put into our logs.
const maxRationale = 300

// parseAnswer decodes a model's reply strictly: one JSON object, optionally inside a
// single ```json fence, keys exactly as specified (case-sensitive, none twice, none
// unknown), no text around it, every number of every enabled signal present.
func parseAnswer(content string, enabled []Signal) (answer, error) {
	body, err := unfence(content)
	if err != nil {
		return answer{}, err
	}
	// encoding/json matches struct keys case-insensitively and lets a duplicate key
	// overwrite the first: walk the tokens first so neither slips through.
	if err := checkKeys(body, enabled); err != nil {
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
	if err := a.complete(enabled); err != nil {
		return answer{}, err
	}
	if a.Rationale != nil {
		r := cleanRationale(*a.Rationale)
		a.Rationale = &r
	}
	return a, nil
}

// checkKeys walks body's tokens and refuses a duplicate key anywhere, and any key
// not spelled exactly as the schema has it. Malformed JSON is left to the decoder.
func checkKeys(body string, enabled []Signal) error {
	signals := make([]string, 0, len(enabled))
	for _, s := range enabled {
		signals = append(signals, string(s))
	}
	schema := func(path []string) []string {
		switch {
		case len(path) == 0:
			return []string{"thresholds", "weights", "rationale"}
		case len(path) == 1 && (path[0] == "thresholds" || path[0] == "weights"):
			return signals
		case len(path) == 2 && path[0] == "thresholds":
			return []string{"scale_out", "scale_in"}
		}
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(body))
	var walk func(path []string) error
	walk = func(path []string) error {
		tok, err := dec.Token()
		if err != nil {
			return nil // the decoder reports it with its own reason
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			known := schema(path)
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil
				}
				k, _ := kt.(string)
				at := strings.Join(append(slices.Clone(path), k), ".")
				if seen[k] {
					return reject(ReasonDuplicateKey, "key %s appears twice", at)
				}
				seen[k] = true
				if known != nil && !slices.Contains(known, k) {
					return reject(ReasonUnknownField, "unknown field %s (keys are case-sensitive: use %s)", at, strings.Join(known, ", "))
				}
				if err := walk(append(slices.Clone(path), k)); err != nil {
					return err
				}
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if err := walk(path); err != nil {
					return err
				}
			}
			_, _ = dec.Token()
		}
		return nil
	}
	return walk(nil)
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

func (a answer) complete(enabled []Signal) error {
	if a.Thresholds == nil {
		return reject(ReasonMissingField, "thresholds is missing")
	}
	if a.Weights == nil {
		return reject(ReasonMissingField, "weights is missing")
	}
	for _, s := range enabled {
		b, w := a.Thresholds[s], a.Weights[s]
		switch {
		case b == nil:
			return reject(ReasonMissingField, "thresholds.%s is missing", s)
		case b.ScaleOut == nil:
			return reject(ReasonMissingField, "thresholds.%s.scale_out is missing", s)
		case b.ScaleIn == nil:
			return reject(ReasonMissingField, "thresholds.%s.scale_in is missing", s)
		case w == nil:
			return reject(ReasonMissingField, "weights.%s is missing", s)
		}
	}
	for _, m := range []map[Signal]bool{keysOf(a.Thresholds), keysOf(a.Weights)} {
		for s := range m {
			if !slices.Contains(enabled, s) {
				return reject(ReasonUnknownField, "signal %s is not enabled for this group: leave it out", s)
			}
		}
	}
	return nil
}

func keysOf[V any](m map[Signal]V) map[Signal]bool {
	out := make(map[Signal]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
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
