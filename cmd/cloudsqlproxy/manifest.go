package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// stdinName is how errors name standard input.
const stdinName = "<stdin>"

// A document is one YAML or JSON document of the input. Its text is kept as
// read, so that a document the command leaves alone comes out byte for byte,
// comments, key order and all.
type document struct {
	source string // file name, or stdinName
	index  int    // 1-based position among the documents of source
	line   int    // line of source on which the document's text starts
	sep    string // the "---" line that preceded it, when it carried a comment
	raw    []byte // the text, exactly as read
	json   bool   // read from a JSON stream rather than YAML
}

// readInputs reads every -f argument: files, directories (their *.yaml,
// *.yml and *.json files, sorted by name, not recursive) and "-" for stdin.
// It reports every unreadable file and malformed stream, not just the first.
func readInputs(paths []string, stdin io.Reader) ([]*document, []string) {
	var docs []*document
	var errs []string
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", stdinName, err))
				continue
			}
			d, e := splitStream(stdinName, data)
			docs, errs = append(docs, d...), append(errs, e...)
			continue
		}
		files, err := expand(p)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			d, e := splitStream(f, data)
			docs, errs = append(docs, d...), append(errs, e...)
		}
	}
	return docs, errs
}

// expand turns a directory into the manifest files it holds, the way
// kubectl's -f does.
func expand(p string) ([]string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: directory holds no .yaml, .yml or .json file", p)
	}
	return files, nil
}

var bom = []byte("\xef\xbb\xbf")

// splitStream cuts one input into documents. A stream whose first character
// is "{" is a JSON stream (concatenated objects, as kubectl accepts);
// anything else is YAML documents separated by "---" lines.
func splitStream(source string, data []byte) ([]*document, []string) {
	data = bytes.TrimPrefix(data, bom)
	// The YAML parser notices bad UTF-8 only in some positions, so a stream
	// it once accepted could fail when read back (found by FuzzInject).
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		line := 1 + bytes.Count(data[:i], []byte("\n"))
		return nil, []string{fmt.Sprintf("%s:%d: not UTF-8 text: byte 0x%02x at offset %d (manifests are UTF-8)", source, line, data[i], i)}
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return splitJSON(source, data)
	}
	return splitYAML(source, data)
}

// splitYAML cuts at lines that are "---", optionally followed by a comment,
// as the Kubernetes YAML reader does; "---" followed by anything else is an
// error there too. Documents of only white space are dropped; documents of
// only comments are kept (Helm emits them for templates that render empty).
func splitYAML(source string, data []byte) ([]*document, []string) {
	var (
		docs  []*document
		errs  []string
		start int    // offset of the current document's text
		first = 1    // its first line
		sep   string // the separator line before it
		line  = 1
	)
	flush := func(end int) {
		text := data[start:end]
		if len(bytes.TrimSpace(text)) == 0 {
			return
		}
		docs = append(docs, &document{source: source, index: len(docs) + 1, line: first, sep: sep, raw: text})
	}
	for off := 0; off < len(data); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		l := strings.TrimRight(string(data[off:next]), "\r\n")
		if strings.HasPrefix(l, "---") {
			rest := strings.TrimSpace(l[3:])
			if rest != "" && !strings.HasPrefix(rest, "#") {
				// Reported, and otherwise read as content, so that the
				// documents around it are still checked.
				errs = append(errs, fmt.Sprintf("%s:%d: %q: only a comment may follow a document separator; start the document on the next line", source, line, l))
			} else {
				flush(off)
				start, first, sep = next, line+1, ""
				if rest != "" {
					sep = strings.TrimRight(l, " \t")
				}
			}
		}
		off = next
	}
	flush(len(data))
	return docs, errs
}

// splitJSON reads a stream of JSON values, keeping each one's exact text.
func splitJSON(source string, data []byte) ([]*document, []string) {
	var docs []*document
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		off := int(dec.InputOffset())
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return docs, nil
		}
		// The value starts after the white space the decoder skipped.
		for off < len(data) && strings.IndexByte(" \t\r\n", data[off]) >= 0 {
			off++
		}
		if err != nil {
			at := off
			var se *json.SyntaxError
			if errors.As(err, &se) {
				at = int(se.Offset)
			}
			return nil, []string{fmt.Sprintf("%s:%d: document %d: invalid JSON: %v", source, lineAt(data, at), len(docs)+1, err)}
		}
		docs = append(docs, &document{source: source, index: len(docs) + 1, line: lineAt(data, off), raw: raw, json: true})
	}
}

func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// decode parses the document into the generic form Kubernetes uses for
// unstructured objects: integers stay int64, duplicate keys are an error
// (kubectl rejects them too, rather than silently keeping one). A document
// of only comments gives nil.
func (d *document) decode() (map[string]any, error) {
	var v any
	jsonText := d.json
	if !jsonText {
		t := bytes.TrimLeft(d.raw, " \t\r\n")
		jsonText = len(t) > 0 && t[0] == '{'
	}
	decoded := false
	if jsonText {
		strict, err := kjson.UnmarshalStrict(d.raw, &v, kjson.DisallowDuplicateFields)
		switch {
		case err == nil && len(strict) > 0:
			return nil, fmt.Errorf("invalid JSON: %v", errors.Join(strict...))
		case err == nil:
			decoded = true
		case d.json:
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		// Flow-style YAML that is not JSON falls through to the YAML parser.
	}
	if !decoded {
		j, err := yaml.YAMLToJSONStrict(d.raw)
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %s", d.yamlError(err))
		}
		v = nil
		if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &v); err != nil {
			return nil, fmt.Errorf("invalid YAML: %v", err)
		}
	}
	switch o := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return o, nil
	default:
		return nil, fmt.Errorf("not a Kubernetes object: the document is %s, not a mapping", describeJSON(v))
	}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlError rewrites the parser's document-relative line numbers into lines
// of the source and puts a multi-line message on one line.
func (d *document) yamlError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = yamlLineRE.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		return fmt.Sprintf("line %d", n+d.line-1)
	})
	return strings.Join(strings.Fields(msg), " ")
}

func describeJSON(v any) string {
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

// writeDocument appends one document to the output stream. Every document,
// the first included, follows a "---" line: kubectl reads a stream that
// starts with "{" as JSON, which a YAML document after it would break.
func writeDocument(out *bytes.Buffer, d *document, body []byte) {
	if d.sep != "" {
		out.WriteString(d.sep)
	} else {
		out.WriteString("---")
	}
	out.WriteByte('\n')
	out.Write(body)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		out.WriteByte('\n')
	}
}
