package destination_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestSecretManagerErrorsNeverTakeTheValue reads the writers' source: no
// error they build (fmt.Errorf, errors.New, bad) is given the value being
// written, or a credential, as an argument. The behaviour tests check the
// errors they provoke; this one covers the paths they do not reach.
func TestSecretManagerErrorsNeverTakeTheValue(t *testing.T) {
	t.Parallel()
	secret := map[string]bool{"value": true, "Token": true, "SecretID": true, "secretKey": true}
	for _, file := range []string{"vault.go", "aws.go", "secretmanager.go"} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !buildsError(call.Fun) {
				return true
			}
			calls++
			for _, arg := range call.Args {
				ast.Inspect(arg, func(n ast.Node) bool {
					switch x := n.(type) {
					case *ast.Ident:
						if secret[x.Name] {
							t.Errorf("%s: an error is given %s", fset.Position(x.Pos()), x.Name)
						}
					case *ast.SelectorExpr:
						if secret[x.Sel.Name] {
							t.Errorf("%s: an error is given .%s", fset.Position(x.Pos()), x.Sel.Name)
						}
						return false
					}
					return true
				})
			}
			return true
		})
		if calls == 0 {
			t.Errorf("%s builds no error: the test reads the wrong file", file)
		}
	}
}

func buildsError(fun ast.Expr) bool {
	switch f := fun.(type) {
	case *ast.SelectorExpr:
		pkg, ok := f.X.(*ast.Ident)
		return ok && ((pkg.Name == "fmt" && f.Sel.Name == "Errorf") || (pkg.Name == "errors" && f.Sel.Name == "New"))
	case *ast.Ident:
		return f.Name == "bad"
	}
	return false
}
