package images_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/build"
	"github.com/slimage/slimage/internal/testkit"
)

// imageState is what an image run leaves: each output in the output folder
// (the build folders aside) by a digest of its files, and the image each
// tag names. What differs between two runs of the same sources is left
// out, so that a state can be compared with a reference run's: the times
// in the staged records, and with Docker's builder, whose image IDs differ
// from build to build, the IDs themselves (each output that names the
// image a tag names says "<tagged>" instead, so one naming another image
// still shows).
type imageState struct {
	outputs map[string]string
	tags    map[string]string
	ids     map[string]string // the image each tag names, as it is (not compared)
}

func (s imageState) String() string {
	var b strings.Builder
	for _, m := range []map[string]string{s.outputs, s.tags} {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s %.24s\n", k, m[k])
		}
	}
	return b.String()
}

func readImageState(t *testing.T, cli *client.Client, c *config.Config) imageState {
	t.Helper()
	s := imageState{outputs: map[string]string{}, tags: map[string]string{}, ids: map[string]string{}}
	var tagged []string
	for _, b := range build.Tags(c) {
		if img, err := cli.ImageInspect(context.Background(), b.Ref); err == nil {
			s.tags[b.Ref], s.ids[b.Ref] = img.ID, img.ID
			tagged = append(tagged, strings.TrimPrefix(img.ID, "sha256:"))
		}
	}
	reproducible := c.Builder != "docker"
	normalize := func(data []byte) string {
		if reproducible {
			return string(data)
		}
		str := string(data)
		for _, id := range tagged {
			str = strings.ReplaceAll(str, id, "<tagged>")
		}
		return str
	}
	if !reproducible {
		for ref := range s.tags {
			s.tags[ref] = "<tagged>"
		}
	}
	entries, err := os.ReadDir(c.Dist)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "linux_") || name == ".slimage.lock" {
			continue
		}
		p := filepath.Join(c.Dist, name)
		if !e.IsDir() {
			data, _ := os.ReadFile(p)
			if strings.HasSuffix(name, ".staged.json") {
				var rec map[string]any
				json.Unmarshal(data, &rec)
				delete(rec, "Tree") // file times
				data, _ = json.Marshal(rec)
			}
			s.outputs[name] = normalize(data)
			continue
		}
		h := sha256.New()
		filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, _ := os.ReadFile(f)
			rel, _ := filepath.Rel(p, f)
			fmt.Fprintf(h, "%s\x00%s\x00", rel, normalize(data))
			return nil
		})
		s.outputs[name] = hex.EncodeToString(h.Sum(nil))
	}
	return s
}

func (s imageState) equal(o imageState) bool {
	return fmt.Sprint(s.outputs) == fmt.Sprint(o.outputs) && fmt.Sprint(s.tags) == fmt.Sprint(o.tags)
}

// interruptAt is a progress writer that cancels the run a delay after the
// image step it waits for begins (each step prints "image: <doing>" to
// progress before it starts).
type interruptAt struct {
	step   string
	after  time.Duration
	cancel context.CancelFunc
	mu     sync.Mutex
	seen   []string
}

func (w *interruptAt) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		doing, ok := strings.CutPrefix(l, "image: ")
		if !ok {
			continue
		}
		w.mu.Lock()
		w.seen = append(w.seen, doing)
		w.mu.Unlock()
		if strings.HasPrefix(doing, w.step) {
			if w.after == 0 {
				w.cancel()
			} else {
				time.AfterFunc(w.after, w.cancel)
			}
		}
	}
	return len(p), nil
}

