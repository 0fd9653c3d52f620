package config

import "time"

// UnmarshalYAML decodes the actuator's block over its defaults. With etcd
// the state lives there: the default state_file is dropped, and one the
// file writes is kept so that validation can refuse the pair.
func (a *Actuator) UnmarshalYAML(unmarshal func(any) error) error {
	type actuator Actuator
	if err := unmarshal((*actuator)(a)); err != nil {
		return err
	}
	if a.Etcd == nil {
		return nil
	}
	var written struct {
		StateFile *string        `yaml:"state_file"`
		Rest      map[string]any `yaml:",inline"` // checked by the strict decode above
	}
	if err := unmarshal(&written); err != nil {
		return err
	}
	if written.StateFile == nil {
		a.StateFile = ""
	}
	return nil
}

// UnmarshalYAML decodes the etcd block over its defaults.
func (e *Etcd) UnmarshalYAML(unmarshal func(any) error) error {
	*e = Etcd{Prefix: "/flexus/", DialTimeout: 5 * time.Second, LeaseTTL: 10 * time.Second}
	type etcd Etcd
	return unmarshal((*etcd)(e))
}
