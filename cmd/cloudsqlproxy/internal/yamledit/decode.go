package yamledit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// A LineError is a problem of a document at one of its lines (1-based,
// counted from the document's first line).
type LineError struct {
	Line int
	msg  string
}

// Error is the problem, without its line.
func (e *LineError) Error() string { return e.msg }

// Decode parses the document into the generic form Kubernetes uses for
// unstructured objects: integers stay int64, duplicate keys are an error
// (kubectl rejects them too, rather than silently keeping one). A document
// of only comments gives nil. Its errors are *LineError.
func (d *Document) Decode() (map[string]any, error) {
	var v any
	jsonText := d.json
	if !jsonText {
		t := bytes.TrimLeft(d.raw, " \t\r\n")
		jsonText = len(t) > 0 && t[0] == '{' && !bytes.HasPrefix(t, []byte("{{"))
	}
	decoded := false
	if jsonText {
		strict, err := kjson.UnmarshalStrict(d.raw, &v, kjson.DisallowDuplicateFields)
		switch {
		case err == nil && len(strict) > 0:
			return nil, d.errorAt(0, fmt.Sprintf("invalid JSON: %v", errors.Join(strict...)))
		case err == nil:
			decoded = true
		case d.json:
			return nil, d.errorAt(0, fmt.Sprintf("invalid JSON: %v", err))
		}
		// Flow-style YAML that is not JSON falls through to the YAML parser.
	}
	if !decoded {
		j, err := yaml.YAMLToJSONStrict(d.raw)
		if err != nil {
			line, msg := d.yamlError(err)
			return nil, d.errorAt(line, "invalid YAML: "+msg)
		}
		v = nil
		if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &v); err != nil {
			return nil, d.errorAt(0, fmt.Sprintf("invalid YAML: %v", err))
		}
	}
	switch o := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return o, nil
	default:
		return nil, d.errorAt(0, fmt.Sprintf("not a Kubernetes object: the document is %s, not a mapping", DescribeValue(v)))
	}
}

// errorAt makes a decoding error at line (0: the document's first line of
// content). A document holding template actions is reported as a template,
// whatever the parser made of it.
func (d *Document) errorAt(line int, msg string) error {
	if off, ok := findTemplate(d.raw); ok {
		return &LineError{lineAt(d.raw, off), templateMessage(d.raw, off)}
	}
	if line == 0 {
		line = d.FirstContentLine()
	}
	return &LineError{line, msg}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlError puts a multi-line message on one line and finds the line it is
// about (relative to the document); further line numbers in it become
// lines of the source.
func (d *Document) yamlError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.Join(strings.Fields(msg), " ")
	line := 0
	if m := yamlLineRE.FindStringSubmatchIndex(msg); m != nil {
		line, _ = strconv.Atoi(msg[m[2]:m[3]])
		rest := strings.TrimPrefix(msg[m[1]:], ":")
		msg = strings.TrimSpace(msg[:m[0]] + strings.TrimSpace(rest))
	}
	msg = yamlLineRE.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		return fmt.Sprintf("line %d", n+d.line-1)
	})
	return line, msg
}

// DescribeValue names the kind of a decoded value that is not a mapping,
// for errors that say why it is not an object.
func DescribeValue(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
