package build

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/moby/go-archive"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/spec"
	"github.com/slimage/slimage/images/stage"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
)

// Multistage is the written pair.
type Multistage struct {
	Dockerfile string // absolute
	Ignore     string // absolute: <Dockerfile>.dockerignore
	Spec       spec.MultistageSpec
}

// WriteMultistage renders the self-contained Dockerfile and its ignore file
// for c and writes both where c says (SLIMAGE_DOCKERFILE_OUT).
func WriteMultistage(ctx context.Context, c *config.Config) (*Multistage, error) {
	out := c.DockerfileOut
	if !filepath.IsAbs(out) {
		out = filepath.Join(c.Dir, out)
	}
	relDockerfile, _ := filepath.Rel(c.Dir, out) // inside: config.Resolve checked it
	relDist, err := filepath.Rel(c.Dir, c.Dist)
	if err != nil || strings.HasPrefix(relDist, "..") {
		relDist = "dist"
	}
	sp := spec.Spec{Binary: c.Binary, Title: c.Binary, Version: c.Version, Zone: c.TZ, User: c.User,
		Ports: c.Ports, Args: c.Args, Labels: stage.Labels(c), AllZones: c.AllZones()}
	if !sp.AllZones {
		sp.Zones = c.Zones
	}
	stamps, _ := c.Stamps() // checked when the configuration was read
	var xs []string
	for _, s := range stamps {
		xs = append(xs, s.Var+"="+s.BuildArgValue())
	}
	ms := spec.MultistageSpec{Spec: sp, GoImage: c.GoImage, Main: c.Main, Stamps: xs,
		ModFlag: "-mod=readonly", DockerfilePath: filepath.ToSlash(relDockerfile), IgnorePath: filepath.ToSlash(relDockerfile) + ".dockerignore"}
	if c.Vendor {
		ms.ModFlag = "-mod=vendor"
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "go.sum")); errors.Is(err, fs.ErrNotExist) {
		ms.NoGoSum = true
	}
	files, err := c.RuntimeFiles()
	if err != nil {
		return nil, err
	}
	root, err := filepath.EvalSymlinks(c.Dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		// The file itself, by its path in the module (the build context),
		// not a link to it: COPY copies a link as a link.
		rel, err := filepath.Rel(root, f.Abs)
		if err != nil {
			return nil, err
		}
		ms.Copies = append(ms.Copies, filepath.ToSlash(rel)+" "+f.Dst)
	}
	// A folder made under the output folder is slimage's (see outdir).
	if err := outdir.MkdirAll(c.Dist, filepath.Dir(out)); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	trust := out + ".ca.pem"
	certs, replaces, err := stage.MultistageTrust(ctx, c)
	if err != nil {
		return nil, err
	}
	var keep []string
	if certs != nil {
		if err := atomicfile.Write(trust, certs, 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", trust, err)
		}
		ms.Trust, ms.TrustReplaces = ms.DockerfilePath+".ca.pem", replaces
		keep = append(keep, ms.Trust)
	} else {
		os.Remove(trust) // from an earlier run with a CA setting
	}
	df, err := spec.RenderMultistage(ms)
	if err != nil {
		return nil, err
	}
	m := &Multistage{Dockerfile: out, Ignore: out + ".dockerignore", Spec: ms}
	if err := atomicfile.Write(m.Dockerfile, df, 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", m.Dockerfile, err)
	}
	if err := atomicfile.Write(m.Ignore, spec.RenderDockerignore(filepath.ToSlash(relDist), ms.DockerfilePath, keep...), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", m.Ignore, err)
	}
	return m, nil
}

