package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/common/shim"
	"github.com/influxdata/telegraf/plugins/inputs"
)

const pluginName = "nflog"

// blockingPreferrer is the plugin's PreferBlockingReads, reached through an
// interface so that the binary also builds where the plugin is a stub.
type blockingPreferrer interface{ PreferBlockingReads() }

// The binary is a process of its own that does little but read, so its
// plugin waits in the kernel by default, as a C reader does (read_mode in
// sample.conf; bench/README.md, "Blocking reads"): the plugin's creator is
// wrapped before any configuration is loaded through it.
func init() {
	create, ok := inputs.Inputs[pluginName]
	if !ok {
		return
	}
	inputs.Add(pluginName, func() telegraf.Input {
		in := create()
		if p, ok := in.(blockingPreferrer); ok {
			p.PreferBlockingReads()
		}
		return in
	})
}

// loadPlugin builds the plugin from the config file at path, as the shim
// does, after a strict pass that the shim lacks: the file must hold one
// [[inputs.nflog]] table and nothing else, and every key in it must be an
// option of the plugin. Options that Telegraf itself would handle
// (interval, alias, tags, ...) are errors too, since nothing here applies
// them: they belong on the [[inputs.execd]] block.
//
// With path empty the plugin gets its defaults.
func loadPlugin(path string) (telegraf.Input, error) {
	if path == "" {
		creator, ok := inputs.Inputs[pluginName]
		if !ok {
			return nil, errors.New("the nflog plugin is not compiled in")
		}
		return creator(), nil
	}
	if err := checkKeys(path); err != nil {
		return nil, err
	}
	loaded, err := shim.LoadConfig(&path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if loaded.Input == nil {
		return nil, fmt.Errorf("%s: no [[inputs.%s]] table", path, pluginName)
	}
	return loaded.Input, nil
}

// checkKeys decodes the file a second time and reports any key that is not
// an option of the plugin.
func checkKeys(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var conf struct {
		Inputs map[string][]toml.Primitive `toml:"inputs"`
	}
	md, err := toml.Decode(expandEnv(string(data)), &conf)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for name := range conf.Inputs {
		if name != pluginName {
			return fmt.Errorf("%s: [[inputs.%s]]: the file holds one [[inputs.%s]] table and nothing else", path, name, pluginName)
		}
	}
	tables := conf.Inputs[pluginName]
	switch {
	case len(tables) == 0:
		return fmt.Errorf("%s: no [[inputs.%s]] table", path, pluginName)
	case len(tables) > 1:
		return fmt.Errorf("%s: %d [[inputs.%s]] tables, but one process reads one; run one process per table",
			path, len(tables), pluginName)
	}
	creator, ok := inputs.Inputs[pluginName]
	if !ok {
		return errors.New("the nflog plugin is not compiled in")
	}
	if err := md.PrimitiveDecode(tables[0], creator()); err != nil {
		return fmt.Errorf("%s: [[inputs.%s]]: %w", path, pluginName, err)
	}
	var unknown, foreign []string
	for _, key := range md.Undecoded() {
		switch {
		case len(key) == 2 && key[0] == "inputs" && key[1] == pluginName:
			// The table itself.
		case len(key) > 2 && key[0] == "inputs" && key[1] == pluginName:
			unknown = append(unknown, strings.Join(key[2:], "."))
		case len(key) >= 2 && key[0] == "inputs":
			foreign = append(foreign, "[[inputs."+key[1]+"]]")
		default:
			foreign = append(foreign, key[0])
		}
	}
	slices.Sort(foreign)
	foreign = slices.Compact(foreign)
	if len(foreign) > 0 {
		return fmt.Errorf("%s: %s: the file holds one [[inputs.%s]] table and nothing else",
			path, strings.Join(foreign, ", "), pluginName)
	}
	const hint = "check the spelling against the sample configuration (Telegraf's own options such as interval or tags go on the [[inputs.execd]] block)"
	switch len(unknown) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s: unknown option %q in [[inputs.%s]]: %s", path, unknown[0], pluginName, hint)
	}
	return fmt.Errorf("%s: unknown options %q in [[inputs.%s]]: %s", path, unknown, pluginName, hint)
}

// expandEnv replaces $VAR and ${VAR} as the shim does, escaping quotes and
// backslashes so that the values stay inside TOML strings.
func expandEnv(s string) string {
	esc := strings.NewReplacer(`"`, `\"`, `\`, `\\`)
	return os.Expand(s, func(key string) string { return esc.Replace(os.Getenv(key)) })
}
