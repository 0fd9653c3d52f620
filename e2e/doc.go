// Package e2e holds the end-to-end tests of the closed loop (build tag e2e):
// simcloud, the exporter, the actuator, and the real prometheus and
// prometheus-alertmanager. Run them with `make e2e`.
package e2e
