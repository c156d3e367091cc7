package docs_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/gotool"
	"github.com/slimage/slimage/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite docs/bad-input.md's table from what slimage prints")

// badInput is one class of bad input and how to make it: settings, and
// files around the sample module (a copy of testdata/hello at mod).
type badInput struct {
	setting string // the first column: the setting, file or variable at fault
	input   string // the input, as the table shows it
	env     []string
	setup   func(t *testing.T, mod string) []string // more KEY=value, once files exist
}

func env(kv ...string) []string { return kv }

// write returns a setup that writes files under the module.
func write(files map[string]string) func(*testing.T, string) []string {
	return func(t *testing.T, mod string) []string { testkit.WriteFiles(t, mod, files); return nil }
}

// twoMore gives the sample two more services, under cmd/.
var twoMore = write(map[string]string{"cmd/api/main.go": "package main\n\nfunc main() {}\n", "cmd/worker/main.go": "package main\n\nfunc main() {}\n"})

// certFile writes a certificate (self-signed, or not a CA) and returns a
// setup setting KEY to its path.
func certFile(key, name string, isCA bool, from, until string, more ...string) func(*testing.T, string) []string {
	return func(t *testing.T, mod string) []string {
		p := filepath.Join(mod, "..", strings.ToLower(strings.ReplaceAll(name, " ", "-"))+".pem")
		if err := os.WriteFile(p, certPEM(t, name, isCA, from, until), 0o644); err != nil {
			t.Fatal(err)
		}
		return append([]string{key + "=" + p}, more...)
	}
}

