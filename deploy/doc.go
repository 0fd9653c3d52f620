// Package deploy holds no code: it holds the example Prometheus, Alertmanager,
// Grafana, compose and Kubernetes files, and its tests check them with the
// real promtool and amtool and with the config loaders of flexus and simcloud.
package deploy
