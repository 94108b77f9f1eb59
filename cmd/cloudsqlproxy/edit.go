package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// The command writes a changed document as the text it read with the
// change spliced in, so that a manifest kept in Git shows a diff of exactly
// what was added, and remove gives back the bytes inject was given. The
// change itself is computed as before, on values (merge.go); the splicer
// then compares the value read with the value to write, key by key and
// item by item, and turns each difference into an edit of the text at the
// nodes' positions:
//
//   - in block YAML, whole lines: a new map entry or list item is inserted
//     with the indentation its siblings have, a removed one is cut out with
//     its lines, a changed scalar is replaced where it stands (a comment
//     after it stays);
//   - in flow YAML and JSON, the text between brackets: members are inserted
//     and cut with their commas, in the spacing the collection already has.
//
// What cannot be spliced where it is (an anchor, a layout the splicer does
// not know) is written anew one level up, down to the whole document: the
// command's earlier way, a YAML document with sorted keys. Whatever the
// splicer writes is read back and must mean exactly the value to write;
// otherwise the document is written anew too.

// A change is one value the command replaces in a document.
type change struct {
	path     []any // keys (string) and indexes (int) from the document's root
	old, new any
	typ      reflect.Type // new's Go type, for the order of the keys written
}

type edit struct {
	start, end int
	text       string
}

type splicer struct {
	*nodeTree
	json  bool
	nl    string // the document's line break
	r     renderer
	edits []edit
	anew  []int // lines (counted in the document) of values written anew
}

// splice applies the changes to d's text and returns the result, or false
// if that cannot be done faithfully; want is the whole document as it must
// read afterwards. anew is the first line (counted in the document) of a
// value it had to write anew rather than edit, or 0.
func splice(d *document, changes []change, want map[string]any, cache *scalarCache) (out []byte, anew int, ok bool) {
	t := d.tree()
	if t.root == nil {
		return nil, 0, false
	}
	// A YAML document written as JSON (kubectl get -o json between ---
	// lines) stays JSON too.
	s := &splicer{nodeTree: t, json: d.json || isJSONText(t.src), nl: "\n", r: renderer{scalars: cache}}
	if i := bytes.IndexByte(t.src, '\n'); i > 0 && t.src[i-1] == '\r' {
		s.nl = "\r\n"
	}
	// Every line ends with a line break while the splicer works, the last
	// one included; a text that lacked the final one lacks it afterwards.
	unterminated := len(t.src) > 0 && t.src[len(t.src)-1] != '\n'
	if unterminated {
		tt := *t
		tt.src = append(t.src[:len(t.src):len(t.src)], s.nl...)
		s.nodeTree = &tt
	}
	if s.json {
		s.jsonStyle()
	} else {
		s.blockStyle()
	}
	s.r.sorted = keysSorted(s.root)
	for _, c := range changes {
		parent, i := s.parentOf(c.path)
		if parent == nil {
			return nil, 0, false
		}
		field, _ := c.path[len(c.path)-1].(string)
		if !s.child(parent, i, c.old, c.new, c.typ, field) {
			return nil, 0, false
		}
	}
	out, ok = s.result()
	if !ok {
		return nil, 0, false
	}
	if unterminated {
		out = bytes.TrimSuffix(out, []byte(s.nl))
	}
	got, err := (&document{raw: out, json: d.json}).decode()
	if err != nil || !equalValues(got, want) {
		return nil, 0, false
	}
	if len(s.anew) > 0 {
		anew = slices.Min(s.anew)
	}
	return out, anew, true
}

// equalValues compares two values of the form the decoders give (maps,
// lists, strings, int64, float64, booleans, nil) as reflect.DeepEqual
// does, without its allocations: the splicer compares every value it
// passes, and then the whole document.
func equalValues(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalValues(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case string, int64, float64, bool, nil:
		return a == b
	}
	return reflect.DeepEqual(a, b)
}

func isJSONText(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(b)
}