// BuildMultistage builds the self-contained Dockerfile with the daemon from
// the module root, less what its ignore file excludes. The go command runs
// inside Docker, with the user's GOPROXY, GOPRIVATE, GONOSUMDB, GOSUMDB and
// GOFLAGS as build arguments; the build uses the host's network, so a
// proxy the host reaches (127.0.0.1 included) works the same inside.
func BuildMultistage(ctx context.Context, cli *client.Client, c *config.Config, m *Multistage, progress io.Writer) (Built, error) {
	data, err := os.ReadFile(m.Ignore)
	if err != nil {
		return Built{}, err
	}
	var excludes []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			excludes = append(excludes, strings.TrimPrefix(l, "/"))
		}
	}
	tarball, err := archive.TarWithOptions(c.Dir, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: send the module %s: %w", c.Image, c.Dir, err)
	}
	defer tarball.Close()
	args := map[string]*string{}
	set := func(k, v string) {
		if v != "" {
			args[k] = &v
		}
	}
	for _, k := range []string{"GOPROXY", "GOPRIVATE", "GONOSUMDB", "GOSUMDB", "GOFLAGS"} {
		set(k, os.Getenv(k))
	}
	for k, v := range proxyArgs(cli.DaemonHost()) {
		args[k] = v
	}
	l := m.Spec.Spec.Labels
	set("VERSION", c.Version)
	set("REVISION", l["org.opencontainers.image.revision"])
	set("CREATED", l["org.opencontainers.image.created"])
	auths, err := registryAuths()
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %w", c.Image, err)
	}
	res, err := cli.ImageBuild(ctx, tarball, client.ImageBuildOptions{
		Dockerfile: m.Spec.DockerfilePath, BuildArgs: args,
		Remove: true, ForceRemove: true, NetworkMode: "host", AuthConfigs: auths,
	})
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: %s", c.Image, daemon.FirstLine(err))
	}
	defer res.Body.Close()
	id, err := buildOutput(ctx, res.Body, progress)
	if err != nil {
		if ctx.Err() != nil {
			return Built{}, ctx.Err()
		}
		if _, inspectErr := cli.ImageInspect(ctx, c.GoImage); inspectErr != nil {
			return Built{}, fmt.Errorf("build image %s: the builder image %s is not in the local Docker and could not be pulled (%s): log in to its registry (docker login), pull it where a registry is reachable, or set SLIMAGE_GO_IMAGE to an image the daemon has", c.Image, c.GoImage, err)
		}
		return Built{}, fmt.Errorf("build image %s: %w (Dockerfile: %s)", c.Image, err, human.Path(m.Dockerfile))
	}
	inspect, err := cli.ImageInspect(ctx, id)
	if err != nil {
		return Built{}, fmt.Errorf("build image %s: inspect the result: %s", c.Image, daemon.FirstLine(err))
	}
	return Built{Ref: c.Image, Platform: c.Platforms[0], ID: inspect.ID, Size: inspect.Size, loaded: true}, nil
}

// proxyArgs are the proxy build arguments the Docker CLI would pass: those
// in its config.json for this engine ("proxies"), with the caller's own
// HTTP_PROXY, HTTPS_PROXY, NO_PROXY, FTP_PROXY and ALL_PROXY (either case)
// over them, as an explicit --build-arg is. Docker predefines these
// arguments, so the builder stage's RUN steps see them without an ARG line,
// and they stay out of the image's history.
func proxyArgs(daemonHost string) map[string]*string {
	explicit := map[string]*string{}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "FTP_PROXY", "ALL_PROXY"} {
		for _, name := range []string{k, strings.ToLower(k)} {
			if v, ok := os.LookupEnv(name); ok && v != "" {
				explicit[name] = &v
			}
		}
	}
	cfg, err := dockerconfig.Load(daemon.ConfigDir())
	if err != nil {
		return explicit // Resolve already refused a config.json it cannot read
	}
	return cfg.ParseProxyConfig(daemonHost, explicit)
}

// registryAuths are the credentials the Docker CLI sends with a build, for
// the daemon to pull the FROM images with: every registry in its
// config.json, credential helpers and stores included.
func registryAuths() (map[string]registry.AuthConfig, error) {
	cfg, err := dockerconfig.Load(daemon.ConfigDir())
	if err != nil {
		return nil, fmt.Errorf("read the Docker CLI's configuration in %s: %s: fix or remove it", daemon.ConfigDir(), daemon.FirstLine(err))
	}
	creds, err := cfg.GetAllCredentials()
	if err != nil {
		return nil, fmt.Errorf("read registry credentials from the Docker CLI's configuration in %s: %s: check its credential helpers (docker login works again once they do)", daemon.ConfigDir(), daemon.FirstLine(err))
	}
	auths := make(map[string]registry.AuthConfig, len(creds))
	for host, a := range creds {
		auths[host] = registry.AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth,
			ServerAddress: a.ServerAddress, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	}
	return auths, nil
}