// badInputs are the inputs slimage refuses, or reports, before any work,
// one per class a user runs into. docs/bad-input.md's table is made from
// them, with the line slimage prints for each: a test fails when the two
// differ (go test ./docs -run BadInput -update rewrites the table).
var badInputs = []badInput{
	// The module.
	{"SLIMAGE_DIR", "a folder without go.mod", env("SLIMAGE_DIR=/src"), nil},
	{"go.mod", "no module line", nil, write(map[string]string{"go.mod": "go 1.22\n"})},
	{"go.mod", "a line the go command cannot read", nil, write(map[string]string{"go.mod": "module example.com/hello\n\ngo 1.22\nrequire (\n"})},
	{"go.mod", "a newer Go than this one, with GOTOOLCHAIN=local", env("GOTOOLCHAIN=local"), write(map[string]string{"go.mod": "module example.com/hello\n\ngo 1.99\n"})},
	{"SLIMAGE_MAIN", "a folder with no main package", env("SLIMAGE_MAIN=./internal"), write(map[string]string{"internal/x.go": "package internal\n"})},
	{"SLIMAGE_MAIN", "a folder that does not exist", env("SLIMAGE_MAIN=./cmd/api"), nil},
	{"SLIMAGE_MAIN", "a main package whose files import C", env("SLIMAGE_MAIN=./cmd/cgo"), write(map[string]string{"cmd/cgo/main.go": "package main\n\n// int answer(void) { return 42; }\nimport \"C\"\n\nfunc main() { println(C.answer()) }\n"})},
	{"SLIMAGE_MAIN", "a pattern that matches no main package", env("SLIMAGE_MAIN=./cmd/..."), nil},
	{"SLIMAGE_SERVICES", "a service the module does not have", env("SLIMAGE_SERVICES=web"), twoMore},
	{"SLIMAGE_IMAGE", "one image for several services", env("SLIMAGE_IMAGE=shop:v1"), twoMore},
	{"SLIMAGE_BINARY", "one binary name for several services", env("SLIMAGE_BINARY=shop"), twoMore},
	{"SLIMAGE_PUSH", "one repository for several services", env("SLIMAGE_PUSH=registry.example.com/shop"), twoMore},
	{"SLIMAGE_MAIN", "two main packages of one name", env("SLIMAGE_MAIN=./cmd/api,./tools/api"), write(map[string]string{"cmd/api/main.go": "package main\n\nfunc main() {}\n", "tools/api/main.go": "package main\n\nfunc main() {}\n"})},
	{"SLIMAGE_BINARY", "a path, not a name", env("SLIMAGE_BINARY=bin/api"), nil},
	{"SLIMAGE_PLATFORMS", "an architecture Go does not know", env("SLIMAGE_PLATFORMS=linux/amd65"), nil},
	{"SLIMAGE_PLATFORMS", "no architecture", env("SLIMAGE_PLATFORMS=linux"), nil},
	{"SLIMAGE_DIST", "a folder of yours where slimage puts binaries", env("SLIMAGE_DIST=/src/hello"), write(map[string]string{"linux_amd64/notes.txt": "mine\n"})},
	{"SLIMAGE_DIST", "a folder of yours where slimage stages the image (the module root, with an image/ of its own)", env("SLIMAGE_DIST=/src/hello"), write(map[string]string{"image/notes.txt": "mine\n"})},
	{"SLIMAGE_DIST", "a file where slimage writes the OCI layout", env("SLIMAGE_DIST=/src/hello"), write(map[string]string{"oci": "mine\n"})},
	{"SLIMAGE_VERSION", "spaces", env("SLIMAGE_VERSION=1.2 beta"), nil},
	{"SLIMAGE_VERSION_VAR", "not importpath.name", env("SLIMAGE_VERSION_VAR=version"), nil},
	{"SLIMAGE_VERSION_VAR", "a field slimage does not know", env("SLIMAGE_VERSION_VAR=main.version={{tag}}"), nil},
	{"SLIMAGE_DEPS_VERIFY", "neither full nor fast", env("SLIMAGE_DEPS_VERIFY=sometimes"), nil},
	{"SLIMAGE_CGO_DROPPED", "neither warn, fail nor allow", env("SLIMAGE_CGO_DROPPED=ignore"), nil},
	// The image.
	{"SLIMAGE_IMAGE", "upper case and two colons", env("SLIMAGE_IMAGE=Hello/World::x"), nil},
	{"SLIMAGE_IMAGE", "a digest", env("SLIMAGE_IMAGE=hello@sha256:" + strings.Repeat("a", 64)), nil},
	{"SLIMAGE_TZ", "a misspelt zone", env("SLIMAGE_TZ=Asia/Shanghia"), nil},
	{"SLIMAGE_TZ", "a path", env("SLIMAGE_TZ=/etc/localtime"), nil},
	{"SLIMAGE_ZONES", "a zone that does not exist", env("SLIMAGE_ZONES=Europe/Berlin,Mars/Olympus"), nil},
	{"SLIMAGE_ZONES", "all, and more", env("SLIMAGE_ZONES=all,Europe/Berlin"), nil},
	{"SLIMAGE_USER", "a user name", env("SLIMAGE_USER=admin"), nil},
	{"SLIMAGE_USER", "a uid past 2^31-1", env("SLIMAGE_USER=99999999999:1"), nil},
	{"SLIMAGE_USER", "a uid without a gid", env("SLIMAGE_USER=1000"), nil},
	{"SLIMAGE_PORTS", "a port past 65535", env("SLIMAGE_PORTS=80800"), nil},
	{"SLIMAGE_PORTS", "port 0", env("SLIMAGE_PORTS=0"), nil},
	{"SLIMAGE_PORTS", "a protocol verify cannot reach", env("SLIMAGE_PORTS=9000/sctp"), nil},
	{"SLIMAGE_PORTS", "a name", env("SLIMAGE_PORTS=http"), nil},
	{"SLIMAGE_LABELS", "no value", env("SLIMAGE_LABELS=com.example.team"), nil},
	{"SLIMAGE_LABELS", "a label slimage sets", env("SLIMAGE_LABELS=org.opencontainers.image.version=2"), nil},
	{"SLIMAGE_LABELS", "slimage's own namespace", env("SLIMAGE_LABELS=com.github.slimage.x=1"), nil},
	{"SLIMAGE_BUILDER", "a builder slimage does not have", env("SLIMAGE_BUILDER=kaniko"), nil},
	{"SLIMAGE_BUILDER", "docker, for another platform", env("SLIMAGE_BUILDER=docker", "SLIMAGE_PLATFORMS=linux/arm64"), nil},
	{"SLIMAGE_PUSH", "docker's builder", env("SLIMAGE_BUILDER=docker", "SLIMAGE_PUSH=registry.example.com/hello"), nil},
	{"SLIMAGE_PUSH", "not a repository", env("SLIMAGE_PUSH=https://registry.example.com/hello"), nil},
	{"SLIMAGE_PUSH_BY_DIGEST", "without SLIMAGE_PUSH", env("SLIMAGE_PUSH_BY_DIGEST=true"), nil},
	{"SLIMAGE_SIGN_KEY", "without SLIMAGE_PUSH", env("SLIMAGE_SIGN_KEY=cosign.key"), nil},
	{"SLIMAGE_SIGN_KEY", "a file that is not there", env("SLIMAGE_SIGN_KEY=cosign.key", "SLIMAGE_PUSH=registry.example.com/hello"), nil},
	{"SLIMAGE_SIGN_KEY", "a file that is not a PEM key", env("SLIMAGE_SIGN_KEY=go.mod", "SLIMAGE_PUSH=registry.example.com/hello"), nil},
	{"SLIMAGE_SIGN_KEY", "a KMS plugin that is not installed", env("SLIMAGE_SIGN_KEY=myhsm://release-key", "SLIMAGE_PUSH=registry.example.com/hello"), nil},
	{"SLIMAGE_SIGN", "not a signing mode", env("SLIMAGE_SIGN=true", "SLIMAGE_PUSH=registry.example.com/hello"), nil},
	{"SLIMAGE_SIGN", "keyless and a key", env("SLIMAGE_SIGN=keyless", "SLIMAGE_SIGN_KEY=cosign.key", "SLIMAGE_PUSH=registry.example.com/hello"), nil},
	{"SLIMAGE_SIGN", "keyless, without SLIMAGE_PUSH", env("SLIMAGE_SIGN=keyless"), nil},
	{"SLIMAGE_FULCIO_URL", "not a URL", env("SLIMAGE_SIGN=keyless", "SLIMAGE_PUSH=registry.example.com/hello", "SLIMAGE_FULCIO_URL=fulcio.internal"), nil},
	{"SLIMAGE_VERIFY_IDENTITY", "without an issuer", env("SLIMAGE_VERIFY_IDENTITY=release@shop.example"), nil},
	{"SLIMAGE_VERIFY_IDENTITY", "and a key", env("SLIMAGE_VERIFY_IDENTITY=release@shop.example", "SLIMAGE_VERIFY_ISSUER=https://gitlab.com", "SLIMAGE_VERIFY_KEY=cosign.pub"), nil},
	{"SLIMAGE_VERIFY_IDENTITY_REGEXP", "not a regular expression", env("SLIMAGE_VERIFY_IDENTITY_REGEXP=^https://github.com/acme/(api", "SLIMAGE_VERIFY_ISSUER=https://token.actions.githubusercontent.com"), nil},
	{"SLIMAGE_TRUSTED_ROOT", "a file that is not there", env("SLIMAGE_VERIFY_IDENTITY=release@shop.example", "SLIMAGE_VERIFY_ISSUER=https://gitlab.com", "SLIMAGE_TRUSTED_ROOT=trusted_root.json"), nil},
	{"SLIMAGE_DOCKERFILE_MODE", "neither host nor multistage", env("SLIMAGE_DOCKERFILE_MODE=docker"), nil},
	{"SLIMAGE_DOCKERFILE_MODE", "multistage, for two platforms", env("SLIMAGE_DOCKERFILE_MODE=multistage", "SLIMAGE_PLATFORMS=linux/amd64,linux/arm64"), nil},
	{"SLIMAGE_DOCKERFILE_OUT", "outside the module", env("SLIMAGE_DOCKERFILE_MODE=multistage", "SLIMAGE_DOCKERFILE_OUT=../Dockerfile"), nil},
	{"SLIMAGE_GO_IMAGE", "not an image reference", env("SLIMAGE_DOCKERFILE_MODE=multistage", "SLIMAGE_GO_IMAGE=golang 1.26"), nil},
	// Run-time files: from the module, regular files only.
	{"SLIMAGE_FILES", "no destination", env("SLIMAGE_FILES=conf.yaml"), write(map[string]string{"conf.yaml": "a: 1\n"})},
	{"SLIMAGE_FILES", "a relative destination", env("SLIMAGE_FILES=conf.yaml:app/conf.yaml"), write(map[string]string{"conf.yaml": "a: 1\n"})},
	{"SLIMAGE_FILES", "a file that does not exist", env("SLIMAGE_FILES=conf.yaml:/app/conf.yaml"), nil},
	{"SLIMAGE_FILES", "a host file", env("SLIMAGE_FILES=/etc/passwd:/app/passwd"), nil},
	{"SLIMAGE_FILES", "a path out of the module", env("SLIMAGE_FILES=../secret.txt:/app/secret.txt"), func(t *testing.T, mod string) []string {
		testkit.WriteFiles(t, filepath.Dir(mod), map[string]string{"secret.txt": "not the module's\n"})
		return nil
	}},
	{"SLIMAGE_FILES", "a link out of the module", env("SLIMAGE_FILES=conf.yaml:/app/conf.yaml"), func(t *testing.T, mod string) []string {
		os.Symlink("/etc/passwd", filepath.Join(mod, "conf.yaml"))
		return nil
	}},
	{"SLIMAGE_FILES", "a folder holding a named pipe", env("SLIMAGE_FILES=ui:/app/ui"), func(t *testing.T, mod string) []string {
		testkit.WriteFiles(t, mod, map[string]string{"ui/index.html": "<p>\n"})
		testkit.Mkfifo(t, filepath.Join(mod, "ui", "events"))
		return nil
	}},
	{"SLIMAGE_FILES", "a folder with a link back into itself", env("SLIMAGE_FILES=ui:/app/ui"), func(t *testing.T, mod string) []string {
		testkit.WriteFiles(t, mod, map[string]string{"ui/index.html": "<p>\n"})
		os.Symlink("..", filepath.Join(mod, "ui", "up"))
		return nil
	}},
	{"SLIMAGE_FILES", "two files at one destination", env("SLIMAGE_FILES=conf.yaml:/app/conf.yaml,prod.yaml:/app/conf.yaml"), write(map[string]string{"conf.yaml": "a: 1\n", "prod.yaml": "a: 2\n"})},
	{"SLIMAGE_FILES", "a named pipe", env("SLIMAGE_FILES=events:/app/events"), func(t *testing.T, mod string) []string {
		testkit.Mkfifo(t, filepath.Join(mod, "events"))
		return nil
	}},
	{"SLIMAGE_FILES", "the binary's own path", env("SLIMAGE_FILES=conf.yaml:/app/hello"), write(map[string]string{"conf.yaml": "a: 1\n"})},
	{"slimage-data/", "a link out of the module", nil, func(t *testing.T, mod string) []string {
		testkit.WriteFiles(t, mod, map[string]string{"slimage-data/ok.txt": "ok\n"})
		os.Symlink("/etc/passwd", filepath.Join(mod, "slimage-data", "host"))
		return nil
	}},
	{"slimage-data/", "a link to a folder out of the module", nil, func(t *testing.T, mod string) []string {
		testkit.WriteFiles(t, filepath.Dir(mod), map[string]string{"shared/a.css": "p{}\n"})
		os.MkdirAll(filepath.Join(mod, "slimage-data"), 0o755)
		os.Symlink(filepath.Join(filepath.Dir(mod), "shared"), filepath.Join(mod, "slimage-data", "assets"))
		return nil
	}},
	{"slimage-data/", "a named pipe", nil, func(t *testing.T, mod string) []string {
		os.MkdirAll(filepath.Join(mod, "slimage-data"), 0o755)
		testkit.Mkfifo(t, filepath.Join(mod, "slimage-data", "events"))
		return nil
	}},
	// Trust: host files by design, regular PEM files.
	{"SLIMAGE_CA_BUNDLE", "a file that does not exist", env("SLIMAGE_CA_BUNDLE=/etc/corp/ca.pem"), nil},
	{"SLIMAGE_CA_BUNDLE", "a folder", nil, func(t *testing.T, mod string) []string {
		p := filepath.Join(mod, "..", "certs")
		os.MkdirAll(p, 0o755)
		return []string{"SLIMAGE_CA_BUNDLE=" + p}
	}},
	{"SLIMAGE_CA_BUNDLE", "not PEM", nil, func(t *testing.T, mod string) []string {
		p := filepath.Join(mod, "..", "bundle.der")
		os.WriteFile(p, []byte{0x30, 0x82, 0x01, 0x0a}, 0o644)
		return []string{"SLIMAGE_CA_BUNDLE=" + p}
	}},
	{"SSL_CERT_FILE", "a file that does not exist", env("SSL_CERT_FILE=/etc/corp/bundle.pem"), nil},
	{"SLIMAGE_EXTRA_CA", "a file that does not exist", env("SLIMAGE_EXTRA_CA=/etc/corp/ca.pem"), nil},
	{"SLIMAGE_EXTRA_CA", "a named pipe", nil, func(t *testing.T, mod string) []string {
		p := filepath.Join(mod, "..", "ca.pem")
		testkit.Mkfifo(t, p)
		return []string{"SLIMAGE_EXTRA_CA=" + p}
	}},
	{"SLIMAGE_EXTRA_CA", "a private key", nil, func(t *testing.T, mod string) []string {
		p := filepath.Join(mod, "..", "ca.pem")
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o644)
		return []string{"SLIMAGE_EXTRA_CA=" + p}
	}},
	{"SLIMAGE_EXTRA_CA", "a certificate that does not parse", nil, func(t *testing.T, mod string) []string {
		p := filepath.Join(mod, "..", "ca.pem")
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), 0o644)
		return []string{"SLIMAGE_EXTRA_CA=" + p}
	}},
	{"SLIMAGE_EXTRA_CA", "an expired CA (reported)", nil, certFile("SLIMAGE_EXTRA_CA", "Corp Root 2019", true, "2019-01-01", "2024-01-01")},
	{"SLIMAGE_EXTRA_CA", "an expired CA, with SLIMAGE_CA_STRICT=true", nil, certFile("SLIMAGE_EXTRA_CA", "Corp Root 2019", true, "2019-01-01", "2024-01-01", "SLIMAGE_CA_STRICT=true")},
	{"SLIMAGE_EXTRA_CA", "a server's certificate, not a CA, with SLIMAGE_CA_STRICT=true", nil, certFile("SLIMAGE_EXTRA_CA", "api.corp.example", false, "2025-01-01", "2099-01-01", "SLIMAGE_CA_STRICT=true")},
	{"SLIMAGE_EXTRA_CA", "a CA not valid yet, with SLIMAGE_CA_STRICT=true", nil, certFile("SLIMAGE_EXTRA_CA", "Corp Root 2090", true, "2090-01-01", "2099-01-01", "SLIMAGE_CA_STRICT=true")},
	{"SLIMAGE_CA_STRICT", "not true or false", env("SLIMAGE_CA_STRICT=maybe"), nil},
	// Verify.
	{"SLIMAGE_VERIFY_TLS", "an http:// URL", env("SLIMAGE_VERIFY_TLS=http://example.com/"), nil},
	{"SLIMAGE_VERIFY_HEALTH", "not a path", env("SLIMAGE_VERIFY_HEALTH=healthz"), nil},
	{"SLIMAGE_VERIFY_HEALTH", "a port past 65535", env("SLIMAGE_VERIFY_HEALTH=98980:/readyz"), nil},
	{"SLIMAGE_VERIFY_TIMEOUT", "a number without a unit", env("SLIMAGE_VERIFY_TIMEOUT=30"), nil},
	{"SLIMAGE_VERIFY_STOP", "a negative duration", env("SLIMAGE_VERIFY_STOP=-1s"), nil},
	{"SLIMAGE_VERIFY_MIN_ROOTS", "not a count", env("SLIMAGE_VERIFY_MIN_ROOTS=many"), nil},
	{"SLIMAGE_VERIFY_NONROOT", "not true or false", env("SLIMAGE_VERIFY_NONROOT=yes please"), nil},
	{"SLIMAGE_VERIFY_LABELS", "no value", env("SLIMAGE_VERIFY_LABELS=ci-job"), nil},
	{"SLIMAGE_VERIFY_LABELS", "verify's own label", env("SLIMAGE_VERIFY_LABELS=com.github.slimage.verify=1"), nil},
	// Vulncheck.
	{"SLIMAGE_VULN_DB", "plain http", env("SLIMAGE_VULN_DB=http://vuln.example.com"), nil},
	{"SLIMAGE_VULN_DB", "another scheme", env("SLIMAGE_VULN_DB=ftp://vuln.example.com"), nil},
	{"SLIMAGE_VULN_ALLOW", "a CVE, not a Go ID", env("SLIMAGE_VULN_ALLOW=CVE-2024-1234"), nil},
	// The container engine: checked, not dialled.
	{"DOCKER_HOST", "no scheme", env("DOCKER_HOST=localhost:2375"), nil},
	{"DOCKER_HOST", "no host", env("DOCKER_HOST=tcp://"), nil},
	{"DOCKER_HOST", "a port past 65535", env("DOCKER_HOST=tcp://127.0.0.1:99999"), nil},
	{"DOCKER_HOST", "unix:// without a path", env("DOCKER_HOST=unix://"), nil},
	{"DOCKER_CONTEXT", "a context that does not exist", env("DOCKER_CONTEXT=colima"), nil},
	{"~/.docker/config.json", "not JSON", nil, func(t *testing.T, mod string) []string {
		testkit.WriteFiles(t, os.Getenv("DOCKER_CONFIG"), map[string]string{"config.json": "{auths: "})
		return nil
	}},
	{"~/.docker/config.json", "a current context that does not exist", nil, func(t *testing.T, mod string) []string {
		testkit.WriteFiles(t, os.Getenv("DOCKER_CONFIG"), map[string]string{"config.json": `{"currentContext": "desktop-linux"}`})
		return nil
	}},
}

