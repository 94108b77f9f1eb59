package yamledit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"
	yamlv3 "sigs.k8s.io/yaml/goyaml.v3"
)

// A renderer writes the values the command adds in the style of the
// document they go into: block YAML with the document's indentation, flow
// YAML inside flow collections, JSON in JSON documents. Keys come in the
// order of the Kubernetes types' fields (name first, as people write
// containers), keys the types do not know after them, sorted.
type renderer struct {
	// Block YAML: how far a nested mapping is indented under its key, a
	// list under its key (0: the dashes line up with the key, as kubectl
	// writes), and an item's content after its dash.
	mapIndent, seqIndent, itemIndent int

	// JSON: the separators after keys and between members, and the unit of
	// indentation of pretty-printed text.
	colon, comma, step string

	// sorted: the document sorts every mapping's keys (kubectl get writes
	// so), and what is added is sorted too.
	sorted bool

	scalars *ScalarCache
}

// ScalarCache remembers how each string is written as a YAML scalar, in
// block and in flow context: the same few strings (the proxy's arguments,
// env var names) recur in every workload, and checking a rendering costs a
// parse. One run of the command uses it from one goroutine.
type ScalarCache struct {
	block, flow map[string]string
}

// NewScalarCache gives an empty cache, for one run of the command.
func NewScalarCache() *ScalarCache {
	return &ScalarCache{block: map[string]string{}, flow: map[string]string{}}
}

// yamlScalar writes a scalar for a YAML document; flow is for the inside of
// flow collections, where plain scalars may not hold ",[]{}".
func (r *renderer) yamlScalar(v any, flow bool) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case string:
		return r.yamlString(x, flow)
	}
	return fmt.Sprint(v) // not produced by the decoders or the converter
}

// formatFloat keeps a float a float when read back: 2.0 must not come out
// as the integer 2.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEnN") {
		s += ".0"
	}
	return s
}

func (r *renderer) yamlString(s string, flow bool) string {
	m := r.scalars.block
	if flow {
		m = r.scalars.flow
	}
	out, ok := m[s]
	if !ok {
		out = quoteYAML(s, flow)
		m[s] = out
	}
	return out
}

// quoteYAML lets yaml.v3 choose the scalar's style, then checks the choice
// with the reader the command itself uses: yaml.v3 writes YAML 1.2, which
// leaves yes, on and 0x10 plain, while Kubernetes' reader is YAML 1.1 and
// would turn them into booleans and numbers. Whatever does not read back
// as the same string is double-quoted, on one line.
func quoteYAML(s string, flow bool) string {
	quoted := func() string {
		b, err := yamlv3.Marshal(&yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: s, Style: yamlv3.DoubleQuotedStyle})
		if err != nil {
			return strconv.Quote(s) // not reached: any string can be double-quoted
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	if strings.ContainsAny(s, "\n\r") {
		return quoted()
	}
	b, err := yamlv3.Marshal(&yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: s})
	if err != nil {
		return quoted()
	}
	out := strings.TrimSuffix(string(b), "\n")
	if strings.Contains(out, "\n") || flow && out[0] != '"' && out[0] != '\'' && strings.ContainsAny(out, ",[]{}#") {
		return quoted()
	}
	// Read back where it will stand: Kubernetes' reader (go-yaml v2) also
	// refuses a:b inside flow collections, which YAML 1.2 allows.
	var back any
	if flow {
		if err := yaml.Unmarshal([]byte("["+out+"]"), &back); err != nil {
			return quoted()
		}
		if l, ok := back.([]any); !ok || len(l) != 1 || l[0] != s {
			return quoted()
		}
		return out
	}
	if err := yaml.Unmarshal([]byte("v: "+out), &back); err != nil {
		return quoted()
	}
	if m, ok := back.(map[string]any); !ok || m["v"] != s {
		return quoted()
	}
	return out
}

