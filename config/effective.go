package config

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flexus-autoscaler/flexus/scoring"
)

// Effective is the configuration in force as YAML: every default filled in,
// in the file's own keys, durations as Go duration strings ("0s", "5m0s")
// that parse back, and secrets as <secret>. Parsing it gives the same Config,
// except that a scale-out cooldown defaulted from the policy is then written:
// the same in force, but kept if the group is replayed under another policy
// (Group.ForPolicy).
// The advisor block is kept raw here and may hold a key, so it is shown only
// as advisorBlock, the block its owner decoded (defaults in, secrets typed);
// nil leaves it out.
func (c *Config) Effective(advisorBlock any) ([]byte, error) {
	shown := *c
	shown.Advisor = yaml.Node{}
	shown.Groups = make([]Group, len(c.Groups))
	for i, g := range c.Groups {
		// A default signal the file disabled is shown as disabled, or the
		// output would bring it back.
		g.Signals = maps.Clone(g.Signals)
		for _, sig := range scoring.Signals() {
			name := string(sig)
			_, isDefault := defaultSignals()[name]
			if _, ok := g.Signals[name]; !ok && (isDefault || g.disabled[name]) {
				g.Signals[name] = Signal{Disabled: true}
			}
		}
		shown.Groups[i] = g
	}
	n, err := toNode(reflect.ValueOf(&shown).Elem())
	if err != nil {
		return nil, err
	}
	if advisorBlock != nil {
		a, err := toNode(reflect.ValueOf(advisorBlock))
		if err != nil {
			return nil, fmt.Errorf("advisor: %w", err)
		}
		// In the file's order: right after actuator.
		for i := 0; i < len(n.Content); i += 2 {
			if n.Content[i].Value == "actuator" {
				n.Content = append(n.Content[:i+2], append([]*yaml.Node{scalar("advisor"), a}, n.Content[i+2:]...)...)
				break
			}
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

var (
	durationType  = reflect.TypeOf(time.Duration(0))
	nodeType      = reflect.TypeOf(yaml.Node{})
	marshalerType = reflect.TypeOf((*yaml.Marshaler)(nil)).Elem()
)

// toNode writes v as yaml.Marshal would, except for durations, which yaml
// writes as nanoseconds, and struct fields, which keep their declared order.
func toNode(v reflect.Value) (*yaml.Node, error) {
	switch {
	case v.Type() == durationType:
		return scalar(time.Duration(v.Int()).String()), nil
	case v.Type() == nodeType:
		n := v.Interface().(yaml.Node)
		if n.Kind == 0 {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
			return n.Content[0], nil
		}
		return &n, nil
	case v.Type().Implements(marshalerType):
		m, err := v.Interface().(yaml.Marshaler).MarshalYAML()
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{}
		return n, n.Encode(m)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
		}
		return toNode(v.Elem())
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || key == "-" || key == "" || absent(v.Field(i)) {
				continue
			}
			val, err := toNode(v.Field(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			n.Content = append(n.Content, scalar(key), val)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			val, err := toNode(v.MapIndex(k))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			n.Content = append(n.Content, scalar(k.String()), val)
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i := 0; i < v.Len(); i++ {
			val, err := toNode(v.Index(i))
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			n.Content = append(n.Content, val)
		}
		return n, nil
	case reflect.Float32, reflect.Float64:
		return scalar(strconv.FormatFloat(v.Float(), 'g', -1, 64)), nil
	}
	n := &yaml.Node{}
	return n, n.Encode(v.Interface())
}

// absent is a field the file did not set and that has no default: a nil
// section, list or map, or an empty raw block. Leaving it out keeps the
// output short and makes it parse back to the same value.
func absent(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice:
		return v.IsNil()
	}
	return v.Type() == nodeType && v.Interface().(yaml.Node).Kind == 0
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }
