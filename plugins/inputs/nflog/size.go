package nflog

import (
	"fmt"

	"github.com/influxdata/telegraf/config"
)

// Size is a size option in bytes, written as Telegraf's config.Size is: a
// bare number of bytes, or a number and a unit such as "64KiB" or "8MiB".
// It exists for the error: config.Size passes on the one of the units
// package, which has a double space and no hint of what is allowed
// ("units: unknown unit  MiBs in 8 MiBs").
type Size int64

// UnmarshalText parses the value as config.Size does.
func (s *Size) UnmarshalText(b []byte) error {
	var c config.Size
	if err := c.UnmarshalText(b); err != nil {
		return fmt.Errorf(`invalid size %q: write a number of bytes, or a number and a unit such as "64KiB" or "8MiB" (KiB, MiB and GiB count in 1024s, KB, MB and GB in 1000s)`, b)
	}
	*s = Size(c)
	return nil
}
