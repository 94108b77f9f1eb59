package yamledit

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

// A Change is one value the command replaces in a document.
type Change struct {
	Path     []any // keys (string) and indexes (int) from the document's root
	Old, New any
	Type     reflect.Type // New's Go type, for the order of the keys written
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

// Splice applies the changes to d's text and returns the result, or false
// if that cannot be done faithfully; want is the whole document as it must
// read afterwards. anew is the first line (counted in the document) of a
// value it had to write anew rather than edit, or 0.
func (d *Document) Splice(changes []Change, want map[string]any, cache *ScalarCache) (out []byte, anew int, ok bool) {
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
		parent, i := s.parentOf(c.Path)
		if parent == nil {
			return nil, 0, false
		}
		field, _ := c.Path[len(c.Path)-1].(string)
		if !s.child(parent, i, c.Old, c.New, c.Type, field) {
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
	got, err := (&Document{raw: out, json: d.json}).Decode()
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

// nextKept is the old position of the first item after the j-th new one
// that the old list already had, -1 when none does: a new item goes
// before it.
func nextKept(newTo []int, j int) int {
	for _, p := range newTo[j+1:] {
		if p >= 0 {
			return p
		}
	}
	return -1
}
