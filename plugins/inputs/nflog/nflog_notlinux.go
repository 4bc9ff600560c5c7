//go:generate ../../../tools/readme_config_includer/generator
//go:build !linux

package nflog

import (
	_ "embed"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs"
)

//go:embed sample.conf
var sampleConfig string

type NFLOG struct {
	Log telegraf.Logger `toml:"-"`
}

func (*NFLOG) SampleConfig() string { return sampleConfig }

func (n *NFLOG) Init() error {
	n.Log.Warn("Current platform is not supported")
	return nil
}

func (*NFLOG) Gather(telegraf.Accumulator) error { return nil }

func init() {
	inputs.Add("nflog", func() telegraf.Input {
		return &NFLOG{}
	})
}
