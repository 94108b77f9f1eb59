package yamledit

import (
	"reflect"
	"strings"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

func (s *splicer) blockMapping(m *yaml.Node, old, nv map[string]any, t reflect.Type) bool {
	keys, ok := mappingKeys(m, old)
	if !ok {
		return false
	}
	kept := 0
	for i, k := range keys {
		v, in := nv[k]
		switch {
		case !in && s.keepEmptyList(m, i, old[k], nv, k):
			kept++
		case !in:
			if !s.deleteEntry(m, i) {
				return false
			}
		case equalValues(old[k], v):
			kept++
		default:
			kept++
			if !s.child(m, i, old[k], v, memberType(t, k), k) {
				return false
			}
		}
	}
	if kept == 0 {
		return false
	}
	for _, k := range s.addedKeys(old, nv, t) {
		if !s.insertEntry(m, keys, k, nv[k], t) {
			return false
		}
	}
	return true
}

// keepEmptyList keeps a list the library empties as [] when it is written
// in flow style inside a block mapping: Helm renders empty values as
// "env: []", and inject, which fills such a list in place, would otherwise
// not find it again for remove to restore. (A list inject adds is written in
// block style, and goes again.) The value to write says [] too then.
func (s *splicer) keepEmptyList(m *yaml.Node, i int, ov any, nv map[string]any, k string) bool {
	if _, keyed := listKeys[k]; !keyed {
		return false
	}
	v := m.Content[2*i+1]
	if l, ok := ov.([]any); !ok || len(l) == 0 || v.Kind != yaml.SequenceNode || !isFlow(v) {
		return false
	}
	vs := s.offset(v)
	ve := s.valueEnd(v, false)
	if vs < 0 || ve < 0 {
		return false
	}
	s.add(vs, ve, "[]")
	nv[k] = []any{}
	return true
}

// entrySpan is where the i-th entry of block mapping m stands: from its
// line's start (or its key, when the key follows a list item's dash) to the
// start of the line after its last line.
func (s *splicer) entrySpan(m *yaml.Node, i int) (start, end int, ok bool) {
	k, v := m.Content[2*i], m.Content[2*i+1]
	koff := s.offset(k)
	if koff < 0 {
		return 0, 0, false
	}
	kl, col := k.Line-1, k.Column-1
	// A list whose dashes line up with the key (an anchor or tag before it
	// moves the node's own position, not the dashes).
	dash := false
	if v.Kind == yaml.SequenceNode && !isFlow(v) && len(v.Content) > 0 {
		d, ok := s.dashOf(v, 0)
		dash = ok && d-s.lineStart(s.lineOf(d)) == col
	}
	last, ok := s.nodeEnd(v, kl, col, dash)
	if !ok {
		return 0, 0, false
	}
	if 2*i+2 < len(m.Content) {
		next := m.Content[2*i+2].Line - 1
		if next <= kl {
			return 0, 0, false
		}
		last = min(last, next)
	}
	start = koff
	if s.startsLine(koff) {
		start = s.lineStart(kl)
	}
	return start, s.lineStart(last), true
}

// nodeEnd is the line after the last line of node v, which starts on line
// of an entry or item whose key or dash is at column col. Its lines are the
// ones indented deeper than col (dash: and the dashes of a list at col) and
// the comments among them; a flow collection or quoted scalar runs to its
// closing character whatever the indentation.
func (s *splicer) nodeEnd(v *yaml.Node, line, col int, dash bool) (int, bool) {
	last := line
	for l := line + 1; l < s.lines(); l++ {
		ind, kind := s.line(l)
		switch {
		case kind == blankLine:
			continue
		case kind == commentLine:
			if ind > col {
				last = l
			}
			continue
		case ind > col || dash && ind == col && s.isDash(l, ind):
			last = l
			continue
		}
		break
	}
	end := last + 1
	if isFlow(v) && v.Kind != yaml.ScalarNode || v.Kind == yaml.ScalarNode && v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		ve := s.valueEnd(v, false)
		if ve <= 0 {
			return 0, false
		}
		end = max(end, s.lineOf(ve-1)+1)
	}
	return end, true
}