// What each bad input prints, against docs/bad-input.md's table.
func TestBadInputTable(t *testing.T) {
	testkit.HermeticGo(t)
	goenv, err := gotool.ReadEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, in := range badInputs {
		line := printed(t, in, goenv.GOVERSION)
		rows = append(rows, fmt.Sprintf("| %s | %s | `%s` |", code(in.setting), cell(in.input, in.env), strings.ReplaceAll(line, "|", `\|`)))
	}
	if len(rows) < 50 {
		t.Errorf("%d bad inputs: the table is to hold at least 50", len(rows))
	}
	table := "| setting | input | what slimage prints |\n|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	generatedTable(t, "bad-input.md", "<!-- table: go test ./docs -run BadInput -update -->\n", table)
}

// generatedTable checks the table between begin and the end marker of
// docs/<page> against table, or rewrites it under -update.
func generatedTable(t *testing.T, page, begin, table string) {
	t.Helper()
	path := filepath.Join(testkit.RepoRoot(t), "docs", page)
	doc := read(t, path)
	const end = "<!-- end of table -->\n"
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q block", path, begin, end)
	}
	if got := doc[i+len(begin) : j]; got != table {
		if *update {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+table+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("docs/%s's table is not what the code says (%s rewrites it):\n%s", page, strings.Trim(begin, "<!-> \n"), diffLines(got, table))
	}
}

