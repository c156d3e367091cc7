package config_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/testkit"
)

const mainGo = "package main\n\nfunc main() {}\n"

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// load resolves a config for a module made of files, with env as the only
// environment (the real environment's SLIMAGE_* variables do not leak in).
func load(t *testing.T, files, env map[string]string, overrides ...func(*config.Config)) (*config.Config, error) {
	t.Helper()
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, files)
	t.Setenv("GOTOOLCHAIN", "local")
	defaults := []func(*config.Config){func(c *config.Config) { c.Dir = dir; c.Dist = filepath.Join(dir, "dist") }}
	return config.Load(context.Background(), defaults, overrides, lookupFrom(env))
}

func TestDerivedDefaults(t *testing.T) {
	tests := []struct {
		name       string
		files      map[string]string
		wantMain   string
		wantBinary string
	}{
		{"root main is named after the module", map[string]string{
			"go.mod": "module example.com/shop/api\n\ngo 1.22\n", "main.go": mainGo}, ".", "api"},
		{"major version suffix is dropped", map[string]string{
			"go.mod": "module example.com/shop/api/v3\n\ngo 1.22\n", "main.go": mainGo}, ".", "api"},
		{"single cmd is chosen", map[string]string{
			"go.mod": "module example.com/shop\n\ngo 1.22\n", "lib.go": "package shop\n",
			"cmd/shopd/main.go": mainGo}, "./cmd/shopd", "shopd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.files, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Main != tt.wantMain || c.Binary != tt.wantBinary {
				t.Errorf("main %q binary %q, want %q %q", c.Main, c.Binary, tt.wantMain, tt.wantBinary)
			}
			want := config.Platform{OS: "linux", Arch: runtime.GOARCH}
			if len(c.Platforms) != 1 || c.Platforms[0] != want {
				t.Errorf("platforms %v, want [%v]", c.Platforms, want)
			}
			if c.VersionVar != "main.version" || c.Version == "" {
				t.Errorf("version %q var %q", c.Version, c.VersionVar)
			}
		})
	}
}

