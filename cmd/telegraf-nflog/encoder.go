package main

import (
	"fmt"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/serializers/json"
)

// encoder appends a metric's serialized form to a buffer.
type encoder interface {
	appendMetric(dst []byte, m telegraf.Metric) ([]byte, error)
}

func newSerializer(format string) (encoder, error) {
	if format == "json" {
		// Timestamps in nanoseconds, as in line protocol.
		s := &json.Serializer{TimestampUnits: config.Duration(time.Nanosecond)}
		if err := s.Init(); err != nil {
			return nil, fmt.Errorf("creating the json serializer: %w", err)
		}
		return serializerEncoder{s}, nil
	}
	lp, err := newLineProtocol()
	if err != nil {
		return nil, fmt.Errorf("creating the influx serializer: %w", err)
	}
	return lp, nil
}

// serializerEncoder is an encoder on a Telegraf serializer.
type serializerEncoder struct{ telegraf.Serializer }

func (e serializerEncoder) appendMetric(dst []byte, m telegraf.Metric) ([]byte, error) {
	b, err := e.Serialize(m)
	return append(dst, b...), err
}