// headStart is the start of the comment lines right above line l at its
// indentation, col: they belong to what l starts, and what is inserted
// before it goes above them.
func (s *splicer) headStart(l, col int) int {
	for l > 0 {
		if ind, kind := s.line(l - 1); kind != commentLine || ind != col {
			break
		}
		l--
	}
	return s.lineStart(l)
}

func (s *splicer) isDash(l, ind int) bool {
	p := s.lineStart(l) + ind
	return p < len(s.src) && s.src[p] == '-' && (p+1 == len(s.src) || strings.IndexByte(" \r\n", s.src[p+1]) >= 0)
}

func (s *splicer) deleteEntry(m *yaml.Node, i int) bool {
	start, end, ok := s.entrySpan(m, i)
	if !ok {
		return false
	}
	if !s.startsLine(start) {
		// The first entry of a list item: the next entry moves up to the
		// dash.
		if 2*i+2 >= len(m.Content) {
			return false
		}
		next := s.offset(m.Content[2*i+2])
		if next < 0 {
			return false
		}
		s.add(start, next, "")
		return true
	}
	s.deleteLines(start, end)
	return true
}

// deleteLines cuts whole lines.
func (s *splicer) deleteLines(start, end int) { s.add(start, end, "") }

// insertLines inserts rendered lines at a line start.
func (s *splicer) insertLines(at int, text string) { s.add(at, at, s.conv(text)) }

// replaceLines replaces whole lines with rendered ones.
func (s *splicer) replaceLines(start, end int, text string) { s.add(start, end, s.conv(text)) }

func (s *splicer) insertEntry(m *yaml.Node, keys []string, k string, v any, t reflect.Type) bool {
	col := m.Column - 1
	text := s.r.entry(col, k, v, memberType(t, k))
	pos := s.insertPos(keys, k, t)
	if pos < len(keys) {
		key := m.Content[2*pos]
		koff := s.offset(key)
		if koff < 0 {
			return false
		}
		if s.startsLine(koff) {
			s.insertLines(s.headStart(key.Line-1, col), text)
		} else {
			// Before the first entry of a list item: the new entry takes
			// the place after the dash.
			s.add(koff, koff, s.conv(text[col:]+spaces(col)))
		}
		return true
	}
	_, end, ok := s.entrySpan(m, len(keys)-1)
	if !ok {
		return false
	}
	s.insertLines(end, text)
	return true
}

// replaceEntry writes a new value for the i-th entry of block mapping m:
// in place when old and new fit on the key's line, else as a new entry.
func (s *splicer) replaceEntry(m *yaml.Node, i int, nv any, t reflect.Type) bool {
	k, v := m.Content[2*i], m.Content[2*i+1]
	// The value may stand on the next line (Helm's nindent puts [] there).
	if s.replaceInline(v, nv, t, k.Line-1, k.Column-1, false) {
		return true
	}
	start, end, ok := s.entrySpan(m, i)
	if !ok {
		return false
	}
	col := k.Column - 1
	text := s.r.entry(col, k.Value, nv, t)
	if !s.startsLine(start) {
		text = text[col:]
	}
	s.replaceLines(start, end, text)
	return true
}

// replaceInline replaces value v, which starts on line, by nv where it
// stands, if v ends on that line and nv is written on one line: a scalar, an
// empty collection, or a flow collection in place of one.
func (s *splicer) replaceInline(v *yaml.Node, nv any, t reflect.Type, line, col int, dash bool) bool {
	if v.Kind == yaml.AliasNode || v.Anchor != "" || v.Tag != "" && v.Style&yaml.TaggedStyle != 0 {
		return false
	}
	if !isInline(nv) && !(isFlow(v) && v.Kind != yaml.ScalarNode) {
		return false
	}
	vs, ve := s.offset(v), s.valueEnd(v, false)
	if vs < 0 || ve < vs {
		return false
	}
	if last, ok := s.nodeEnd(v, line, col, dash); !ok || last != s.lineOf(max(ve-1, vs))+1 {
		return false
	}
	text := s.flowText(nv, t, vs, false)
	if !isCollection(nv) {
		text = s.r.yamlScalar(nv, false)
	}
	if vs > 0 && s.src[vs-1] == ':' {
		text = " " + text
	}
	s.add(vs, ve, text)
	return true
}

