package yamledit

import (
	"strings"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// valueEnd is the offset just past node v's text, or -1 where the splicer
// does not follow the syntax (block scalars, anchors, tags). flow: v is
// inside a flow collection, where a plain scalar ends at ",]}".
func (s *splicer) valueEnd(v *yaml.Node, flow bool) int {
	off := s.offset(v)
	if off < 0 || off > len(s.src) {
		return -1
	}
	if off == len(s.src) {
		return off
	}
	switch s.src[off] {
	case '{', '[':
		if v.Kind == yaml.ScalarNode {
			return -1
		}
		e := s.matchBracket(off)
		if e < 0 {
			return -1
		}
		return e + 1
	case '"', '\'':
		return s.skipQuoted(off)
	case '|', '>', '&', '!':
		return -1
	}
	if v.Kind != yaml.ScalarNode && v.Kind != yaml.AliasNode {
		return -1
	}
	i := off
	for ; i < len(s.src); i++ {
		c := s.src[i]
		if c == '\n' || c == '\r' || flow && (c == ',' || c == ']' || c == '}') {
			break
		}
		if c == '#' && (i == off || s.src[i-1] == ' ' || s.src[i-1] == '\t') {
			break
		}
	}
	for i > off && (s.src[i-1] == ' ' || s.src[i-1] == '\t') {
		i--
	}
	return i
}

// skipQuoted gives the offset past the quoted scalar starting at off.
func (s *splicer) skipQuoted(off int) int {
	q := s.src[off]
	for i := off + 1; i < len(s.src); i++ {
		switch c := s.src[i]; {
		case q == '"' && c == '\\':
			i++
		case c == q && q == '\'' && i+1 < len(s.src) && s.src[i+1] == '\'':
			i++
		case c == q:
			return i + 1
		}
	}
	return -1
}

// matchBracket finds the bracket closing the one at open, past quoted
// scalars and comments.
func (s *splicer) matchBracket(open int) int {
	depth := 0
	for i := open; i < len(s.src); i++ {
		switch c := s.src[i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i
			}
		case '"', '\'':
			if s.quoteStarts(i) {
				e := s.skipQuoted(i)
				if e < 0 {
					return -1
				}
				i = e - 1
			}
		case '#':
			if i > 0 && strings.IndexByte(" \t\n", s.src[i-1]) >= 0 {
				for i < len(s.src) && s.src[i] != '\n' {
					i++
				}
			}
		}
	}
	return -1
}

// quoteStarts tells a quote that opens a scalar from one inside a plain
// scalar (it's): an opening one follows a bracket, a comma or a colon.
func (s *splicer) quoteStarts(i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch c := s.src[j]; c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[', ',', ':', '?':
			return true
		default:
			return false
		}
	}
	return true
}
