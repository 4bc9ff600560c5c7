package nflog

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's library section shows the code of Example (which go test
// runs against the shipped capture) and ExampleOpen (which it compiles),
// so the README cannot drift from the API.
func TestReadmeShowsTheExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	section := string(readme)
	i := strings.Index(section, "## The `nflog` library")
	require.GreaterOrEqual(t, i, 0, "README.md has no section \"The `nflog` library\"")
	section = section[i:]
	if j := strings.Index(section[1:], "\n## "); j >= 0 {
		section = section[:j+1]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, strings.TrimSpace(m[1]))
	}

	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "example_test.go", src, parser.ParseComments)
	require.NoError(t, err)
	for _, name := range []string{"Example", "ExampleOpen"} {
		var body string
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == name {
				body = string(src[fset.Position(fd.Body.Lbrace).Offset+1 : fset.Position(fd.Body.Rbrace).Offset])
			}
		}
		require.NotEmpty(t, body, "example_test.go has no %s", name)
		if k := strings.Index(body, "\t// Output:"); k >= 0 {
			body = body[:k]
		}
		lines := strings.Split(strings.TrimSpace(body), "\n")
		for n, l := range lines {
			lines[n] = strings.TrimPrefix(l, "\t")
		}
		require.Contains(t, blocks, strings.Join(lines, "\n"), "README.md's library section must show %s's code as it is in example_test.go", name)
	}
}

// Every Config field has a row in the README's options table.
func TestReadmeListsEveryOption(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		require.True(t, strings.Contains(string(readme), "\n| `"+name+"` |"), "README.md's table of nflog.Config options has no row for %s", name)
	}
}
