package yamledit

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// A nodeTree is a document's text parsed with positions: yaml.v3 nodes know
// the line and column they start on (JSON is YAML, so JSON documents parse
// too), and the line table turns those into byte offsets. Nodes do not know
// where they end; the splicer works that out from indentation and brackets.
type nodeTree struct {
	src   []byte
	root  *yaml.Node // nil: the text did not parse, or holds no content
	start []int      // byte offset of each line's first byte
}

// tree parses the document once, on first use: only documents the command
// changes or reports on need positions.
func (d *Document) tree() *nodeTree {
	if d.nodes != nil {
		return d.nodes
	}
	t := &nodeTree{src: d.raw, start: []int{0}}
	for i, c := range d.raw {
		if c == '\n' && i+1 < len(d.raw) {
			t.start = append(t.start, i+1)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(d.raw, &doc); err == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		t.root = doc.Content[0]
	}
	d.nodes = t
	return t
}

func (t *nodeTree) lines() int { return len(t.start) }

// lineStart is the offset of line l (0-based); the text's length past the
// last line.
func (t *nodeTree) lineStart(l int) int {
	if l >= len(t.start) {
		return len(t.src)
	}
	return t.start[l]
}

// lineEnd is the offset just past line l's line break.
func (t *nodeTree) lineEnd(l int) int { return t.lineStart(l + 1) }

// lineOf gives the 0-based line holding offset off.
func (t *nodeTree) lineOf(off int) int {
	return sort.Search(len(t.start), func(i int) bool { return t.start[i] > off }) - 1
}

// offset is where node n starts in the text, or -1. yaml.v3 counts columns
// in characters, not bytes.
func (t *nodeTree) offset(n *yaml.Node) int {
	l := n.Line - 1
	if n.Line < 1 || l >= len(t.start) || n.Column < 1 {
		return -1
	}
	off := t.start[l]
	for c := 1; c < n.Column; c++ {
		if off >= len(t.src) || t.src[off] == '\n' {
			return -1
		}
		_, size := utf8.DecodeRune(t.src[off:])
		off += size
	}
	return off
}

// lineKind tells blank lines, comment lines and content apart, and gives the
// line's indentation.
type lineKind int

const (
	blankLine lineKind = iota
	commentLine
	contentLine
)

func (t *nodeTree) line(l int) (indent int, kind lineKind) {
	s := t.src[t.lineStart(l):t.lineEnd(l)]
	for indent < len(s) && s[indent] == ' ' {
		indent++
	}
	rest := bytes.TrimLeft(s[indent:], " \t")
	switch {
	case len(bytes.TrimRight(rest, "\r\n")) == 0:
		return indent, blankLine
	case rest[0] == '#':
		return indent, commentLine
	}
	return indent, contentLine
}

// startsLine reports whether only spaces precede offset off on its line.
func (t *nodeTree) startsLine(off int) bool {
	for i := off - 1; i >= 0 && t.src[i] != '\n'; i-- {
		if t.src[i] != ' ' {
			return false
		}
	}
	return true
}

// FirstContentLine is the 1-based line of the document's first content, for
// problems that concern the whole document.
func (d *Document) FirstContentLine() int {
	t := d.tree()
	if t.root != nil && t.root.Line > 0 {
		return t.root.Line
	}
	for l := 0; l < t.lines(); l++ {
		if _, k := t.line(l); k == contentLine {
			return l + 1
		}
	}
	return 1
}

// FieldLine finds the 1-based line (counted in the document) of the field
// that a field path such as spec.containers[0].ports[1].name or
// metadata.annotations[example.com/x] names: the line of its key, or of the
// item. A path that leaves the text early gives the line of the deepest
// field it reaches; one that reaches nothing, the document's first line of
// content.
func (d *Document) FieldLine(path string) int {
	t := d.tree()
	n := t.root
	if n == nil {
		return d.FirstContentLine()
	}
	line := n.Line
	for _, seg := range splitFieldPath(path) {
		n = resolveAlias(n)
		next, keyLine := child(n, seg)
		if next == nil {
			break
		}
		n, line = next, keyLine
	}
	return line
}

// child finds seg (a key, or an index in a list) under n, with the line
// that names it.
func child(n *yaml.Node, seg string) (*yaml.Node, int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == seg {
				return n.Content[i+1], k.Line
			}
		}
	case yaml.SequenceNode:
		if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
			return n.Content[i], n.Content[i].Line
		}
	}
	return nil, 0
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// splitFieldPath cuts a field.Path string into keys and indexes:
// a.b[0][k.x] is a, b, 0, k.x.
func splitFieldPath(p string) []string {
	var out []string
	for len(p) > 0 {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p[1:])
			}
			out = append(out, p[1:end])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}
