package cloudsqlproxy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocumentation keeps two promises of the package documentation: every
// exported name has a doc comment, and every option is used in a runnable
// example.
func TestDocumentation(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var options []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || (d.Recv != nil && !ast.IsExported(recvType(d.Recv.List[0].Type))) {
					continue
				}
				if d.Doc == nil {
					t.Errorf("%s: func %s has no doc comment", fset.Position(d.Pos()), d.Name)
				}
				if res := d.Type.Results; d.Recv == nil && res != nil && len(res.List) == 1 && types(res.List[0].Type) == "Option" {
					options = append(options, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					var name *ast.Ident
					var doc *ast.CommentGroup
					switch s := s.(type) {
					case *ast.TypeSpec:
						name, doc = s.Name, s.Doc
					case *ast.ValueSpec:
						name, doc = s.Names[0], s.Doc
					default:
						continue
					}
					if name.IsExported() && doc == nil && d.Doc == nil {
						t.Errorf("%s: %s has no doc comment", fset.Position(name.Pos()), name)
					}
				}
			}
		}
	}
	if len(options) < 30 {
		t.Fatalf("found only %d options; is the parser looking at the right files?", len(options))
	}
	examples, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range options {
		if !strings.Contains(string(examples), "cloudsqlproxy."+o+"(") {
			t.Errorf("option %s is not used in any example in example_test.go", o)
		}
	}
}

func types(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func recvType(e ast.Expr) string {
	if star, ok := e.(*ast.StarExpr); ok {
		e = star.X
	}
	return types(e)
}
