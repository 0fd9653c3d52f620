package tune

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// builtinConfig is the group the backtest scales when no config is given
// (backtest.DefaultConfig's text): the seed article's table, an AS group of 1..20.
const builtinConfig = `cloud:
  region: cn-north-4
  project_id: backtest
groups:
  - name: backtest
    discovery:
      as_group_id: backtest
    min_instances: 1
    max_instances: 20
`

// apply returns the config file src with p set on the group (its signals,
// risk and scaling guards), keeping everything else of the file (comments
// included) as it was.
func apply(src []byte, group string, p Point) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("tune: config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("tune: config: the file is not a mapping")
	}
	groups := lookup(doc.Content[0], "groups")
	if groups == nil || groups.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("tune: config: no groups: list")
	}
	var g *yaml.Node
	for _, n := range groups.Content {
		if name := lookup(n, "name"); name != nil && name.Value == group {
			g = n
		}
	}
	if g == nil {
		return nil, fmt.Errorf("tune: config: group %q is not in groups:", group)
	}
	for _, k := range sortedKnobs(p) {
		path := k.path()
		m := g
		for _, key := range path[:len(path)-1] {
			m = ensureMap(m, key)
		}
		value, tag := k.yamlValue(p[k])
		set(m, path[len(path)-1], value, tag)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("tune: writing config: %w", err)
	}
	return buf.Bytes(), enc.Close()
}

// fragment is the YAML to paste under the group: its name and the signals set.
func fragment(group string, p Point) string {
	name, err := yaml.Marshal(map[string]any{"groups": []map[string]string{{"name": group}}})
	if err != nil {
		return ""
	}
	out, err := apply(name, group, p)
	if err != nil {
		return ""
	}
	return string(out)
}

func sortedKnobs(p Point) []Knob {
	var ks []Knob
	for k := range p {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// ensureMap returns m's mapping under key, adding an empty one (block style)
// when there is none.
func ensureMap(m *yaml.Node, key string) *yaml.Node {
	if v := lookup(m, key); v != nil {
		if v.Kind == yaml.MappingNode {
			return v
		}
		// `signals:` left empty decodes as null: make it a mapping.
		v.Kind, v.Tag, v.Value, v.Style = yaml.MappingNode, "!!map", "", 0
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v
}

func set(m *yaml.Node, key, value, tag string) {
	if v := lookup(m, key); v != nil {
		v.Kind, v.Tag, v.Value, v.Style = yaml.ScalarNode, tag, value, 0
		return
	}
	m.Content = append(m.Content,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value})
}
