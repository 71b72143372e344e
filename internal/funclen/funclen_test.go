// Package funclen keeps functions short: no function or method outside
// tests and generated code may run over maxLines lines.
package funclen

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const maxLines = 80

// exempt are functions allowed to be longer, with the reason.
var exempt = map[string]string{
	// A flat field-by-field encoder: one statement per event field, in
	// the order of the JSON, is clearer whole than split.
	"coach/event.go:AppendJSON": "flat encoder",
}

func TestFunctionLength(t *testing.T) {
	root := "../.."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "bin" || n == "data") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			start, end := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
			rel, _ := filepath.Rel(root, path)
			if _, ok := exempt[filepath.ToSlash(rel)+":"+fn.Name.Name]; ok {
				continue
			}
			if n := end - start + 1; n > maxLines {
				t.Errorf("%s:%d: %s is %d lines long (at most %d)", path, start, fn.Name.Name, n, maxLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