// jsonScalar writes a scalar for a JSON document.
func jsonScalar(v any) string {
	switch x := v.(type) {
	case float64:
		return formatFloat(x)
	case string:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // a URL's & stays &
		if err := enc.Encode(x); err != nil {
			return strconv.Quote(x)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// entry writes "key: value" as block YAML at column col: every line whole,
// the first one indented too.
func (r *renderer) entry(col int, k string, v any, t reflect.Type) string {
	var b strings.Builder
	b.WriteString(spaces(col))
	r.keyValue(&b, k, v, t, col)
	return b.String()
}

// item writes a list item as block YAML: the dash at column dash, its
// content off columns further.
func (r *renderer) item(dash, off int, v any, t reflect.Type) string {
	var b strings.Builder
	b.WriteString(spaces(dash))
	r.itemBody(&b, v, t, dash, off)
	return b.String()
}

func (r *renderer) keyValue(b *strings.Builder, k string, v any, t reflect.Type, col int) {
	b.WriteString(r.yamlString(k, false))
	b.WriteByte(':')
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteByte('\n')
		r.mapLines(b, x, t, col+r.mapIndent, false)
	case []any:
		if len(x) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteByte('\n')
		r.seqLines(b, x, elemType(t), col+r.seqIndent, false)
	default:
		b.WriteByte(' ')
		r.blockScalar(b, v, col+r.mapIndent)
	}
}

// blockScalar writes a scalar after a key or dash, ending the line; a
// string of several lines as a literal block (a shell script reads as one),
// its lines at column indent.
func (r *renderer) blockScalar(b *strings.Builder, v any, indent int) {
	if s, ok := v.(string); ok && literalOK(s) {
		body := s
		switch {
		case strings.HasSuffix(s, "\n"):
			b.WriteString("|\n")
			body = s[:len(s)-1]
		default:
			b.WriteString("|-\n")
		}
		for _, l := range strings.Split(body, "\n") {
			if l != "" {
				b.WriteString(spaces(indent))
				b.WriteString(l)
			}
			b.WriteByte('\n')
		}
		return
	}
	b.WriteString(r.yamlScalar(v, false))
	b.WriteByte('\n')
}

// literalOK tells the multi-line strings that a literal block holds as
// they are: printable, without carriage returns or trailing blank lines,
// and not starting with white space (which would need an indentation
// indicator).
func literalOK(s string) bool {
	if !strings.Contains(s, "\n") || strings.HasSuffix(s, "\n\n") || s == "\n" {
		return false
	}
	first := strings.TrimLeft(s, "\n")
	if first == "" || first[0] == ' ' || first[0] == '\t' {
		return false
	}
	for _, c := range s {
		if c == '\r' || c == '\ufeff' || c != '\n' && c != '\t' && !unicode.IsPrint(c) {
			return false
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if strings.TrimRight(l, " \t") != l && strings.TrimSpace(l) == "" && l != "" {
			return false // a line of only spaces would read as part of the indentation
		}
	}
	return true
}

// mapLines writes a block mapping whose keys are at column col; inline: the
// first key continues the current line (after a dash).
func (r *renderer) mapLines(b *strings.Builder, m map[string]any, t reflect.Type, col int, inline bool) {
	for i, k := range r.keys(m, t) {
		if i > 0 || !inline {
			b.WriteString(spaces(col))
		}
		r.keyValue(b, k, m[k], memberType(t, k), col)
	}
}

func (r *renderer) seqLines(b *strings.Builder, l []any, t reflect.Type, col int, inline bool) {
	for i, v := range l {
		if i > 0 || !inline {
			b.WriteString(spaces(col))
		}
		r.itemBody(b, v, t, col, r.itemIndent)
	}
}

func (r *renderer) itemBody(b *strings.Builder, v any, t reflect.Type, dash, off int) {
	b.WriteByte('-')
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 0 {
			b.WriteString(spaces(off - 1))
			r.mapLines(b, x, t, dash+off, true)
			return
		}
	case []any:
		if len(x) > 0 {
			b.WriteString(spaces(off - 1))
			r.seqLines(b, x, elemType(t), dash+off, true)
			return
		}
	}
	b.WriteByte(' ')
	if isCollection(v) {
		r.flow(b, v, t)
		b.WriteByte('\n')
		return
	}
	r.blockScalar(b, v, dash+off)
}

// flow writes v as flow YAML, on one line.
func (r *renderer) flow(b *strings.Builder, v any, t reflect.Type) {
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range r.keys(x, t) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(r.yamlString(k, true))
			b.WriteString(": ")
			r.flow(b, x[k], memberType(t, k))
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			r.flow(b, e, elemType(t))
		}
		b.WriteByte(']')
	default:
		b.WriteString(r.yamlScalar(v, true))
	}
}

// json writes v as JSON: on one line when step is "", else pretty-printed
// with the lines after the first indented from indent.
func (r *renderer) json(b *strings.Builder, v any, t reflect.Type, indent, step string) {
	open := func(c byte, empty bool) {
		b.WriteByte(c)
		if !empty && step != "" {
			b.WriteByte('\n')
		}
	}
	member := func(i int) {
		switch {
		case step != "" && i > 0:
			b.WriteString(",\n" + indent + step)
		case step != "":
			b.WriteString(indent + step)
		case i > 0:
			b.WriteString(r.comma)
		}
	}
	closing := func(c byte, empty bool) {
		if !empty && step != "" {
			b.WriteString("\n" + indent)
		}
		b.WriteByte(c)
	}
	switch x := v.(type) {
	case map[string]any:
		open('{', len(x) == 0)
		for i, k := range r.keys(x, t) {
			member(i)
			b.WriteString(jsonScalar(k))
			b.WriteString(r.colon)
			r.json(b, x[k], memberType(t, k), indent+step, step)
		}
		closing('}', len(x) == 0)
	case []any:
		open('[', len(x) == 0)
		for i, e := range x {
			member(i)
			r.json(b, e, elemType(t), indent+step, step)
		}
		closing(']', len(x) == 0)
	default:
		b.WriteString(jsonScalar(v))
	}
}

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat(" ", n)
}

func (r *renderer) keys(m map[string]any, t reflect.Type) []string {
	if r.sorted {
		t = nil
	}
	return orderedKeys(m, t)
}