// keysSorted tells a document whose mappings of two keys or more all have
// their keys sorted, and that has such a mapping.
func keysSorted(root *yaml.Node) bool {
	seen := false
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Kind == yaml.MappingNode && len(n.Content) >= 4 {
			seen = true
			for i := 2; i+1 < len(n.Content); i += 2 {
				if n.Content[i-2].Value > n.Content[i].Value {
					return false
				}
			}
		}
		for _, c := range n.Content {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	return walk(root) && seen
}

// blockStyle reads the document's indentation off its first nested mapping,
// list under a key, and mapping in a list.
func (s *splicer) blockStyle() {
	s.r.mapIndent, s.r.seqIndent, s.r.itemIndent = 2, 0, 2
	var mapSeen, seqSeen, itemSeen bool
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Style&yaml.FlowStyle != 0 || mapSeen && seqSeen && itemSeen {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Style&yaml.FlowStyle == 0 && v.Line > k.Line {
					switch {
					case v.Kind == yaml.MappingNode && !mapSeen && v.Column > k.Column:
						s.r.mapIndent, mapSeen = v.Column-k.Column, true
					case v.Kind == yaml.SequenceNode && !seqSeen && v.Column >= k.Column:
						s.r.seqIndent, seqSeen = v.Column-k.Column, true
					}
				}
				walk(v)
			}
		case yaml.SequenceNode:
			if len(n.Content) > 0 {
				if it := n.Content[0]; !itemSeen && it.Kind == yaml.MappingNode && it.Style&yaml.FlowStyle == 0 && it.Line == n.Line && it.Column >= n.Column+2 {
					s.r.itemIndent, itemSeen = it.Column-n.Column, true
				}
			}
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	walk(s.root)
}

// jsonStyle reads the spacing of a JSON document: after colons, after
// commas, and the unit of indentation.
func (s *splicer) jsonStyle() {
	s.r.colon, s.r.comma, s.r.step = ":", ",", "  "
	if i := bytes.Index(s.src, []byte(`":`)); i >= 0 && i+2 < len(s.src) && s.src[i+2] == ' ' {
		s.r.colon = ": "
	}
	if i := bytes.IndexByte(s.src, ','); i >= 0 && i+1 < len(s.src) && s.src[i+1] == ' ' {
		s.r.comma = ", "
	}
	for l := 1; l < s.lines(); l++ {
		prev := bytes.TrimRight(s.src[s.lineStart(l-1):s.lineEnd(l-1)], " \t\r\n")
		if len(prev) == 0 || (prev[len(prev)-1] != '{' && prev[len(prev)-1] != '[') {
			continue
		}
		line := s.src[s.lineStart(l):s.lineEnd(l)]
		ws := len(line) - len(bytes.TrimLeft(line, " \t"))
		pws := len(prev) - len(bytes.TrimLeft(prev, " \t"))
		if ws > pws {
			s.r.step = string(line[pws:ws])
		}
		return
	}
}

// parentOf finds the collection holding the value at path, and the value's
// index in it (the entry's for a mapping). Anchored values are shared with
// their aliases, so the path must not pass through an alias.
func (s *splicer) parentOf(path []any) (*yaml.Node, int) {
	n := s.root
	for i, p := range path {
		idx := -1
		switch x := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return nil, 0
			}
			for j := 0; j+1 < len(n.Content); j += 2 {
				if k := n.Content[j]; k.Kind == yaml.ScalarNode && k.Value == x {
					idx = j / 2
					break
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && x >= 0 && x < len(n.Content) {
				idx = x
			}
		}
		if idx < 0 {
			return nil, 0
		}
		if i == len(path)-1 {
			return n, idx
		}
		n = childAt(n, idx)
		if n.Kind == yaml.AliasNode {
			return nil, 0
		}
	}
	return nil, 0
}

func childAt(n *yaml.Node, i int) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		return n.Content[2*i+1]
	}
	return n.Content[i]
}

func isFlow(n *yaml.Node) bool { return n.Style&yaml.FlowStyle != 0 }

