package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/logger"
)

// lineLogger is the telegraf.Logger of the binary. It writes one line per
// message to stderr, starting with Telegraf's level indicator ("E! ",
// "W! ", "I! ", "D! ", "T! "), which inputs.execd maps back to the level.
// There is no timestamp: execd's own logger adds it.
type lineLogger struct {
	out    *syncWriter
	level  telegraf.LogLevel
	prefix string // "[inputs.nflog] "
}

// syncWriter serialises whole lines from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newLineLogger(w io.Writer, level telegraf.LogLevel, source string) *lineLogger {
	l := &lineLogger{out: &syncWriter{w: w}, level: level}
	if source != "" {
		l.prefix = "[" + source + "] "
	}
	return l
}

func (l *lineLogger) print(level telegraf.LogLevel, prefix string, msg string) {
	if !l.level.Includes(level) {
		return
	}
	var b strings.Builder
	// A message of several lines becomes several lines, each with the
	// indicator, so that execd logs every one at the right level.
	for line := range strings.Lines(strings.TrimRight(msg, "\n")) {
		b.WriteString(level.Indicator())
		b.WriteByte(' ')
		b.WriteString(prefix)
		b.WriteString(strings.TrimRight(line, "\r\n"))
		b.WriteByte('\n')
	}
	l.out.mu.Lock()
	defer l.out.mu.Unlock()
	_, _ = io.WriteString(l.out.w, b.String())
}

func (l *lineLogger) Level() telegraf.LogLevel       { return l.level }
func (*lineLogger) AddAttribute(string, interface{}) {}

func (l *lineLogger) Errorf(format string, args ...interface{}) {
	l.print(telegraf.Error, l.prefix, fmt.Sprintf(format, args...))
}
func (l *lineLogger) Error(args ...interface{}) {
	l.print(telegraf.Error, l.prefix, fmt.Sprint(args...))
}
func (l *lineLogger) Warnf(format string, args ...interface{}) {
	l.print(telegraf.Warn, l.prefix, fmt.Sprintf(format, args...))
}
func (l *lineLogger) Warn(args ...interface{}) { l.print(telegraf.Warn, l.prefix, fmt.Sprint(args...)) }
func (l *lineLogger) Infof(format string, args ...interface{}) {
	l.print(telegraf.Info, l.prefix, fmt.Sprintf(format, args...))
}
func (l *lineLogger) Info(args ...interface{}) { l.print(telegraf.Info, l.prefix, fmt.Sprint(args...)) }
func (l *lineLogger) Debugf(format string, args ...interface{}) {
	l.print(telegraf.Debug, l.prefix, fmt.Sprintf(format, args...))
}
func (l *lineLogger) Debug(args ...interface{}) {
	l.print(telegraf.Debug, l.prefix, fmt.Sprint(args...))
}
func (l *lineLogger) Tracef(format string, args ...interface{}) {
	l.print(telegraf.Trace, l.prefix, fmt.Sprintf(format, args...))
}
func (l *lineLogger) Trace(args ...interface{}) {
	l.print(telegraf.Trace, l.prefix, fmt.Sprint(args...))
}

// setupTelegrafLogging routes Telegraf's own loggers (the shim's, which
// reports acc.AddError, and the standard library's log, which Telegraf
// redirects) to l. It must run before anything logs: until
// logger.SetupLogging is called, Telegraf keeps every message in memory.
// Telegraf's sink is pointed at /dev/null and only errors reach it; a
// callback, which Telegraf calls for every message before its own level
// check, formats the lines instead.
func setupTelegrafLogging(l *lineLogger) error {
	if err := logger.SetupLogging(&logger.Config{Quiet: true, Logfile: os.DevNull}); err != nil {
		return err
	}
	_, err := logger.AddCallback(func(level telegraf.LogLevel, _ time.Time, source string, _ map[string]interface{}, args ...interface{}) {
		prefix := l.prefix
		if source != "" {
			prefix = "[" + source + "] "
		}
		l.print(level, prefix, fmt.Sprint(args...))
	})
	return err
}
