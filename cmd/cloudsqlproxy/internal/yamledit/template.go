package yamledit

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Chart sources piped in by mistake, or a template that rendered a bare
// action, reach the command as YAML the parser chokes on ({{ .Values.x }}
// is a flow mapping holding a mapping as a key). Those errors say nothing
// useful, so a document that fails to read and holds template actions
// where YAML expects a value is reported as a template instead.
//
// Only actions where a value or a line starts count: quoted ones and ones
// inside block text are ordinary strings (Prometheus rules and Argo
// workflows are full of them), and a document that reads well is never
// reported, whatever its strings hold.
var templateRE = regexp.MustCompile(`(?m)^[ \t]*(?:-[ \t]+|[{\[,][ \t]*)*(?:(?:"[^"\n]*"|'[^'\n]*'|[^\s#'"\-{\[,][^#'"\n]*?)[ \t]*:[ \t]+)?(\{\{)`)

// findTemplate gives the offset of the first template action of text that
// stands where YAML expects a value.
func findTemplate(text []byte) (int, bool) {
	m := templateRE.FindSubmatchIndex(text)
	if m == nil {
		return 0, false
	}
	return m[2], true
}

// templateMessage quotes the action at off, up to its closing braces.
func templateMessage(text []byte, off int) string {
	action := text[off:]
	if nl := bytes.IndexByte(action, '\n'); nl >= 0 {
		action = action[:nl]
	}
	if end := bytes.Index(action, []byte("}}")); end >= 0 {
		action = action[:end+2]
	}
	a := strings.TrimSpace(string(action))
	if len(a) > 60 {
		a = a[:57] + "..."
	}
	return fmt.Sprintf("looks like an unrendered Helm template (%s): run helm template first, and inject into its output", a)
}

// LooksLikeTemplate is for values that are read but cannot be used, such as
// a port of "{{ .Values.port }}".
func LooksLikeTemplate(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "{{") && strings.Contains(s, "}}")
}