func isCollection(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// isInline tells values that are written on one line in any style: scalars
// and empty collections.
func isInline(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return true
}

// child makes the i-th value of parent, which holds ov, hold nv.
func (s *splicer) child(parent *yaml.Node, i int, ov, nv any, t reflect.Type, field string) bool {
	v := childAt(parent, i)
	if s.inside(v, ov, nv, t, field) {
		return true
	}
	s.writtenAnew(v, ov, nv)
	switch {
	case isFlow(parent):
		_, _, spans, ok := s.flowSpans(parent)
		if !ok {
			return false
		}
		sp := spans[i]
		s.add(sp.vs, sp.ve, s.flowText(nv, t, sp.vs, s.multiLine(parent)))
		return true
	case parent.Kind == yaml.MappingNode:
		return s.replaceEntry(parent, i, nv, t)
	}
	return s.replaceItem(parent, i, nv, t)
}

// inside edits the collection n, which holds ov, so that it holds nv,
// changing only what differs. It adds no edit when it returns false.
func (s *splicer) inside(n *yaml.Node, ov, nv any, t reflect.Type, field string) bool {
	mark := len(s.edits)
	ok := false
	switch o := ov.(type) {
	case map[string]any:
		if m, isMap := nv.(map[string]any); isMap && len(m) > 0 && n.Kind == yaml.MappingNode && len(n.Content)/2 == len(o) {
			if isFlow(n) {
				ok = s.flowMapping(n, o, m, t)
			} else {
				ok = s.blockMapping(n, o, m, t)
			}
		}
	case []any:
		if l, isList := nv.([]any); isList && len(l) > 0 && n.Kind == yaml.SequenceNode && len(n.Content) == len(o) {
			if isFlow(n) {
				ok = s.flowSequence(n, o, l, elemType(t), field)
			} else {
				ok = s.blockSequence(n, o, l, elemType(t), field)
			}
		}
	}
	if !ok {
		s.edits = s.edits[:mark]
	}
	return ok
}

// mappingKeys gives the keys of m as the text spells them, if they are
// exactly old's: merge keys (<<) and keys that are not strings make the
// text and the value differ.
func mappingKeys(m *yaml.Node, old map[string]any) ([]string, bool) {
	keys := make([]string, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode {
			return nil, false
		}
		if _, ok := old[k.Value]; !ok || k.Value == "<<" {
			return nil, false
		}
		keys = append(keys, k.Value)
	}
	return keys, len(keys) == len(old)
}

// addedKeys are the keys of nv that old lacks, in the order to insert them.
func (s *splicer) addedKeys(old, nv map[string]any, t reflect.Type) []string {
	m := map[string]any{}
	for k := range nv {
		if _, ok := old[k]; !ok {
			m[k] = nil
		}
	}
	return s.r.keys(m, t)
}

// insertPos is where a new key goes among the existing ones: in a document
// that sorts its keys (kubectl's output), in sorted order; otherwise before
// the existing key that follows it most closely in the type's field order
// (env before resources, initContainers before containers), else after the
// one that precedes it most closely, else at the end. volumes go at the end
// of a pod spec, where people keep them, although the API lists them first.
func (s *splicer) insertPos(keys []string, k string, t reflect.Type) int {
	if s.r.sorted {
		return sort.SearchStrings(keys, k)
	}
	st, ok := structType(t)
	if !ok || st == podSpecType && k == "volumes" {
		return len(keys)
	}
	order := fieldOrder(st)
	ki, known := order[k]
	if !known {
		return len(keys)
	}
	next, nextOrder, prev, prevOrder := -1, len(order), -1, -1
	for i, e := range keys {
		oe, ok := order[e]
		switch {
		case !ok:
		case oe > ki && oe < nextOrder:
			next, nextOrder = i, oe
		case oe < ki && oe > prevOrder:
			prev, prevOrder = i, oe
		}
	}
	switch {
	case next >= 0:
		return next
	case prev >= 0:
		return prev + 1
	}
	return len(keys)
}

// pairItems pairs the items of two versions of a list, keeping their order:
// by identity (name, mountPath) in the lists the library changes, by
// equality in others. oldTo[i] is the index in nv of old[i], or -1.
func pairItems(old, nv []any, field string) []int {
	id, keyed := listKeys[field]
	same := func(a, b any) bool {
		if keyed {
			return equalValues(identity(a, id), identity(b, id))
		}
		return equalValues(a, b)
	}
	// Longest common subsequence; the lists are short.
	n, m := len(old), len(nv)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case same(old[i], nv[j]):
				lcs[i][j] = lcs[i+1][j+1] + 1
			case lcs[i+1][j] >= lcs[i][j+1]:
				lcs[i][j] = lcs[i+1][j]
			default:
				lcs[i][j] = lcs[i][j+1]
			}
		}
	}
	oldTo := make([]int, n)
	for i := range oldTo {
		oldTo[i] = -1
	}
	// On a tie, an item of nv goes in before an item of old goes out: of
	// an item that moved (the proxy, from one place to the first), the
	// items around it keep their text.
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case same(old[i], nv[j]) && lcs[i][j] == lcs[i+1][j+1]+1:
			oldTo[i] = j
			i, j = i+1, j+1
		case lcs[i][j+1] >= lcs[i+1][j]:
			j++
		default:
			i++
		}
	}
	return oldTo
}

// --- block YAML ---

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
		next := -1
		for _, p := range newTo[j+1:] {
			if p >= 0 {
				next = p
				break
			}
		}
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

// --- flow YAML and JSON ---

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
		next := -1
		for _, p := range newTo[j+1:] {
			if p >= 0 {
				next = p
				break
			}
		}
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

// --- scanning ---

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

// writtenAnew notes where a value is written anew although it was there
// before (an alias, or a collection that could not be edited inside): the
// text there does not survive, and remove cannot give it back.
func (s *splicer) writtenAnew(v *yaml.Node, ov, nv any) {
	om, oldMap := ov.(map[string]any)
	nm, newMap := nv.(map[string]any)
	ol, oldList := ov.([]any)
	nl, newList := nv.([]any)
	if v.Kind == yaml.AliasNode || oldMap && newMap && len(om) > 0 && len(nm) > 0 || oldList && newList && len(ol) > 0 && len(nl) > 0 {
		s.anew = append(s.anew, v.Line)
	}
}

func (s *splicer) add(start, end int, text string) {
	s.edits = append(s.edits, edit{start, end, text})
}

// conv gives rendered text the document's line breaks.
func (s *splicer) conv(text string) string {
	if s.nl == "\n" {
		return text
	}
	return strings.ReplaceAll(text, "\n", s.nl)
}

// result applies the edits, in order of position; edits that overlap mean
// the splicer went wrong, and nothing is written.
func (s *splicer) result() ([]byte, bool) {
	sort.SliceStable(s.edits, func(i, j int) bool {
		a, b := s.edits[i], s.edits[j]
		if a.start != b.start {
			return a.start < b.start
		}
		return a.end < b.end
	})
	n := len(s.src)
	for _, e := range s.edits {
		n += len(e.text)
	}
	out := make([]byte, 0, n)
	prev := 0
	for _, e := range s.edits {
		if e.start < prev || e.end < e.start {
			return nil, false
		}
		out = append(append(out, s.src[prev:e.start]...), e.text...)
		prev = e.end
	}
	return append(out, s.src[prev:]...), true
}
