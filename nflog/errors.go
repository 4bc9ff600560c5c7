package nflog

import (
	"errors"
	"fmt"
	"os"
)

// Sentinel errors. Match them with errors.Is; the errors returned wrap them
// together with the underlying errno and a sentence saying what to do.
var (
	// ErrClosed is returned by reads once the reader is closed and the
	// messages it had already received are drained. It is os.ErrClosed, so
	// errors.Is(err, os.ErrClosed) matches too.
	ErrClosed = os.ErrClosed

	// ErrWouldBlock is returned by the non-blocking reads when no message is
	// waiting.
	ErrWouldBlock = errors.New("nflog: no message waiting")

	// ErrOverrun reports that the socket receive buffer overflowed and the
	// kernel dropped at least one message (ENOBUFS). It is returned only
	// with OverrunError; the reader stays usable.
	ErrOverrun = errors.New("socket receive buffer overrun, messages were dropped")

	// ErrMalformed reports a message that does not follow the wire format.
	// Decoding errors wrap it inside a *DecodeError; the reader stays usable.
	ErrMalformed = errors.New("malformed message")

	// ErrPermission: the process lacks CAP_NET_ADMIN.
	ErrPermission = errors.New("permission denied")

	// ErrGroupBusy: the group is bound by another netlink socket.
	ErrGroupBusy = errors.New("group busy: already bound by another netlink socket")

	// ErrNotSupported: the kernel (or platform) lacks what was asked for.
	ErrNotSupported = errors.New("not supported")

	// ErrTruncated reports a capture file that ends inside a record (or
	// inside its header): tcpdump was stopped while writing, or the copy is
	// incomplete. The records before it were read; it is returned in a
	// *CaptureError that says where, and ends the stream.
	ErrTruncated = errors.New("capture file is truncated")

	// ErrSkipped reports that a pcapng capture holds packets of an
	// interface that is not NFLOG (tcpdump -i nflog:5 -i lo): they are
	// skipped and counted in Stats.Skipped, and the NFLOG ones read. It is
	// returned once per reader, in a *CaptureError naming the first such
	// record; the reader stays usable (IsTemporary).
	ErrSkipped = errors.New("packets of an interface that is not NFLOG are skipped")

	// ErrNameWatch reports that the goroutine following interface renames
	// (rtnetlink link notifications) stopped on an error of its socket.
	// Names are then looked up from the kernel as packets need them,
	// which is slower but as right. It is returned once per reader, in an
	// *OpError with the cause, and counted in Stats.NameWatchFailures; the
	// reader stays usable (IsTemporary).
	ErrNameWatch = errors.New("interface names are no longer followed (each is now looked up as packets need it)")

	// ErrInvalidConfig is wrapped by every validation error of Open,
	// OpenGroups, Config.Validate and SetReadBufferSize, each a
	// *ConfigError.
	ErrInvalidConfig = errors.New("nflog: invalid configuration")
)

// ConfigError reports an option outside what the kernel accepts (or would
// silently ignore). It wraps ErrInvalidConfig. Field names the option the
// way Config spells it, so that a program with its own option names (a
// configuration file) can say which of its settings is wrong; Reason says
// what is wrong and what is allowed.
type ConfigError struct {
	// Field is the Config field, e.g. "CopyRange", or "Groups" for the
	// group arguments of Open and OpenGroups.
	Field string
	// Value is the value given (for Groups, the offending group), nil when
	// none was given.
	Value any
	// Reason is what is wrong and the allowed range, without the field and
	// the value, e.g. "out of range 0-65531 bytes (0 means the maximum)".
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%v: %s", ErrInvalidConfig, e.Reason)
	}
	return fmt.Sprintf("%v: %s %s is %s", ErrInvalidConfig, fieldWords(e.Field), configValue(e.Value), e.Reason)
}

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// fieldWords names a Config field in words, for Error.
func fieldWords(field string) string {
	switch field {
	case "Groups":
		return "group"
	case "FlushTimeout":
		return "flush timeout"
	case "QueueThreshold":
		return "queue threshold"
	case "ReadBufferSize":
		return "read buffer size"
	case "MaxReadBufferSize":
		return "maximum read buffer size"
	case "NetlinkBufferSize":
		return "netlink buffer size"
	case "CopyMode":
		return "copy mode"
	case "CopyRange":
		return "copy range"
	case "Flags":
		return "flags"
	case "NetNS":
		return "network namespace fd"
	case "OnOverrun":
		return "overrun policy"
	case "ReadMode":
		return "read mode"
	}
	return field
}

// configValue formats a value as the user wrote it: enums as their number
// (their String says "CopyMode(9)" for an unknown one), flags in hex.
func configValue(v any) string {
	switch v := v.(type) {
	case Flags:
		return fmt.Sprintf("%#x", uint16(v))
	case CopyMode:
		return fmt.Sprint(uint8(v))
	case ReadMode:
		return fmt.Sprint(uint8(v))
	case OverrunPolicy:
		return fmt.Sprint(uint8(v))
	}
	return fmt.Sprint(v)
}

// DecodeError reports a message that could not be decoded. It is counted in
// Stats.DecodeErrors and returned by the read that met it; the reader goes
// on with the next message.
type DecodeError struct {
	Raw []byte // the offending message (body after the netlink header), a copy
	Err error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("nflog: decoding a %d-byte message: %v", len(e.Raw), e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// OpError is returned by Open and the socket operations: it names the
// operation and the group.
type OpError struct {
	Op    string // "open", "bind", "configure", "receive", ...
	Group int    // -1 when not tied to one group
	Err   error
}

func (e *OpError) Error() string {
	if e.Group >= 0 {
		return fmt.Sprintf("nflog: %s group %d: %v", e.Op, e.Group, e.Err)
	}
	return fmt.Sprintf("nflog: %s: %v", e.Op, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// CaptureError reports where in a capture file reading stopped or what it
// skipped. It wraps ErrTruncated for a file cut short, ErrSkipped for the
// first packet of an interface that is not NFLOG, and the reason why a
// damaged file cannot be read on.
type CaptureError struct {
	// File is the path given to OpenFile; empty for NewFileReader.
	File string
	// Record is the number of the record concerned, 1 for the first packet
	// record of the file: for a truncated file, the one cut short (those
	// before it were read).
	Record int
	// Offset is the byte offset in the file where that record (in pcapng,
	// its block) starts.
	Offset int64
	Err    error
}

func (e *CaptureError) Error() string {
	file := ""
	if e.File != "" {
		file = e.File + ": "
	}
	return fmt.Sprintf("nflog: %srecord %d at byte offset %d: %v", file, e.Record, e.Offset, e.Err)
}

func (e *CaptureError) Unwrap() error { return e.Err }

// IsTemporary reports whether err leaves the reader usable: an overrun, a
// decode error, a would-block, the note that a capture's packets of other
// interfaces are skipped (ErrSkipped), or that interface names are no
// longer followed (ErrNameWatch). Any other error from a read is final.
func IsTemporary(err error) bool {
	var de *DecodeError
	return errors.Is(err, ErrOverrun) || errors.Is(err, ErrWouldBlock) || errors.Is(err, ErrSkipped) ||
		errors.Is(err, ErrNameWatch) || errors.As(err, &de)
}
