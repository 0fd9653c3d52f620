package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong in the file, named by the field's path as the
// file writes it (groups[1].scaling.cooldown_in), with the fix in Msg and the
// line when the file has one for it.
type Problem struct {
	Path string
	Line int
	Msg  string
}

func (p Problem) String() string {
	s := p.Msg
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s += fmt.Sprintf(" (line %d)", p.Line)
	}
	return s
}

// Error is every problem found in one file. Its Error is one line (problems
// joined by "; ") for logs; Problems is for printing one per line.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.String())
	}
	s := strings.Join(parts, "; ")
	if e.File != "" {
		s = e.File + ": " + s
	}
	return s
}

// fieldError is a Problem at a path relative to the section being validated;
// within prefixes it with the section's own path.
func fieldError(path, format string, args ...any) error {
	return &Error{Problems: []Problem{{Path: path, Msg: fmt.Sprintf(format, args...)}}}
}

// within puts err's paths under prefix (groups[0] + scaling.max_step_out).
func within(prefix string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Problems: []Problem{{Path: prefix, Msg: err.Error()}}}
	}
	out := &Error{File: e.File}
	for _, p := range e.Problems {
		switch {
		case p.Path == "":
			p.Path = prefix
		case strings.HasPrefix(p.Path, "["):
			p.Path = prefix + p.Path
		default:
			p.Path = prefix + "." + p.Path
		}
		out.Problems = append(out.Problems, p)
	}
	return out
}

// located is one node of the file with the path that names it.
type located struct {
	path     string
	key, val *yaml.Node // key is nil for a list item
}

// locate lists every key and list item in the file with its path, the map
// from a yaml error's line to the field a person must fix.
func locate(root *yaml.Node) []located {
	var out []located
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				out = append(out, located{path: p, key: k, val: v})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				out = append(out, located{path: p, val: c})
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return out
}

// lineOf is the line of path in the file, or of its nearest written parent
// when the value came from a default.
func lineOf(nodes []located, path string) int {
	for p := path; p != ""; p = parentPath(p) {
		for _, n := range nodes {
			if n.path == p {
				if n.key != nil {
					return n.key.Line
				}
				return n.val.Line
			}
		}
	}
	return 0
}

// parentPath drops the last segment: a.b[2] -> a.b, a.b -> a.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		return p[:strings.LastIndex(p, "[")]
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

var (
	yamlLine      = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlTypeMsg   = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.+)$")
	yamlFieldMsg  = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	yamlTruncated = "..."
)

// decodeProblems turns the decoder's messages ("line 11: cannot unmarshal
// !!int `600` into time.Duration") into problems that name the field and
// the fix. Messages repeat when a section is decoded twice; each is kept once.
func decodeProblems(te *yaml.TypeError, root *yaml.Node) *Error {
	nodes := locate(root)
	out := &Error{}
	seen := map[string]bool{}
	for _, msg := range te.Errors {
		if seen[msg] {
			continue
		}
		seen[msg] = true
		m := yamlLine.FindStringSubmatch(msg)
		if m == nil {
			out.Problems = append(out.Problems, Problem{Msg: msg})
			continue
		}
		line, _ := strconv.Atoi(m[1])
		p := Problem{Line: line, Msg: m[2]}
		if t := yamlTypeMsg.FindStringSubmatch(m[2]); t != nil {
			p.Path = pathAt(nodes, line, func(n located) bool {
				switch t[1] {
				case "!!seq":
					return n.val.Kind == yaml.SequenceNode
				case "!!map":
					return n.val.Kind == yaml.MappingNode
				}
				return n.val.Kind == yaml.ScalarNode && sameValue(n.val.Value, t[2])
			})
			p.Msg = typeHint(t[1], t[2], t[3])
		} else if f := yamlFieldMsg.FindStringSubmatch(m[2]); f != nil {
			p.Path = pathAt(nodes, line, func(n located) bool { return n.key != nil && n.key.Value == f[1] })
			p.Msg = "unknown field" + suggest(f[1], knownKeys(parentPath(p.Path)))
		} else {
			p.Path = pathAt(nodes, line, func(located) bool { return true })
		}
		out.Problems = append(out.Problems, p)
	}
	return out
}

// pathAt finds the field on line that match picks; a flow mapping puts many on one line.
func pathAt(nodes []located, line int, match func(located) bool) string {
	for _, n := range nodes {
		l := n.val.Line
		if n.key != nil {
			l = n.key.Line
		}
		if (l == line || n.val.Line == line) && match(n) {
			return n.path
		}
	}
	return ""
}