// The configuration reference's table is the settings' table
// (config.Settings): each setting's variable, what it means, its default.
func TestConfigurationTable(t *testing.T) {
	var b strings.Builder
	b.WriteString("| variable | meaning | default |\n|---|---|---|\n")
	for _, s := range config.Settings {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Env, s.Doc, s.Default)
	}
	generatedTable(t, "configuration.md", "<!-- table: made from config.Settings; go test ./docs -run ConfigurationTable -update -->\n", b.String())
}

// printed is what slimage prints for in, before any work: the error mage
// shows, else the first note. Paths of the test's own are shown as a user
// would have them (/src/hello, ~/.docker).
func printed(t *testing.T, in badInput, goVersion string) string {
	t.Helper()
	tmp := t.TempDir()
	mod := filepath.Join(tmp, "src", "hello")
	testkit.CopyDir(t, filepath.Join(testkit.RepoRoot(t), "testdata", "hello"), mod)
	dockerConfig := filepath.Join(tmp, "home", ".docker")
	os.MkdirAll(dockerConfig, 0o755)
	vars := map[string]string{"DOCKER_CONFIG": dockerConfig, "DOCKER_HOST": "", "DOCKER_CONTEXT": "", "SSL_CERT_FILE": ""}
	for _, kv := range in.env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = strings.ReplaceAll(v, "/src/hello", mod)
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	if in.setup != nil {
		for _, kv := range in.setup(t, mod) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
			t.Setenv(k, v)
		}
	}
	lookup := func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok && strings.HasPrefix(k, "SLIMAGE_")
	}
	if v := vars["SLIMAGE_DIR"]; v == "/src" {
		vars["SLIMAGE_DIR"] = filepath.Join(tmp, "src")
	}
	defaults := []func(*config.Config){func(c *config.Config) { c.Dir = mod; c.Ports = []string{"8080"} }}
	var line string
	c, err := config.Load(context.Background(), defaults, nil, lookup)
	if err == nil {
		var notes []string
		if notes, err = c.CheckImageInputs(context.Background()); err == nil {
			if len(notes) == 0 {
				t.Errorf("%s %s: refused nothing, noted nothing", in.setting, in.input)
				return "(nothing)"
			}
			line = "note: " + notes[0]
		}
	}
	if err != nil {
		line = "Error: " + err.Error()
	}
	for _, r := range []struct{ from, to string }{{mod, "/src/hello"}, {filepath.Join(tmp, "src"), "/src"}, {dockerConfig, "~/.docker"}, {tmp, "/src"}, {goVersion, "go1.N"}} {
		line = strings.ReplaceAll(line, r.from, r.to)
	}
	if strings.Contains(line, "\n") {
		t.Errorf("%s %s: more than one line: %q", in.setting, in.input, line)
	}
	return line
}

// code shows a setting as code, a file or folder as it is named.
func code(s string) string { return "`" + s + "`" }

// cell is the input column: its words, and the settings that make it.
func cell(input string, env []string) string {
	if len(env) == 0 {
		return input
	}
	return input + ": `" + strings.Join(env, " ") + "`"
}

// certPEM is a certificate for name, valid from … until (dates), a CA or
// a server's.
func certPEM(t *testing.T, name string, isCA bool, from, until string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	notBefore, _ := time.Parse(time.DateOnly, from)
	notAfter, _ := time.Parse(time.DateOnly, until)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: isCA, BasicConstraintsValid: true}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// diffLines shows the lines of want that got lacks and the other way round.
func diffLines(got, want string) string {
	var b bytes.Buffer
	have := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		have[l] = true
	}
	wanted := map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		wanted[l] = true
		if !have[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !wanted[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	return b.String()
}