// The order users rely on: defaults, then SLIMAGE_* variables, then Go code.
func TestPrecedence(t *testing.T) {
	files := map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n",
		"cmd/a/main.go": mainGo, "cmd/b/main.go": mainGo}
	env := map[string]string{"SLIMAGE_MAIN": "./cmd/a", "SLIMAGE_PLATFORMS": "linux/arm64, linux/arm/v7,linux/arm64",
		"SLIMAGE_VERSION": "v1.2.3", "SLIMAGE_VERSION_VAR": "", "SLIMAGE_TZ": "", "SLIMAGE_USER": ""}
	c, err := load(t, files, env)
	if err != nil {
		t.Fatal(err)
	}
	// Empty means none where the manual says so (no stamp, no zone), and
	// unset elsewhere (the default user).
	if c.Main != "./cmd/a" || c.Binary != "a" || c.Version != "v1.2.3" || c.VersionVar != "" || c.TZ != "" || c.User != "65532:65532" {
		t.Errorf("env not applied: %+v", c)
	}
	if got := c.Platforms; len(got) != 2 || got[1].String() != "linux/arm/v7" || got[1].DistDir() != "linux_arm_v7" {
		t.Errorf("platforms %v", got)
	}
	c, err = load(t, files, env, func(c *config.Config) { c.Main = "example.com/shop/cmd/b"; c.Binary = "shop" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Main != "./cmd/b" || c.Binary != "shop" {
		t.Errorf("Go override lost to the environment: main %q binary %q", c.Main, c.Binary)
	}
}

func TestBadInput(t *testing.T) {
	mod := map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n", "main.go": mainGo,
		"pkg/util/util.go": "package util\n"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range mod {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name  string
		files map[string]string
		env   map[string]string
		want  []string // all must appear in the error
	}{
		{"unknown platform", mod, map[string]string{"SLIMAGE_PLATFORMS": "linux/amd64,plan10/z80"},
			[]string{"SLIMAGE_PLATFORMS", "plan10/z80", "go tool dist list"}},
		{"platform without arch", mod, map[string]string{"SLIMAGE_PLATFORMS": "linux"},
			[]string{"SLIMAGE_PLATFORMS", `"linux"`, "os/arch"}},
		{"unknown variant", mod, map[string]string{"SLIMAGE_PLATFORMS": "linux/arm/v9"},
			[]string{"SLIMAGE_PLATFORMS", "linux/arm/v9", "v7"}},
		{"wasm is not a container binary", mod, map[string]string{"SLIMAGE_PLATFORMS": "js/wasm"},
			[]string{"SLIMAGE_PLATFORMS", "js/wasm"}},
		{"main is a library", mod, map[string]string{"SLIMAGE_MAIN": "./pkg/util"},
			[]string{"SLIMAGE_MAIN", "./pkg/util", "package util", "not a main package"}},
		{"main does not exist", mod, map[string]string{"SLIMAGE_MAIN": "./cmd/nope"},
			[]string{"SLIMAGE_MAIN", "./cmd/nope", "no such folder"}},
		{"main outside the module", mod, map[string]string{"SLIMAGE_MAIN": "../other"},
			[]string{"SLIMAGE_MAIN", "../other", "outside module example.com/shop"}},
		{"no main at all", map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n", "lib.go": "package shop\n"}, nil,
			[]string{"SLIMAGE_MAIN", "example.com/shop has no main package"}},
		{"not a module", map[string]string{"main.go": mainGo}, nil,
			[]string{"SLIMAGE_DIR", "not a Go module (no go.mod)", "go mod init"}},
		{"go line newer than local Go", with(map[string]string{"go.mod": "module example.com/shop\n\ngo 1.99.0\n"}), nil,
			[]string{"go.mod", "go 1.99.0", "GOTOOLCHAIN=local", "GOTOOLCHAIN=auto"}},
		{"toolchain line newer than local Go", with(map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n\ntoolchain go1.99.1\n"}), nil,
			[]string{"go.mod", "toolchain go1.99.1", "GOTOOLCHAIN"}},
		{"binary with a slash", mod, map[string]string{"SLIMAGE_BINARY": "bin/app"},
			[]string{"SLIMAGE_BINARY", "bin/app"}},
		{"version with a space", mod, map[string]string{"SLIMAGE_VERSION": "1.0 beta"},
			[]string{"SLIMAGE_VERSION", "1.0 beta"}},
		{"bad version variable", mod, map[string]string{"SLIMAGE_VERSION_VAR": "version"},
			[]string{"SLIMAGE_VERSION_VAR", "importpath.name"}},
		{"docker builder for a foreign platform", mod, map[string]string{"SLIMAGE_BUILDER": "docker", "SLIMAGE_PLATFORMS": "linux/s390x"},
			[]string{"SLIMAGE_BUILDER", "linux/s390x", "SLIMAGE_BUILDER=oci"}},
		{"a label slimage sets", mod, map[string]string{"SLIMAGE_LABELS": "com.example.team=payments,org.opencontainers.image.source=https://github.com/acme/shop"},
			[]string{"SLIMAGE_LABELS", "slimage sets org.opencontainers.image.source itself", "org.opencontainers.image.source:=https://github.com/acme/shop"}},
		{"a label without a value", mod, map[string]string{"SLIMAGE_LABELS": "team"},
			[]string{"SLIMAGE_LABELS", `"team" is not key=value`}},
		{"a label of slimage's own", mod, map[string]string{"SLIMAGE_LABELS": "com.github.slimage.context=x"},
			[]string{"SLIMAGE_LABELS", "slimage's own"}},
		{"unknown Dockerfile mode", mod, map[string]string{"SLIMAGE_DOCKERFILE_MODE": "buildkit"},
			[]string{"SLIMAGE_DOCKERFILE_MODE", `"buildkit"`}},
		{"multistage for several platforms", mod, map[string]string{"SLIMAGE_DOCKERFILE_MODE": "multistage", "SLIMAGE_PLATFORMS": "linux/amd64,linux/arm64"},
			[]string{"SLIMAGE_DOCKERFILE_MODE", "cannot honour SLIMAGE_PLATFORMS=linux/amd64,linux/arm64", "host platform"}},
		{"multistage and a push", mod, map[string]string{"SLIMAGE_DOCKERFILE_MODE": "multistage", "SLIMAGE_PUSH": "127.0.0.1:5000/hello"},
			[]string{"SLIMAGE_DOCKERFILE_MODE", "cannot honour SLIMAGE_PUSH=127.0.0.1:5000/hello", "drop it"}},
		{"multistage and the OCI builder", mod, map[string]string{"SLIMAGE_DOCKERFILE_MODE": "multistage", "SLIMAGE_BUILDER": "oci"},
			[]string{"SLIMAGE_DOCKERFILE_MODE", "cannot honour SLIMAGE_BUILDER=oci"}},
		{"bad Go image", mod, map[string]string{"SLIMAGE_DOCKERFILE_MODE": "multistage", "SLIMAGE_GO_IMAGE": "Golang::1"},
			[]string{"SLIMAGE_GO_IMAGE", "Golang::1"}},
		{"unknown builder", mod, map[string]string{"SLIMAGE_BUILDER": "kaniko"},
			[]string{"SLIMAGE_BUILDER", `"kaniko"`}},
		{"push with the docker builder", mod, map[string]string{"SLIMAGE_BUILDER": "docker", "SLIMAGE_PUSH": "127.0.0.1:5000/a/b:c"},
			[]string{"SLIMAGE_PUSH", "SLIMAGE_BUILDER=oci"}},
		{"upper-case image name", mod, map[string]string{"SLIMAGE_IMAGE": "Shop:v1"},
			[]string{"SLIMAGE_IMAGE", `"Shop:v1"`, "lower case"}},
		{"image with a digest", mod, map[string]string{"SLIMAGE_IMAGE": "shop@sha256:" + strings.Repeat("ab", 32)},
			[]string{"SLIMAGE_IMAGE", "has a digest", "name:tag"}},
		{"bad push target", mod, map[string]string{"SLIMAGE_BUILDER": "oci", "SLIMAGE_PUSH": "registry.example:5000/a//b"},
			[]string{"SLIMAGE_PUSH", "registry.example:5000/a//b"}},
		{"misspelt zone", mod, map[string]string{"SLIMAGE_TZ": "Asia/Shangai"},
			[]string{"SLIMAGE_TZ", `"Asia/Shangai"`, "did you mean Asia/Shanghai?"}},
		{"verify TLS over http", mod, map[string]string{"SLIMAGE_VERIFY_TLS": "http://example.com/"},
			[]string{"SLIMAGE_VERIFY_TLS", `"http://example.com/"`, "https://"}},
		{"health without a slash", mod, map[string]string{"SLIMAGE_VERIFY_HEALTH": "healthz"},
			[]string{"SLIMAGE_VERIFY_HEALTH", `"healthz"`, "/healthz"}},
		{"misspelt extra zone", mod, map[string]string{"SLIMAGE_ZONES": "Europe/Berlin,Europe/Pariss"},
			[]string{"SLIMAGE_ZONES", `"Europe/Pariss"`, "Europe/Paris"}},
		{"all among zones", mod, map[string]string{"SLIMAGE_ZONES": "all,Europe/Berlin"},
			[]string{"SLIMAGE_ZONES", "all alone"}},
		{"settle not a duration", mod, map[string]string{"SLIMAGE_VERIFY_SETTLE": "2"},
			[]string{"SLIMAGE_VERIFY_SETTLE", `"2"`, "duration"}},
		{"nonroot not a boolean", mod, map[string]string{"SLIMAGE_VERIFY_NONROOT": "yes please"},
			[]string{"SLIMAGE_VERIFY_NONROOT", `"yes please"`}},
		{"unknown deps verify mode", mod, map[string]string{"SLIMAGE_DEPS_VERIFY": "sometimes"},
			[]string{"SLIMAGE_DEPS_VERIFY", `"sometimes"`, "full or fast"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.files, tt.env)
			testkit.ErrorMentions(t, err, tt.want...)
		})
	}
}

func TestBuilderChoice(t *testing.T) {
	files := map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n", "main.go": mainGo}
	for _, tt := range []struct {
		platforms, push, mode, builder, want string
	}{
		{"", "", "", "", "oci"},
		{"linux/" + runtime.GOARCH, "", "", "", "oci"},
		{"linux/amd64,linux/arm64", "", "", "", "oci"},
		{"linux/s390x", "", "", "", "oci"},
		{"", "127.0.0.1:5000/shop:v1", "", "", "oci"},
		{"", "", "multistage", "", "docker"},
		{"", "", "", "docker", "docker"},
	} {
		env := map[string]string{"SLIMAGE_PLATFORMS": tt.platforms, "SLIMAGE_PUSH": tt.push,
			"SLIMAGE_DOCKERFILE_MODE": tt.mode, "SLIMAGE_BUILDER": tt.builder}
		c, err := load(t, files, env)
		if err != nil {
			t.Fatal(err)
		}
		if c.Builder != tt.want {
			t.Errorf("platforms %q push %q mode %q builder %q: builder %q, want %q", tt.platforms, tt.push, tt.mode, tt.builder, c.Builder, tt.want)
		}
	}
}

func TestMultistageGoImage(t *testing.T) {
	for _, tt := range []struct{ gomod, env, want string }{
		{"module example.com/shop\n\ngo 1.24\n", "", "golang:1.24"},
		{"module example.com/shop\n\ngo 1.24\n\ntoolchain go1.25.3\n", "", "golang:1.25.3"},
		{"module example.com/shop\n\ngo 1.24\n", "golang:1.24@sha256:" + strings.Repeat("ab", 32), "golang:1.24@sha256:" + strings.Repeat("ab", 32)},
	} {
		env := map[string]string{"SLIMAGE_DOCKERFILE_MODE": "multistage"}
		if tt.env != "" {
			env["SLIMAGE_GO_IMAGE"] = tt.env
		}
		c, err := load(t, map[string]string{"go.mod": tt.gomod, "main.go": mainGo}, env)
		if err != nil {
			t.Fatal(err)
		}
		if c.GoImage != tt.want || c.DockerfileOut != filepath.Join("dist", "image", "Dockerfile.multistage") {
			t.Errorf("go image %q out %q, want %q", c.GoImage, c.DockerfileOut, tt.want)
		}
	}
}

func TestEffectiveConfigIsPrinted(t *testing.T) {
	c, err := load(t, map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n", "main.go": mainGo},
		map[string]string{"SLIMAGE_PLATFORMS": "linux/amd64,linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	out := c.String()
	for _, w := range []string{"SLIMAGE_DIR", "example.com/shop", "SLIMAGE_PLATFORMS        linux/amd64,linux/arm64", "SLIMAGE_BINARY           shop"} {
		if !strings.Contains(out, w) {
			t.Errorf("config print lacks %q:\n%s", w, out)
		}
	}
}

// Verifying an image built elsewhere needs settings, not a Go module.
func TestLoadSettingsNeedsNoModule(t *testing.T) {
	wd, _ := os.Getwd()
	if err := os.Chdir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	c, err := config.LoadSettings(nil, nil, lookupFrom(map[string]string{"SLIMAGE_TZ": "Europe/Berlin", "SLIMAGE_VERIFY_TIMEOUT": "5s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.TZ != "Europe/Berlin" || c.VerifyTimeout.String() != "5s" || c.VerifyMinRoots != 50 {
		t.Errorf("settings: %+v", c)
	}
	_, err = config.LoadSettings(nil, nil, lookupFrom(map[string]string{"SLIMAGE_VERIFY_GRACE": "soon"}))
	testkit.ErrorMentions(t, err, "SLIMAGE_VERIFY_GRACE", `"soon"`)
}

// SLIMAGE_LABELS adds labels; key:= says the user's value wins over one
// slimage sets.
func TestLabels(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteFiles(t, dir, map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n", "main.go": mainGo})
	env := map[string]string{"SLIMAGE_DIR": dir,
		"SLIMAGE_LABELS": "com.example.team=payments, com.example.tier=1,org.opencontainers.image.source:=https://github.com/acme/shop"}
	c, err := config.Load(context.Background(), nil, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if c.Labels["com.example.team"] != "payments" || c.Labels["com.example.tier"] != "1" || len(c.Labels) != 2 {
		t.Errorf("labels %v", c.Labels)
	}
	if c.LabelOverrides["org.opencontainers.image.source"] != "https://github.com/acme/shop" || len(c.LabelOverrides) != 1 {
		t.Errorf("overrides %v", c.LabelOverrides)
	}
}

// A go.mod with directives newer than the x/mod slimage requires (tool in
// Go 1.24, ignore in 1.25, and one no Go has yet) still gives its module
// path, go and toolchain lines and replaced folders.
func TestNewerGoModDirectives(t *testing.T) {
	for _, extra := range []string{
		"tool golang.org/x/tools/cmd/stringer\n",
		"ignore ./node_modules\n",
		"godebug default=go1.21\n",
		"frobnicate everything\n",
		"",
	} {
		t.Run(strings.TrimSpace(extra), func(t *testing.T) {
			gomod := "module example.com/shop\n\ngo 1.22\n\ntoolchain go1.22.3\n\n" + extra +
				"\nreplace example.com/lib => ./lib\n\nreplace (\n\texample.com/other v1.0.0 => \"../other\"\n\texample.com/remote => example.com/fork v1.2.3\n)\n"
			c, err := load(t, map[string]string{"go.mod": gomod, "main.go": mainGo}, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := c.Module
			if m.Path != "example.com/shop" || m.Go != "1.22" || m.Toolchain != "go1.22.3" {
				t.Errorf("module %+v", m)
			}
			want := []string{filepath.Join(c.Dir, "lib"), filepath.Join(filepath.Dir(c.Dir), "other")}
			if !slices.Equal(m.Replaces, want) {
				t.Errorf("replaced folders %v, want %v", m.Replaces, want)
			}
		})
	}
}

// Every main package is a service: at the root and under cmd/ by default
// (else anywhere in the module), SLIMAGE_MAIN's list and patterns, each
// with its image, and Go code's settings for one of them over the common
// ones; SLIMAGE_SERVICES selects.
func TestServices(t *testing.T) {
	mod := func(extra map[string]string) map[string]string {
		files := map[string]string{"go.mod": "module example.com/shop\n\ngo 1.22\n"}
		for k, v := range extra {
			files[k] = v
		}
		return files
	}
	names := func(ss []*config.Service) (out []string) {
		for _, s := range ss {
			out = append(out, s.Name+"="+s.Main+"@"+s.Image)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		env   map[string]string
		want  []string
	}{
		{"root and cmd", mod(map[string]string{"main.go": mainGo, "cmd/tool/main.go": mainGo, "tools/gen/main.go": mainGo}), nil,
			[]string{"shop=.@shop:v1", "tool=./cmd/tool@tool:v1"}},
		{"anywhere, when neither", mod(map[string]string{"lib.go": "package shop\n", "tools/gen/main.go": mainGo}), nil,
			[]string{"gen=./tools/gen@gen:v1"}},
		{"a list and a pattern", mod(map[string]string{"main.go": mainGo, "cmd/api/main.go": mainGo, "cmd/worker/main.go": mainGo, "tools/gen/main.go": mainGo}),
			map[string]string{"SLIMAGE_MAIN": "./tools/gen, ./cmd/..."}, []string{"gen=./tools/gen@gen:v1", "api=./cmd/api@api:v1", "worker=./cmd/worker@worker:v1"}},
		{"a repository prefix", mod(map[string]string{"cmd/api/main.go": mainGo, "cmd/worker/main.go": mainGo}),
			map[string]string{"SLIMAGE_REPO": "registry.example.com/shop/"}, []string{"api=./cmd/api@registry.example.com/shop/api:v1", "worker=./cmd/worker@registry.example.com/shop/worker:v1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SLIMAGE_VERSION": "v1"}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := load(t, tc.files, env)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(c.Services); !slices.Equal(got, tc.want) {
				t.Errorf("services %v, want %v", got, tc.want)
			}
		})
	}
	files := mod(map[string]string{"cmd/api/main.go": mainGo, "cmd/worker/main.go": mainGo})
	c, err := load(t, files, map[string]string{"SLIMAGE_PORTS": "8080", "SLIMAGE_SERVICES": "api"}, func(c *config.Config) {
		c.Service("worker").Ports = []string{}
		c.Service("api").Ports = []string{"9898", "8080"}
		c.Service("api").VerifyHealth = "8080:/healthz"
	})
	if err != nil {
		t.Fatal(err)
	}
	api, worker := c.Services[0], c.Services[1]
	if !slices.Equal(api.Ports, []string{"9898/tcp", "8080/tcp"}) || api.VerifyHealth != "8080:/healthz" || len(worker.Ports) != 0 {
		t.Errorf("api %+v, worker %+v", api, worker)
	}
	if sel := c.Selected(); len(sel) != 1 || sel[0].Name != "api" {
		t.Errorf("selected %v", names(sel))
	}
	if d := c.ForService(worker); d.Binary != "worker" || d.Dist != filepath.Join(c.Dist, "worker") || d.BinaryDir(c.Platforms[0]) != c.BinaryDir(c.Platforms[0]) {
		t.Errorf("the worker's configuration: binary %s, dist %s", d.Binary, d.Dist)
	}
	for _, tc := range []struct {
		env  map[string]string
		set  func(*config.Config)
		want []string
	}{
		{map[string]string{"SLIMAGE_IMAGE": "shop:v1"}, nil, []string{"SLIMAGE_IMAGE", "names one image", "2 services", "SLIMAGE_REPO"}},
		{map[string]string{"SLIMAGE_BINARY": "shop"}, nil, []string{"SLIMAGE_BINARY", "names one binary"}},
		{map[string]string{"SLIMAGE_PUSH": "registry.example.com/shop"}, nil, []string{"SLIMAGE_PUSH", "prefix ending in /"}},
		{map[string]string{"SLIMAGE_SERVICES": "web"}, nil, []string{"SLIMAGE_SERVICES", "web is not a service", "api, worker"}},
		{nil, func(c *config.Config) { c.Service("web").Ports = []string{"80"} }, []string{"configures service web", "api, worker"}},
	} {
		var overrides []func(*config.Config)
		if tc.set != nil {
			overrides = append(overrides, tc.set)
		}
		_, err := load(t, files, tc.env, overrides...)
		testkit.ErrorMentions(t, err, tc.want...)
	}
}
