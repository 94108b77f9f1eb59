package yamledit

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  Document
		want map[string]any
		line int // of the error, counted in the document
		err  string
	}{
		{name: "comments only", doc: Document{raw: []byte("# nothing\n")}},
		{
			name: "integers stay integers, YAML 1.1 octal and booleans as kubectl reads them",
			doc:  Document{raw: []byte("a: 1\nb: 0.5\nc: 0644\nd: yes\ne: \"yes\"\n")},
			want: map[string]any{"a": int64(1), "b": 0.5, "c": int64(420), "d": true, "e": "yes"},
		},
		{
			name: "flow mapping that is not JSON",
			doc:  Document{raw: []byte("{a: 1}\n")},
			want: map[string]any{"a": int64(1)},
		},
		{
			name: "duplicate key in YAML",
			doc:  Document{line: 10, raw: []byte("a: 1\nb: 2\na: 3\n")},
			line: 3,
			err:  `invalid YAML: unmarshal errors: key "a" already set in map`,
		},
		{
			name: "duplicate key in JSON",
			doc:  Document{raw: []byte(`{"a": 1, "a": 2}`), json: true},
			line: 1,
			err:  `invalid JSON: duplicate field "a"`,
		},
		{
			name: "syntax error at the line the parser names",
			doc:  Document{line: 5, raw: []byte("a:\n  b: 1\n c: 2\n")},
			line: 2, // the parser names the mapping that it could not finish
			err:  "invalid YAML: did not find expected key",
		},
		{
			name: "scalar", doc: Document{raw: []byte("# c\njust text\n")},
			line: 2, err: "not a Kubernetes object: the document is a string, not a mapping",
		},
		{name: "list", doc: Document{raw: []byte("[1]")}, line: 1, err: "not a Kubernetes object: the document is a list, not a mapping"},
		{
			name: "unrendered template: a value",
			doc:  Document{raw: []byte("kind: Deployment\nmetadata:\n  name: {{ include \"web.fullname\" . }}\n")},
			line: 3,
			err:  `looks like an unrendered Helm template ({{ include "web.fullname" . }}): run helm template first, and inject into its output`,
		},
		{
			name: "unrendered template: a control line",
			doc:  Document{raw: []byte("# Source: x\n{{- if .Values.enabled }}\nkind: Pod\n{{- end }}\n")},
			line: 2,
			err:  `looks like an unrendered Helm template ({{- if .Values.enabled }}): run helm template first, and inject into its output`,
		},
		{
			name: "unrendered template: an include at a line's start",
			doc:  Document{raw: []byte("metadata:\n  labels:\n    {{- include \"web.labels\" . | nindent 4 }}\n")},
			line: 3,
			err:  `looks like an unrendered Helm template ({{- include "web.labels" . | nindent 4 }}): run helm template first, and inject into its output`,
		},
		{
			name: "quoted template text is a string",
			doc:  Document{raw: []byte("image: \"{{ .Values.image }}\"\nnote: |\n  {{ $labels.x }}\n")},
			want: map[string]any{"image": "{{ .Values.image }}", "note": "{{ $labels.x }}\n"},
		},
		{
			name: "quoted template text does not explain another error",
			doc:  Document{raw: []byte("image: \"{{ .Values.image }}\"\nbad: [\n")},
			line: 2,
			err:  "invalid YAML: did not find expected node content",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.doc.Decode()
			gotErr, gotLine := "", 0
			if err != nil {
				gotErr = err.Error()
				var le *LineError
				if errors.As(err, &le) {
					gotLine = le.Line
				}
			}
			if gotErr != tc.err || gotLine != tc.line {
				t.Errorf("error %q at line %d, want %q at line %d", gotErr, gotLine, tc.err, tc.line)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
