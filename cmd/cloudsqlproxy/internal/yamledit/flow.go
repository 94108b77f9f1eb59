package yamledit

import (
	"reflect"
	"strings"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// A flowSpan is where one member of a flow collection stands: its key (its
// value, in a list) and the end of its value.
type flowSpan struct{ ks, vs, ve int }

// flowSpans finds the brackets of flow collection n and its members, and
// checks that only white space and single commas lie between them.
func (s *splicer) flowSpans(n *yaml.Node) (open, close int, spans []flowSpan, ok bool) {
	open = s.offset(n)
	if open < 0 || n.Anchor != "" || (s.src[open] != '{' && s.src[open] != '[') {
		return 0, 0, nil, false
	}
	close = s.matchBracket(open)
	if close < 0 {
		return 0, 0, nil, false
	}
	step := 1
	if n.Kind == yaml.MappingNode {
		step = 2
	}
	prev := open + 1
	for i := 0; i+step-1 < len(n.Content); i += step {
		v := n.Content[i+step-1]
		var sp flowSpan
		sp.ks, sp.vs = s.offset(n.Content[i]), s.offset(v)
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" && v.Value == "" {
			return 0, 0, nil, false // {a} or {a: }: no text to replace
		}
		sp.ve = s.valueEnd(v, true)
		if sp.ks < prev || sp.vs < sp.ks || sp.ve < sp.vs || sp.ve > close || !gap(s.src[prev:sp.ks], i > 0, i > 0) {
			return 0, 0, nil, false
		}
		spans = append(spans, sp)
		prev = sp.ve
	}
	if !gap(s.src[prev:close], false, len(spans) > 0) {
		return 0, 0, nil, false
	}
	return open, close, spans, true
}

// gap checks the text between two members: white space and a comma (need:
// exactly one; may: at most one).
func gap(b []byte, need, may bool) bool {
	commas := 0
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		case ',':
			commas++
		default:
			return false
		}
	}
	return commas == 1 && need || commas == 0 && !need || commas == 1 && may && !need
}

func (s *splicer) multiLine(n *yaml.Node) bool {
	open := s.offset(n)
	if open < 0 {
		return false
	}
	close := s.matchBracket(open)
	return close > 0 && s.lineOf(close) != s.lineOf(open)
}

// flowText writes nv for offset at of a flow collection or JSON document;
// pretty: as multi-line JSON indented like the line at holds.
func (s *splicer) flowText(nv any, t reflect.Type, at int, pretty bool) string {
	var b strings.Builder
	if s.json {
		step := ""
		if pretty {
			step = s.r.step
		}
		s.r.json(&b, nv, t, s.indentAt(at), step)
		return s.conv(b.String())
	}
	s.r.flow(&b, nv, t)
	return b.String()
}

// indentAt is the white space that starts the line holding offset at.
func (s *splicer) indentAt(at int) string {
	ls := s.lineStart(s.lineOf(at))
	e := ls
	for e < at && (s.src[e] == ' ' || s.src[e] == '\t') {
		e++
	}
	return string(s.src[ls:e])
}

// sepText is the text to put between two members of a flow collection: what
// its first two members have between them, else a comma and the spacing
// its layout suggests.
func (s *splicer) sepText(open, close int, spans []flowSpan) string {
	if len(spans) >= 2 {
		return string(s.src[spans[0].ve:spans[1].ks])
	}
	if s.lineOf(open) != s.lineOf(close) {
		return "," + s.nl + s.indentAt(spans[0].ks)
	}
	if s.json {
		return s.r.comma
	}
	return ", "
}

func (s *splicer) flowMember(k string, v any, t reflect.Type, at int, pretty bool) string {
	if s.json {
		return jsonScalar(k) + s.r.colon + s.flowText(v, t, at, pretty)
	}
	return s.r.yamlString(k, true) + ": " + s.flowText(v, t, at, false)
}

func (s *splicer) flowMapping(m *yaml.Node, old, nv map[string]any, t reflect.Type) bool {
	keys, ok := mappingKeys(m, old)
	if !ok {
		return false
	}
	open, close, spans, ok := s.flowSpans(m)
	if !ok || len(spans) != len(keys) {
		return false
	}
	deleted := make([]bool, len(keys))
	last := -1
	for i, k := range keys {
		v, in := nv[k]
		if !in {
			deleted[i] = true
			continue
		}
		last = i
		if vn := m.Content[2*i+1]; !equalValues(old[k], v) && !s.inside(vn, old[k], v, memberType(t, k), k) {
			s.writtenAnew(vn, old[k], v)
			s.add(spans[i].vs, spans[i].ve, s.flowText(v, memberType(t, k), spans[i].vs, s.multiLine(m)))
		}
	}
	if last < 0 {
		return false
	}
	s.cut(spans, deleted, last)
	sep := s.sepText(open, close, spans)
	pretty := s.lineOf(open) != s.lineOf(close)
	for _, k := range s.addedKeys(old, nv, t) {
		pos := s.insertPos(keys, k, t)
		if pos <= last {
			at := spans[pos].ks
			s.add(at, at, s.flowMember(k, nv[k], memberType(t, k), at, pretty)+sep)
		} else {
			at := spans[last].ve
			s.add(at, at, sep+s.flowMember(k, nv[k], memberType(t, k), spans[last].ks, pretty))
		}
	}
	return true
}

// cut removes the deleted members with their commas: each before the last
// kept member with the text up to the next member, the ones after it with
// the text from the kept member's end.
func (s *splicer) cut(spans []flowSpan, deleted []bool, last int) {
	for i := 0; i < last; i++ {
		if deleted[i] {
			s.add(spans[i].ks, spans[i+1].ks, "")
		}
	}
	if last < len(spans)-1 {
		s.add(spans[last].ve, spans[len(spans)-1].ve, "")
	}
}

func (s *splicer) flowSequence(q *yaml.Node, old, nv []any, t reflect.Type, field string) bool {
	open, close, spans, ok := s.flowSpans(q)
	if !ok || len(spans) != len(old) {
		return false
	}
	oldTo := pairItems(old, nv, field)
	newTo := make([]int, len(nv))
	for j := range newTo {
		newTo[j] = -1
	}
	deleted := make([]bool, len(old))
	last := -1
	pretty := s.lineOf(open) != s.lineOf(close)
	for i, j := range oldTo {
		if j < 0 {
			deleted[i] = true
			continue
		}
		last, newTo[j] = i, i
		if !equalValues(old[i], nv[j]) && !s.inside(q.Content[i], old[i], nv[j], t, "") {
			s.writtenAnew(q.Content[i], old[i], nv[j])
			s.add(spans[i].vs, spans[i].ve, s.flowText(nv[j], t, spans[i].vs, pretty))
		}
	}
	if last < 0 {
		return false
	}
	s.cut(spans, deleted, last)
	sep := s.sepText(open, close, spans)
	for j, i := range newTo {
		if i >= 0 {
			continue
		}
		next := nextKept(newTo, j)
		if next >= 0 {
			at := spans[next].ks
			s.add(at, at, s.flowText(nv[j], t, at, pretty)+sep)
		} else {
			at := spans[last].ve
			s.add(at, at, sep+s.flowText(nv[j], t, spans[last].ks, pretty))
		}
	}
	return true
}
