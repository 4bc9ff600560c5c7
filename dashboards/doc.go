// Package dashboards builds the project's Grafana dashboards as code, with
// the Apache-2.0 grafana-foundation-sdk: one dashboard for an InfluxDB 1.x
// datasource (InfluxQL) and one for a Prometheus datasource (PromQL), with
// the same panels. The JSON files next to this file are what users import;
// they are generated, never edited by hand:
//
//	go generate ./dashboards/
//
// TestCommittedJSON fails when a committed file differs from what the
// generator makes, and the end-to-end test (e2e/dashboards_linux_test.go)
// runs every panel's query against real InfluxDB and Prometheus servers fed
// by Telegraf with telegraf.conf and nflog.conf of this directory.
//
// The metrics come from the configuration in nflog.conf: prefixes like
// "DROP:wan" and "ACCEPT:lan" split by prefix_pattern into the tags action
// and zone, ip_proto as an extra tag, and the rankings "src", "src_net" and
// "dport" of nflog_top.
package dashboards

//go:generate go run ./gen
