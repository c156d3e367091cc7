// Package docs_test checks that the README and the manual say what the code
// does: every command they show is run (by a test that reads it from the
// page, or by .ci/run), every setting and target they name exists, every
// link leads somewhere, and the README's walkthrough works as written.
package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/contract"
	"github.com/slimage/slimage/internal/testkit"
)

// ranBy says where each command the pages show runs:
//   - "ci": .ci/run runs it, as written;
//   - a test's name ("TestX", or "images:TestX" in the engine module): that
//     test reads the command from its page and runs it;
//   - "resolved": a benchmark or a maintenance command, run by hand (the
//     benchmarks' numbers are in docs/speed.md); this test resolves its
//     package and its -run and -bench patterns, so a rename cannot leave it
//     stale.
var ranBy = map[string]string{
	"go run mage.go verify":                                                   "ci",
	"SLIMAGE_MANIFESTS=deploy go run mage.go verify":                          "ci",
	"go test -timeout 30m ./... && (cd images && go test -timeout 30m ./...)": "ci",
	"go get github.com/slimage/slimage@latest":                                "TestREADMEWalkthrough",
	"go mod tidy":                            "TestREADMEWalkthrough",
	"go run github.com/magefile/mage verify": "TestREADMEWalkthrough",
	"cd magefiles && go run github.com/magefile/mage -w .. build": "TestMagefileInAModuleOfItsOwn",
	`docker build -f Dockerfile -t myapp:"$VERSION" --build-arg VERSION="$VERSION" --build-arg REVISION="$(git rev-parse HEAD)" --build-arg CREATED="$(git log -1 --format=%cI)" .`: "images:TestDocumentedDockerBuild",
	"cd images && go test ./spec -run Render -update":                "resolved",
	"go test ./docs -run BadInput -update":                           "resolved",
	"go run ./bench":                                                 "resolved",
	"go run ./bench -sample multi":                                   "resolved",
	"go test -run '^$' -bench 'Consumer$' -benchtime 10x ./targets/": "resolved",
	"go test -run '^$' -bench NoopBuild ./targets/":                  "resolved",
	"cd images && go test -run '^$' -bench NoopImage .":              "resolved",
	"cd images && go test -run '^$' -bench 'Verify$' .":              "resolved",
	"cd images && go test -run '^$' -bench OCIBuild .":               "resolved",
	"cd images && go test -run '^$' -bench 'Sign$' .":                "resolved",
	"cd images && go test -run '^$' -bench Attest .":                 "resolved",
}