// sameValue compares a node's value with the decoder's quote of it, which
// cuts long values to seven characters and "...".
func sameValue(node, quoted string) bool {
	if strings.HasSuffix(quoted, yamlTruncated) {
		return strings.HasPrefix(node, strings.TrimSuffix(quoted, yamlTruncated))
	}
	return node == quoted
}

// typeHint says what the field wants for the common mistakes: a duration
// without its unit, a word or a percent where a number goes.
func typeHint(tag, value, into string) string {
	got := "this value"
	if value != "" {
		got = "`" + value + "`"
	}
	switch {
	case into == "time.Duration" && (tag == "!!int" || tag == "!!float"):
		fix := value + "s"
		if n, err := strconv.Atoi(value); err == nil && n > 0 {
			switch {
			case n%3600 == 0:
				fix += fmt.Sprintf(" or %dh", n/3600)
			case n%60 == 0:
				fix += fmt.Sprintf(" or %dm", n/60)
			}
		}
		return fmt.Sprintf("%s is a number without a unit: a duration needs one, e.g. %s", got, fix)
	case into == "time.Duration":
		return fmt.Sprintf("%s is not a duration: write a number with a unit, e.g. 30s, 5m or 1h", got)
	case strings.HasPrefix(into, "float") && strings.HasSuffix(value, "%"):
		if f, err := strconv.ParseFloat(strings.TrimSuffix(value, "%"), 64); err == nil {
			return fmt.Sprintf("%s is a percent: write the ratio %s", got, asRatio(f))
		}
		return fmt.Sprintf("%s is not a number", got)
	case strings.HasPrefix(into, "float"):
		return fmt.Sprintf("%s is not a number", got)
	case strings.HasPrefix(into, "int") || strings.HasPrefix(into, "uint"):
		return fmt.Sprintf("%s is not a whole number: write it in digits, e.g. 3", got)
	case into == "bool":
		return fmt.Sprintf("%s is not true or false", got)
	case tag == "!!seq":
		return fmt.Sprintf("a list is not allowed here (it wants a %s)", shapeOf(into))
	case tag == "!!map":
		return fmt.Sprintf("a mapping is not allowed here (it wants a %s)", shapeOf(into))
	}
	return fmt.Sprintf("%s (%s) does not fit here: it wants a %s", got, tag, shapeOf(into))
}

// shapeOf names a decoder's Go type the way the file writes it.
func shapeOf(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "config."), strings.HasPrefix(goType, "*config."), strings.HasPrefix(goType, "hwcloud."):
		return "mapping"
	case goType == "string":
		return "string"
	}
	return goType
}

// knownKeys lists the keys the file may write at path, read from the yaml
// tags of the type that decodes it.
func knownKeys(path string) []string {
	t := reflect.TypeOf(Config{})
	for _, seg := range splitPath(path) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Slice, reflect.Map:
			t = t.Elem()
		case reflect.Struct:
			f, ok := fieldByTag(t, seg)
			if !ok {
				return nil
			}
			t = f.Type
		default:
			return nil
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && path != "" && strings.HasSuffix(path, ".signals") {
		return Signals()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if name := tagName(t.Field(i)); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// splitPath cuts groups[1].scaling into groups, [1], scaling.
func splitPath(p string) []string {
	var out []string
	for _, part := range strings.Split(p, ".") {
		if part == "" {
			continue
		}
		if i := strings.Index(part, "["); i >= 0 {
			if i > 0 {
				out = append(out, part[:i])
			}
			for _, idx := range strings.SplitAfter(part[i:], "]") {
				if idx != "" {
					out = append(out, idx)
				}
			}
			continue
		}
		out = append(out, part)
	}
	return out
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if tagName(t.Field(i)) == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// suggest names the known key closest to a mistyped one, or lists them all
// when none is close.
func suggest(word string, known []string) string {
	best, bestD := "", len(word)/3+2
	for _, k := range known {
		if d := editDistance(word, k); d < bestD {
			best, bestD = k, d
		}
	}
	switch {
	case best != "":
		return ": did you mean " + best + "?"
	case len(known) > 0:
		return " (known: " + strings.Join(known, ", ") + ")"
	}
	return ""
}

// editDistance is Levenshtein's distance between two keys.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// asRatio writes a percent as the ratio the file wants, without the binary
// noise of the division (85/100 prints 0.85, not 0.8500000000000001).
func asRatio(percent float64) string {
	return strconv.FormatFloat(percent/100, 'g', 12, 64)
}
