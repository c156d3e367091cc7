package manifests

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/resolved")

// pushed are the digests a loopback registry gave the three services.
var pushed = map[string]Pushed{
	"api":    {Ref: "127.0.0.1:5000/shop/api:1.4.0", Digest: "sha256:" + strings.Repeat("a", 64)},
	"worker": {Ref: "127.0.0.1:5000/shop/worker:1.4.0", Digest: "sha256:" + strings.Repeat("b", 64)},
	"cli":    {Ref: "127.0.0.1:5000/shop/cli", Digest: "sha256:" + strings.Repeat("c", 64)},
}

func lookup(svc string) (string, error) {
	p, ok := pushed[svc]
	if !ok {
		return "", errors.New("no such service")
	}
	return p.DigestRef(), nil
}

// TestResolveTree: a folder of three manifests (one with two containers,
// one that names no slimage image) comes out with exactly the slimage
// references replaced, every other byte as it was (testdata/resolved).
func TestResolveTree(t *testing.T) {
	files, err := Find([]string{filepath.Join("testdata", "deploy")})
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for _, f := range files {
		rels = append(rels, filepath.ToSlash(f.Rel))
		data, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		got, named, err := Resolve(f.Rel, data, lookup)
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "resolved", f.Rel)
		if *update {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			os.WriteFile(golden, got, 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s resolved:\n%s\nwant:\n%s", f.Rel, got, want)
		}
		// Only the references changed: the rest is byte for byte.
		if unresolved := strings.NewReplacer(pushed["api"].DigestRef(), "slimage://api", pushed["worker"].DigestRef(), "slimage://worker",
			pushed["cli"].DigestRef(), "slimage://cli").Replace(string(got)); unresolved != string(data) {
			t.Errorf("%s: more than the references changed", f.Rel)
		}
		t.Logf("%s names %v", f.Rel, named)
	}
	if got := strings.Join(rels, " "); got != "api.yaml jobs/migrate.yml redis.yaml" {
		t.Errorf("manifests found: %s", got)
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
		named               []string
	}{
		{name: "a value", in: "image: slimage://api\n", want: "image: 127.0.0.1:5000/shop/api@sha256:" + strings.Repeat("a", 64) + "\n", named: []string{"api"}},
		{name: "quoted, twice", in: "a: \"slimage://api\"\nb: 'slimage://api'\n", want: "a: \"127.0.0.1:5000/shop/api@sha256:" + strings.Repeat("a", 64) + "\"\nb: '127.0.0.1:5000/shop/api@sha256:" + strings.Repeat("a", 64) + "'\n", named: []string{"api"}},
		{name: "comments stay", in: "# slimage://api\nx: 1 # slimage://api\n", want: "# slimage://api\nx: 1 # slimage://api\n"},
		{name: "a # in quotes is no comment", in: "image: \"#slimage://cli\"\n", want: "image: \"#127.0.0.1:5000/shop/cli@sha256:" + strings.Repeat("c", 64) + "\"\n", named: []string{"cli"}},
		{name: "no final newline", in: "image: slimage://cli", want: "image: 127.0.0.1:5000/shop/cli@sha256:" + strings.Repeat("c", 64), named: []string{"cli"}},
		{name: "an unknown service", in: "kind: Pod\nimage: slimage://billing\n", err: "resolve pod.yaml:2: slimage://billing: no such service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, named, err := Resolve("pod.yaml", []byte(tc.in), lookup)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want || strings.Join(named, ",") != strings.Join(tc.named, ",") {
				t.Errorf("got %q %v %v, want %q %v", got, named, err, tc.want, tc.named)
			}
		})
	}
}

func TestDigestRef(t *testing.T) {
	d := "sha256:" + strings.Repeat("d", 64)
	for ref, want := range map[string]string{
		"registry.example.com/shop/api:1.0":               "registry.example.com/shop/api@" + d,
		"127.0.0.1:5000/api":                              "127.0.0.1:5000/api@" + d,
		"127.0.0.1:5000/api:v2":                           "127.0.0.1:5000/api@" + d,
		"ghcr.io/o/api@sha256:" + strings.Repeat("e", 64): "ghcr.io/o/api@" + d,
	} {
		if got := (Pushed{Ref: ref, Digest: d}).DigestRef(); got != want {
			t.Errorf("%s: %s, want %s", ref, got, want)
		}
	}
}

func TestFindRefuses(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		paths []string
		err   string
	}{
		{[]string{"testdata/nope"}, "read manifests testdata/nope: no such file or folder: list files or folders of YAML in SLIMAGE_MANIFESTS"},
		{[]string{empty}, "no .yaml or .yml file in it"},
		{[]string{"testdata/deploy/api.yaml", "testdata/deploy"}, "another manifest is at api.yaml"},
	} {
		if _, err := Find(tc.paths); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: error %v, want %q", tc.paths, err, tc.err)
		}
	}
}
