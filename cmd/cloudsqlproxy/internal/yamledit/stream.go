package yamledit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// StdinName is how errors name standard input.
const StdinName = "<stdin>"

// A Document is one YAML or JSON document of the input. Its text is kept as
// read, and so is the text around it (the "---" line before it, the white
// space between JSON objects), so that the stream of documents the command
// leaves alone comes out byte for byte, comments, key order and all.
type Document struct {
	source string // file name, or StdinName
	input  string // the -f argument it came from (a file, a directory or "-")
	index  int    // 1-based position among the documents of source; 0 for white space only
	line   int    // line of source on which the document's text starts
	sep    []byte // the text before raw: a "---" line (YAML), white space (JSON)
	raw    []byte // the text, exactly as read
	tail   []byte // white space after the last JSON object of source
	json   bool   // read from a JSON stream rather than YAML

	nodes *nodeTree // raw parsed with positions, once needed
}

// The reader alone sets a document's fields: the parse cache (nodes) and
// Write rely on them matching the text, so the rest of the command reads
// them through these methods.

// Source is the file the document came from, or StdinName.
func (d *Document) Source() string { return d.source }

// Input is the -f argument the document came from: a file, a directory or
// "-".
func (d *Document) Input() string { return d.input }

// Index is the document's 1-based position among the documents of its
// source, or 0 for a document of only white space, which errors do not
// count.
func (d *Document) Index() int { return d.index }

// Line is the line of the source on which the document's text starts.
func (d *Document) Line() int { return d.line }

// Raw is the document's text exactly as read; the caller must not change
// it.
func (d *Document) Raw() []byte { return d.raw }

// Read reads every -f argument: files, directories (their *.yaml,
// *.yml and *.json files, sorted by name, not recursive) and "-" for stdin.
// It reports every unreadable file and malformed stream, not just the first.
func Read(paths []string, stdin io.Reader) ([]*Document, []string) {
	var docs []*Document
	var errs []string
	for _, p := range paths {
		if p == "-" {
			data, err := io.ReadAll(stdin)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", StdinName, err))
				continue
			}
			d, e := Split(StdinName, data)
			docs, errs = append(docs, from(p, d)...), append(errs, e...)
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
			d, e := Split(f, data)
			docs, errs = append(docs, from(p, d)...), append(errs, e...)
		}
	}
	return docs, errs
}

func from(input string, docs []*Document) []*Document {
	for _, d := range docs {
		d.input = input
	}
	return docs
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

// Split cuts one input into documents. A stream whose first character
// is "{" is a JSON stream (concatenated objects, as kubectl accepts);
// anything else is YAML documents separated by "---" lines. "{{" starts no
// JSON: it is a template, which the YAML reader reports as one.
func Split(source string, data []byte) ([]*Document, []string) {
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
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' && !bytes.HasPrefix(t, []byte("{{")) {
		return splitJSON(source, data)
	}
	return splitYAML(source, data)
}

// splitYAML cuts at lines that are "---", optionally followed by a comment,
// as the Kubernetes YAML reader does; "---" followed by anything else is an
// error there too. Every piece of the stream belongs to one document, so
// that writing the documents back gives the stream: a document of only
// white space has no index (errors do not count it), one of only comments
// has one (Helm emits them for templates that render empty).
func splitYAML(source string, data []byte) ([]*Document, []string) {
	var (
		docs  []*Document
		errs  []string
		start int    // offset of the current document's text
		first = 1    // its first line
		sep   []byte // the separator line before it
		line  = 1
		index int
	)
	flush := func(end int) {
		d := &Document{source: source, line: first, sep: sep, raw: data[start:end:end]}
		if len(bytes.TrimSpace(d.raw)) > 0 {
			index++
			d.index = index
		}
		docs = append(docs, d)
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
				start, first, sep = next, line+1, data[off:next:next]
			}
		}
		off = next
	}
	flush(len(data))
	return docs, errs
}

// splitJSON reads a stream of JSON values, keeping each one's exact text and
// the white space around it.
func splitJSON(source string, data []byte) ([]*Document, []string) {
	var docs []*Document
	dec := json.NewDecoder(bytes.NewReader(data))
	prev := 0 // end of the previous value
	for {
		off := int(dec.InputOffset())
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			if len(docs) > 0 {
				docs[len(docs)-1].tail = data[prev:]
			}
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
			msg := fmt.Sprintf("invalid JSON: %v", err)
			if t, ok := findTemplate(data); ok {
				at, msg = t, templateMessage(data, t)
			}
			return nil, []string{fmt.Sprintf("%s:%d: document %d: %s", source, lineAt(data, at), len(docs)+1, msg)}
		}
		end := off + len(raw)
		docs = append(docs, &Document{source: source, index: len(docs) + 1, line: lineAt(data, off),
			sep: data[prev:off:off], raw: data[off:end:end], json: true})
		prev = end
	}
}

func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// Write joins the documents again, each with the text that was
// around it, so that a stream the command changes nowhere comes out as it
// went in. bodies[i] is what to write for docs[i]. A stream of only JSON
// objects stays one; any other is a YAML stream, in which each JSON object
// gets a "---" line of its own, and so does the first document of each
// further source. The YAML stream never starts with "{": kubectl would read
// it as JSON and stop at the first YAML document.
func Write(docs []*Document, bodies [][]byte) []byte {
	allJSON := len(docs) > 0
	size := 0
	for i, d := range docs {
		allJSON = allJSON && d.json
		size += len(d.sep) + len(bodies[i]) + len(d.tail) + 4
	}
	out := make([]byte, 0, size+4)
	for i, d := range docs {
		body := bodies[i]
		newSource := i > 0 && d.source != docs[i-1].source
		switch {
		case allJSON:
			if newSource && len(d.sep) == 0 && !endsWithSpace(out) {
				out = append(out, '\n')
			}
			out = append(append(append(out, d.sep...), body...), d.tail...)
		case d.json:
			out = append(separate(out, []byte("---\n")), body...)
			out = append(out, '\n')
		default:
			sep := d.sep
			if len(sep) == 0 && newSource && d.index > 0 {
				sep = []byte("---\n")
			}
			if len(sep) > 0 {
				out = separate(out, sep)
			}
			out = append(out, body...)
		}
	}
	if t := bytes.TrimLeft(out, " \t\r\n"); !allJSON && len(t) > 0 && t[0] == '{' {
		out = append([]byte("---\n"), out...)
	}
	return out
}

// separate appends a separator line, on a line of its own.
func separate(out, sep []byte) []byte {
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, sep...)
}

func endsWithSpace(b []byte) bool {
	return len(b) == 0 || strings.IndexByte(" \t\r\n", b[len(b)-1]) >= 0
}

// Files lists the manifest files of one -f argument as Read reads them: the
// file itself, or a directory's .yaml, .yml and .json files.
func Files(p string) ([]string, error) { return expand(p) }