func (s *splicer) blockSequence(q *yaml.Node, old, nv []any, t reflect.Type, field string) bool {
	oldTo := pairItems(old, nv, field)
	newTo := make([]int, len(nv))
	for j := range newTo {
		newTo[j] = -1
	}
	kept := 0
	for i, j := range oldTo {
		if j < 0 {
			start, end, ok := s.itemSpan(q, i)
			if !ok {
				return false
			}
			s.deleteLines(start, end)
			continue
		}
		kept++
		newTo[j] = i
		if !equalValues(old[i], nv[j]) && !s.child(q, i, old[i], nv[j], t, "") {
			return false
		}
	}
	if kept == 0 {
		return false
	}
	dash, off, ok := s.itemGeometry(q)
	if !ok {
		return false
	}
	for j, i := range newTo {
		if i >= 0 {
			continue
		}
		text := s.r.item(dash, off, nv[j], t)
		next := nextKept(newTo, j)
		if next >= 0 {
			start, _, ok := s.itemSpan(q, next)
			if !ok {
				return false
			}
			s.insertLines(s.headStart(s.lineOf(start), dash), text)
			continue
		}
		_, end, ok := s.itemSpan(q, len(old)-1)
		if !ok {
			return false
		}
		s.insertLines(end, text)
	}
	return true
}

// dashOf finds the dash of the i-th item of block list q, which must start
// its line.
func (s *splicer) dashOf(q *yaml.Node, i int) (int, bool) {
	voff := s.offset(q.Content[i])
	if voff < 0 {
		return 0, false
	}
	d := voff - 1
	for d >= 0 && strings.IndexByte(" \r\n", s.src[d]) >= 0 {
		d--
	}
	if d < 0 || s.src[d] != '-' || !s.startsLine(d) {
		return 0, false
	}
	return d, true
}

// itemSpan is where the i-th item of block list q stands, in whole lines.
func (s *splicer) itemSpan(q *yaml.Node, i int) (start, end int, ok bool) {
	d, ok := s.dashOf(q, i)
	if !ok {
		return 0, 0, false
	}
	dl := s.lineOf(d)
	last, ok := s.nodeEnd(q.Content[i], dl, d-s.lineStart(dl), false)
	if !ok {
		return 0, 0, false
	}
	if i+1 < len(q.Content) {
		nd, ok := s.dashOf(q, i+1)
		if !ok || s.lineOf(nd) <= dl {
			return 0, 0, false
		}
		last = min(last, s.lineOf(nd))
	}
	return s.lineStart(dl), s.lineStart(last), true
}

// itemGeometry gives the column of q's dashes and how far after them its
// first item's content starts.
func (s *splicer) itemGeometry(q *yaml.Node) (dash, off int, ok bool) {
	d, ok := s.dashOf(q, 0)
	if !ok {
		return 0, 0, false
	}
	dl := s.lineOf(d)
	dash, off = d-s.lineStart(dl), s.r.itemIndent
	if first := q.Content[0]; first.Line-1 == dl {
		off = first.Column - 1 - dash
	}
	return dash, max(off, 2), true
}

func (s *splicer) replaceItem(q *yaml.Node, i int, nv any, t reflect.Type) bool {
	d, ok := s.dashOf(q, i)
	if !ok {
		return false
	}
	dl := s.lineOf(d)
	dash := d - s.lineStart(dl)
	v := q.Content[i]
	if v.Line-1 == dl && s.replaceInline(v, nv, t, dl, dash, false) {
		return true
	}
	start, end, ok := s.itemSpan(q, i)
	if !ok {
		return false
	}
	_, off, _ := s.itemGeometry(q)
	s.replaceLines(start, end, s.r.item(dash, off, nv, t))
	return true
}