// Every command in a page's sh block runs somewhere, as ranBy says, and
// ranBy names no command that no page shows.
func TestEveryCommandRuns(t *testing.T) {
	root := testkit.RepoRoot(t)
	shown := map[string]bool{}
	ci, err := os.ReadFile(filepath.Join(root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range codeBlocks(t) {
		if b.lang != "sh" {
			continue
		}
		for _, cmd := range shellCommands(b.text) {
			shown[cmd] = true
			where, ok := ranBy[cmd]
			switch {
			case !ok:
				t.Errorf("%s: %q is run by nothing: run it in .ci/run or a test, and say which in ranBy", b.where(), cmd)
			case where == "ci":
				if !slices.Contains(strings.Split(string(ci), "\n"), cmd) && !strings.Contains(string(ci), `"`+cmd+`"`) {
					t.Errorf("%s: ranBy says .ci/run runs %q, and it does not", b.where(), cmd)
				}
			case where == "resolved":
				resolveGoCommand(t, b.where(), cmd)
			default:
				mod, name, found := strings.Cut(where, ":")
				if !found {
					mod, name = "", where
				}
				if !hasFunc(t, filepath.Join(root, mod), name) {
					t.Errorf("%s: ranBy says %s runs %q, and there is no such test", b.where(), where, cmd)
				}
			}
		}
	}
	for cmd := range ranBy {
		if !shown[cmd] {
			t.Errorf("ranBy lists %q, which no page shows any more: drop it", cmd)
		}
	}
}

// Every SLIMAGE_* name the pages use is a setting (or a prefix of some).
func TestEverySettingExists(t *testing.T) {
	names := config.EnvNames()
	notSettings := []string{contract.EngineConfigVar}
	name := regexp.MustCompile(`SLIMAGE_[A-Z0-9_]*[A-Z0-9](_\*)?`)
	for _, p := range pages(t) {
		for i, line := range strings.Split(read(t, p), "\n") {
			for _, n := range name.FindAllString(line, -1) {
				if prefix, ok := strings.CutSuffix(n, "*"); ok {
					if !slices.ContainsFunc(names, func(s string) bool { return strings.HasPrefix(s, prefix) }) {
						t.Errorf("%s:%d: no setting starts with %s", rel(t, p), i+1, prefix)
					}
				} else if !slices.Contains(names, n) && !slices.Contains(notSettings, n) {
					t.Errorf("%s:%d: %s is not a setting (config.EnvNames)", rel(t, p), i+1, n)
				}
			}
		}
	}
	// Each setting's row in docs/configuration.md: TestConfigurationTable.
}

// Every mage target the pages run (mage x, go run mage.go x, a CI step)
// is one: the targets package's, or this repository's magefile's.
func TestEveryTargetExists(t *testing.T) {
	root := testkit.RepoRoot(t)
	targets := exportedFuncs(t, filepath.Join(root, "targets"), "targets.go")
	targets = append(targets, exportedFuncs(t, filepath.Join(root, "magefiles"), "magefile.go")...)
	invocation := regexp.MustCompile(`(?m)(?:^|[ \t(;&|])(?:go run mage\.go|go run github\.com/magefile/mage|mage)((?:[ \t]+[^\s;&|)]+)+)`)
	checked := 0
	for _, p := range pages(t) {
		text := read(t, p)
		for _, code := range commandSpans(text) {
			for _, m := range invocation.FindAllStringSubmatch(code, -1) {
				for _, target := range mageTargets(strings.Fields(m[1])) {
					checked++
					if _, after, ok := strings.Cut(target, ":"); ok {
						target = after // an alias: //mage:import shop gives shop:verify
					}
					if !slices.Contains(targets, target) {
						t.Errorf("%s: `%s` runs %q, which is not a target (%s)", rel(t, p), strings.TrimSpace(m[0]), target, strings.Join(targets, ", "))
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("found only %d target invocations in the pages: the pattern no longer matches how they are written", checked)
	}
}

// Every relative link leads to a file, and every #anchor to a heading.
func TestEveryLinkResolves(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, p := range pages(t) {
		for i, line := range strings.Split(read(t, p), "\n") {
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := p
				if file != "" {
					path = filepath.Join(filepath.Dir(p), file)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: link %s: no such file", rel(t, p), i+1, target)
					continue
				}
				if anchor != "" && !slices.Contains(anchors(t, path), anchor) {
					t.Errorf("%s:%d: link %s: %s has no heading #%s (it has %v)", rel(t, p), i+1, target, rel(t, path), anchor, anchors(t, path))
				}
			}
		}
	}
}

// The README stays a front page; the manual is docs/.
func TestREADMEIsAFrontPage(t *testing.T) {
	readme := read(t, filepath.Join(testkit.RepoRoot(t), "README.md"))
	if n := strings.Count(readme, "\n"); n > 200 {
		t.Errorf("README.md has %d lines: move what a service owner does not need first into docs/", n)
	}
}

// block is a fenced code block of a page.
type block struct {
	file, lang, text string
	line             int
}

func (b block) where() string { return b.file + ":" + strconv.Itoa(b.line) }

// pages are README.md and every page of docs/.
func pages(t *testing.T) []string {
	t.Helper()
	root := testkit.RepoRoot(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no pages in docs/: %v", err)
	}
	return append([]string{filepath.Join(root, "README.md")}, docs...)
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func rel(t *testing.T, path string) string {
	r, err := filepath.Rel(testkit.RepoRoot(t), path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(r)
}

var fence = regexp.MustCompile("(?m)^```(\\w*)\\n((?s:.*?))^```$")

// codeBlocks are every page's fenced code blocks.
func codeBlocks(t *testing.T) []block {
	var out []block
	for _, p := range pages(t) {
		text := read(t, p)
		for _, m := range fence.FindAllStringSubmatchIndex(text, -1) {
			out = append(out, block{file: rel(t, p), lang: text[m[2]:m[3]], text: text[m[4]:m[5]],
				line: strings.Count(text[:m[0]], "\n") + 1})
		}
	}
	return out
}

// blocksOf are the code blocks of one page, in order.
func blocksOf(t *testing.T, page string) []block {
	var out []block
	for _, b := range codeBlocks(t) {
		if b.file == page {
			out = append(out, b)
		}
	}
	return out
}

// commandSpans is where a page shows commands: its sh and yaml blocks,
// and its `inline spans`.
func commandSpans(text string) []string {
	var out []string
	for _, m := range fence.FindAllStringSubmatch(text, -1) {
		if m[1] == "sh" || m[1] == "yaml" {
			out = append(out, m[2])
		}
	}
	rest := fence.ReplaceAllString(text, "")
	for _, m := range regexp.MustCompile("`([^`\n]+)`").FindAllStringSubmatch(rest, -1) {
		out = append(out, m[1])
	}
	return out
}

// shellCommands are the commands of an sh block: continuation lines
// joined, comments dropped.
func shellCommands(text string) []string {
	var out []string
	var cur string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "  #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur += strings.TrimSpace(more) + " "
			continue
		}
		out = append(out, cur+line)
		cur = ""
	}
	return out
}

// mageTargets reads the targets from mage's arguments: flags (and the
// arguments of those that take one) first, then names; verifyImage takes
// the image after it.
func mageTargets(args []string) []string {
	withArg := []string{"-w", "-d", "-compile", "-gocmd", "-t", "-goos", "-goarch", "-ldflags"}
	var out []string
	for i := 0; i < len(args); i++ {
		a := strings.Trim(args[i], `"'`)
		switch {
		case slices.Contains(withArg, a):
			i++
		case strings.HasPrefix(a, "-"):
		case regexp.MustCompile(`^[a-z][A-Za-z0-9]*(:[a-z][A-Za-z0-9]*)?$`).MatchString(a):
			out = append(out, a)
			if strings.HasSuffix(a, "verifyImage") {
				i++
			}
		default:
			return out
		}
	}
	return out
}

// exportedFuncs are the mage targets a file declares: its exported
// functions, named as mage lists them (verifyImage).
func exportedFuncs(t *testing.T, dir, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, file), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.IsExported() && targetParams(fn.Type.Params) {
			name := []rune(fn.Name.Name)
			name[0] = unicode.ToLower(name[0])
			out = append(out, string(name))
		}
	}
	return out
}

// targetParams says whether mage takes a function with these parameters
// as a target: a context and arguments of the kinds mage parses (so
// Defaults and Configure, which take functions, are not targets).
func targetParams(params *ast.FieldList) bool {
	for _, f := range params.List {
		switch typ := f.Type.(type) {
		case *ast.Ident:
			if !slices.Contains([]string{"string", "int", "bool", "float64"}, typ.Name) {
				return false
			}
		case *ast.SelectorExpr:
			if name := typ.X.(*ast.Ident).Name + "." + typ.Sel.Name; name != "context.Context" && name != "time.Duration" {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// hasFunc says whether a _test.go file under dir declares func name.
func hasFunc(t *testing.T, dir, name string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || found {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, "_test.go") {
			data, _ := os.ReadFile(p)
			found = regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(name) + `\(`).Match(data)
		}
		return nil
	})
	return found
}

// resolveGoCommand checks a go command the pages show but nothing runs:
// its folder and package exist, and each -run or -bench pattern matches a
// function of that package's tests.
func resolveGoCommand(t *testing.T, where, cmd string) {
	root := testkit.RepoRoot(t)
	dir := root
	if rest, ok := strings.CutPrefix(cmd, "cd "); ok {
		sub, after, _ := strings.Cut(rest, " && ")
		dir, cmd = filepath.Join(root, sub), after
	}
	args := strings.Fields(cmd)
	if len(args) < 3 || args[0] != "go" {
		t.Errorf("%s: %q is not a go command this test can resolve", where, cmd)
		return
	}
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, ".") })
	if i < 0 {
		t.Errorf("%s: %q names no package (./x) this test can resolve", where, cmd)
		return
	}
	pkg := filepath.Join(dir, args[i])
	if _, err := os.Stat(pkg); err != nil {
		t.Errorf("%s: %q: no package %s", where, cmd, args[i])
		return
	}
	for i, a := range args {
		if (a == "-run" || a == "-bench") && i+1 < len(args) {
			pattern := strings.Trim(args[i+1], `'"`)
			if pattern == "^$" {
				continue
			}
			kind := map[string]string{"-run": "Test", "-bench": "Benchmark"}[a]
			if !matchesFunc(t, pkg, kind, regexp.MustCompile(pattern)) {
				t.Errorf("%s: %q: %s %s matches no %s function in %s", where, cmd, a, pattern, kind, rel(t, pkg))
			}
		}
	}
}

func matchesFunc(t *testing.T, pkg, kind string, pattern *regexp.Regexp) bool {
	files, _ := filepath.Glob(filepath.Join(pkg, "*_test.go"))
	decl := regexp.MustCompile(`(?m)^func ` + kind + `(\w*)\(`)
	for _, f := range files {
		for _, m := range decl.FindAllStringSubmatch(read(t, f), -1) {
			if pattern.MatchString(kind + m[1]) {
				return true
			}
		}
	}
	return false
}

// anchors are the #fragments GitHub gives a page's headings.
func anchors(t *testing.T, path string) []string {
	var out []string
	for _, line := range strings.Split(read(t, path), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		out = append(out, b.String())
	}
	return out
}

// run runs a command line the way a person types it, in dir.
func run(t *testing.T, dir string, env []string, line string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return testkit.Run(t, cmd)
}
