//go:build linux

package nflog

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nflogr/telegraf-nflog/nflog"
)

// Opt-in tags.
type extraTags uint16

const (
	tagFamily extraTags = 1 << iota
	tagGroup
	tagHook
	tagPhysInDev
	tagPhysOutDev
	tagGID
	tagIPProto
	tagSrcNet
	tagDstNet
)

var extraTagNames = map[string]extraTags{
	"family":     tagFamily,
	"group":      tagGroup,
	"hook":       tagHook,
	"physindev":  tagPhysInDev,
	"physoutdev": tagPhysOutDev,
	"gid":        tagGID,
	"ip_proto":   tagIPProto,
	"src_net":    tagSrcNet,
	"dst_net":    tagDstNet,
}

// reservedTag reports whether name is a tag the plugin may set itself, which
// a prefix_pattern group must not shadow.
func reservedTag(name string) bool {
	switch name {
	case "prefix", "indev", "outdev", "proto", "uid":
		return true
	}
	_, ok := extraTagNames[name]
	return ok
}

func (b *builder) addExtraTags(p *nflog.Packet, l *nflog.Layers, layersOK bool) {
	if b.tags&tagFamily != 0 {
		b.tag("family", p.Family.String())
	}
	if b.tags&tagGroup != 0 {
		b.tag("group", b.number(uint32(p.Group)))
	}
	if b.tags&tagHook != 0 && p.Has(nflog.AttrPacketHdr) {
		b.tag("hook", nflog.HookName(p.Family, p.Hook))
	}
	if b.tags&tagPhysInDev != 0 && p.Has(nflog.AttrPhysInDev) {
		b.tag("physindev", ifName(p.PhysInDevName, p.PhysInDev))
	}
	if b.tags&tagPhysOutDev != 0 && p.Has(nflog.AttrPhysOutDev) {
		b.tag("physoutdev", ifName(p.PhysOutDevName, p.PhysOutDev))
	}
	if b.tags&tagGID != 0 && p.Has(nflog.AttrGID) {
		b.tag("gid", b.number(p.GID))
	}
	if b.tags&tagIPProto != 0 && layersOK && l.HasTransport() {
		b.tag("ip_proto", nflog.IPProtocolName(l.Protocol))
	}
	if b.tags&(tagSrcNet|tagDstNet) != 0 && layersOK && l.HasTransport() {
		if b.tags&tagSrcNet != 0 {
			b.tag("src_net", b.nets.of(l.Src))
		}
		if b.tags&tagDstNet != 0 {
			b.tag("dst_net", b.nets.of(l.Dst))
		}
	}
}

type tagPair struct{ key, value string }

// tag sets a tag, unless it is set already, and appends it to the series
// key. Only prefix_pattern's groups can repeat a name (the plugin's own
// tags are distinct, and Init refuses groups named like them), so the scan
// for one is skipped without a pattern; a dozen tags at most: a scan beats
// a map.
func (b *builder) tag(name, value string) {
	if b.prefixRE != nil {
		for _, t := range b.tagList {
			if t.key == name {
				return
			}
		}
	}
	b.tagList = append(b.tagList, tagPair{name, value})
	b.key = append(b.key, name...)
	b.key = append(b.key, 0)
	b.key = append(b.key, value...)
	b.key = append(b.key, 0)
}

// tagValue makes an outside string (a log prefix and what prefix_pattern
// takes from it, an interface name: any bytes but NUL) safe for every
// output: each byte of invalid UTF-8, each control character (C0, DEL, C1),
// a trailing backslash, and a backslash before a double quote in a value
// that line protocol escapes (one with a space, a comma or an equals sign)
// become U+FFFD. Line protocol cannot carry them: Telegraf's serializer
// writes a newline or a tab as the two characters `\n` or `\t`, which
// parsers read back as such, and drops a trailing backslash (and the tag,
// when nothing is left); Telegraf's parser (inputs.execd reads the binary's
// output with it) turns `\"` into `"` in a tag value that holds an escape,
// though the serializer never escapes a quote; and JSON turns invalid UTF-8
// into U+FFFD. With this, line protocol and JSON show the same value, and it
// parses back unchanged (FuzzMetricOutput found the quote).
func tagValue(s string) string {
	// One pass for the common case (called per packet for the prefix and
	// the interface names): nothing to replace.
	clean, backslashQuote := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
		if c == '"' && i > 0 && s[i-1] == '\\' {
			backslashQuote = true
		}
	}
	if clean && !backslashQuote && !strings.HasSuffix(s, `\`) {
		return s
	}
	quoteEaten := strings.Contains(s, `\"`) && strings.ContainsAny(s, " ,=")
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i, r := range s { // invalid UTF-8 comes as utf8.RuneError
		if unicode.IsControl(r) || r == '\\' && (i == len(s)-1 || quoteEaten && s[i+1] == '"') {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prefixTags returns the tags that prefix_pattern's named groups extract
// from prefix, as name, value pairs, lower-cased. Prefixes are few (one per
// rule), so results are cached.
func (b *builder) prefixTags(prefix string) []string {
	if kv, ok := b.prefixes[prefix]; ok {
		return kv
	}
	var kv []string
	if m := b.prefixRE.FindStringSubmatchIndex(prefix); m != nil {
		for i, name := range b.prefixNames {
			if name == "" || m[2*i] < 0 || m[2*i] == m[2*i+1] {
				continue
			}
			kv = append(kv, name, tagValue(strings.ToLower(prefix[m[2*i]:m[2*i+1]])))
		}
	}
	if len(b.prefixes) >= cacheLimit {
		clear(b.prefixes)
	}
	b.prefixes[prefix] = kv
	return kv
}

func (b *builder) number(n uint32) string {
	if s, ok := b.numbers[n]; ok {
		return s
	}
	s := strconv.FormatUint(uint64(n), 10)
	if len(b.numbers) >= cacheLimit {
		clear(b.numbers)
	}
	b.numbers[n] = s
	return s
}

// ifName is the interface's name, made safe for the outputs, or
// "ifindexN" when names are not resolved.
func ifName(name string, index uint32) string {
	if name != "" {
		return tagValue(name)
	}
	return "ifindex" + strconv.FormatUint(uint64(index), 10)
}

// compilePrefixPattern compiles prefix_pattern and checks that it has named
// groups, none named like a tag of the plugin.
func compilePrefixPattern(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		// Quoted: the regexp's error holds the pattern's text raw, and
		// a newline in it would forge a line in Telegraf's log.
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid prefix_pattern %q: %s in %q", pattern, se.Code, se.Expr)
		}
		return nil, fmt.Errorf("invalid prefix_pattern %q: %q", pattern, err.Error())
	}
	named := 0
	for _, name := range re.SubexpNames() {
		if name == "" {
			continue
		}
		if reservedTag(name) {
			return nil, fmt.Errorf("invalid prefix_pattern: group name %q is a tag of the plugin; rename the group", name)
		}
		named++
	}
	if named == 0 {
		return nil, errors.New("invalid prefix_pattern: it has no named group; each named group (?P<name>...) becomes a tag")
	}
	return re, nil
}
