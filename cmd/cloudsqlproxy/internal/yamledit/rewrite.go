package yamledit

import (
	"bytes"
	"encoding/json"
	"slices"

	"sigs.k8s.io/yaml"
)

// Rewrite writes the whole document anew, for a change the splicer cannot
// make in the text: YAML with sorted keys and the document's leading
// comment lines (no others), or indented JSON for a JSON document.
func (d *Document) Rewrite(obj map[string]any) ([]byte, error) {
	if d.json {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err := enc.Encode(obj)
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
	}
	y, err := yaml.Marshal(obj)
	return append(slices.Clip(leadingComments(d.raw)), y...), err
}

// leadingComments is the text before the document's first line of content:
// the comment block tools such as Helm ("# Source: ...") put there. It
// survives when the document is rewritten; other comments cannot.
func leadingComments(raw []byte) []byte {
	off := 0
	for off < len(raw) {
		end := bytes.IndexByte(raw[off:], '\n')
		next := len(raw)
		if end >= 0 {
			next = off + end + 1
		}
		l := bytes.TrimSpace(raw[off:next])
		if len(l) > 0 && l[0] != '#' {
			break
		}
		off = next
	}
	return raw[:off]
}