// An interrupt at any moment of the image step, for either builder, leaves
// the previous complete result or the new one, never a mix: the build
// contexts, the OCI layout, the SBOMs, their records and the Docker tags
// change together or not at all. An interrupted run says at which step, and
// leaves no half-written folder and no image it loaded without its tag.
func TestInterruptedImageLeavesOldOrNew(t *testing.T) {
	cli := docker(t)
	testkit.HermeticGo(t)
	for _, tc := range []struct {
		builder   string
		platforms []config.Platform
		steps     []string
	}{
		{"oci", []config.Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}},
			[]string{"staging", "assembling", "connecting", "loading", "attesting", "writing the OCI layout", "writing the SBOMs", "committing"}},
		{"docker", nil,
			[]string{"staging", "connecting", "building", "attesting", "writing the SBOMs", "dropping", "committing"}},
	} {
		t.Run(tc.builder, func(t *testing.T) {
			dir := testkit.CopySample(t, "hello")
			c := sampleConfig(t, cli, dir, func(c *config.Config) { c.Builder, c.Platforms = tc.builder, tc.platforms })
			for _, b := range build.Tags(c) {
				t.Cleanup(func() { removeImage(cli, b.Ref) })
			}
			// The old result, kept to go back to before each interrupt.
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			if _, err := build.Build(context.Background(), c, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			old := readImageState(t, cli, c)
			keep := t.TempDir()
			testkit.Run(t, exec.Command("cp", "-a", c.Dist, filepath.Join(keep, "old")))
			// New sources, built once: each run stages their binaries.
			testkit.WriteFiles(t, dir, map[string]string{"zz_new.go": "package main\n\nvar _ = \"new sources\"\n\nfunc init() { _ = len(\"new\") }\n"})
			if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
				t.Fatal(err)
			}
			testkit.Run(t, exec.Command("cp", "-a", c.Dist, filepath.Join(keep, "built")))
			reset := func(newIDs map[string]string) {
				t.Helper()
				for _, id := range newIDs {
					cli.ImageRemove(context.Background(), id, client.ImageRemoveOptions{Force: true})
				}
				os.RemoveAll(c.Dist)
				testkit.Run(t, exec.Command("cp", "-a", filepath.Join(keep, "old"), c.Dist))
				for _, p := range c.Platforms {
					bin := gobuild.OutputPath(c, p)
					testkit.Run(t, exec.Command("cp", "-a", strings.Replace(bin, c.Dist, filepath.Join(keep, "built"), 1), bin))
				}
				for ref, id := range old.ids {
					if _, err := cli.ImageTag(context.Background(), client.ImageTagOptions{Source: id, Target: ref}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The new result, run to its end.
			reset(nil)
			if _, err := build.Build(context.Background(), c, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			want := readImageState(t, cli, c)
			if want.equal(old) {
				t.Fatal("the new sources gave the old result")
			}
			for _, step := range tc.steps {
				for _, after := range []time.Duration{0, 3 * time.Millisecond, 15 * time.Millisecond, 60 * time.Millisecond} {
					t.Run(fmt.Sprintf("%s+%s", strings.ReplaceAll(step, " ", "_"), after), func(t *testing.T) {
						reset(want.ids)
						ctx, cancel := context.WithCancel(context.Background())
						defer cancel()
						w := &interruptAt{step: step, after: after, cancel: cancel}
						_, err := build.Build(ctx, c, w, io.Discard)
						got := readImageState(t, cli, c)
						switch {
						case got.equal(old):
							t.Logf("old result: %v", err)
							if err == nil || !strings.HasPrefix(err.Error(), "image: interrupted while ") {
								t.Errorf("the run left the old result and returned %v, want image: interrupted while …", err)
							}
						case got.equal(want):
							t.Logf("new result")
							if err != nil {
								t.Errorf("the run left the new result and returned %v", err)
							}
						default:
							t.Errorf("a mix (steps seen: %v; error %v):\nold\n%snew\n%sgot\n%s", w.seen, err, old, want, got)
						}
						if leftovers, _ := filepath.Glob(filepath.Join(c.Dist, ".slimage-update-*")); len(leftovers) > 0 {
							t.Errorf("half-written outputs left behind: %v", leftovers)
						}
						if !got.equal(want) && tc.builder == "oci" { // Docker's builder keeps what it built, as docker build does
							for _, id := range want.ids {
								if _, err := cli.ImageInspect(context.Background(), id); err == nil {
									t.Errorf("image %.19s, loaded untagged by the interrupted run, is still in Docker", id)
								}
							}
						}
					})
				}
			}
		})
	}
}
